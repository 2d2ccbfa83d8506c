"""Next-keyframe auxiliary: the targets (next gripper event per frame, never across episodes), the
dataset's target column, the head's gradient into the image encoder, its token, and a checkpoint
that keeps the head through training, saving and loading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.act import ACTPolicyModule
from policy.checkpoint import load_checkpoint
from policy.config import KEYFRAME, ACTConfig, TrainConfig, WorkspaceConfig
from policy.dataset import DatasetError, LeRobotChunkDataset
from policy.keyframes import KeyframeError, keyframe_dim, next_keyframe_index
from policy.train import train

CAMS = ["observation.images.front", "observation.images.wrist"]


def test_next_event_per_frame_within_its_episode():
    gripper = np.array([0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1], dtype=float)
    episode = np.array([0] * 7 + [1] * 4)
    # episode 0: closes at 2, opens at 5, then its last frame (6); episode 1 starts closed at 7
    # (an episode's first frame is no event), closes at 9, ends at 10
    assert next_keyframe_index(gripper, episode).tolist() == [2, 2, 2, 5, 5, 5, 6, 9, 9, 9, 10]


def test_keyframe_joint_by_name():
    names = ["shoulder_pan", "wrist_roll", "gripper"]
    assert keyframe_dim(names, "gripper") == 2
    assert keyframe_dim(["fr3_joint1", "fr3_finger_joint1"], "finger") == 1
    with pytest.raises(KeyframeError, match="names 2 of the actions"):
        keyframe_dim(["left_gripper", "right_gripper"], "gripper")


def test_dataset_gives_the_action_at_the_next_event(tiny_dataset):
    data = LeRobotChunkDataset(tiny_dataset, 5, image_keys=[], keyframe_joint="gripper")
    ep = data.frames["episode_index"].to_numpy()
    expected = next_keyframe_index(data.action[:, -1], ep)
    for i in (0, 7, len(data) - 1):
        assert torch.equal(data[i][KEYFRAME], torch.from_numpy(data.action[expected[i]]))
        assert ep[expected[i]] == ep[i] and expected[i] >= i
    with pytest.raises(DatasetError, match="keyframe_joint 'tool'"):
        LeRobotChunkDataset(tiny_dataset, 5, image_keys=[], keyframe_joint="tool")


def _module(token: bool) -> ACTPolicyModule:
    feats = {"observation.state": {"type": "STATE", "shape": [6]}}
    feats.update({c: {"type": "VISUAL", "shape": [3, 48, 64]} for c in CAMS})
    cfg = ACTConfig(input_features=feats, output_features={"action": {"type": "ACTION", "shape": [6]}},
                    chunk_size=5, n_action_steps=5, dim_model=32, n_heads=4, dim_feedforward=64,
                    n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=4,
                    dropout=0.0, vision_backbone="spatial_softmax")
    ws = WorkspaceConfig(camera_encoders="per_camera", keyframe_weight=1.0, keyframe_token=token)
    return ACTPolicyModule(cfg, ws)


def _batch() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"observation.state": torch.randn(4, 6), "action": torch.randn(4, 5, 6),
            "action_is_pad": torch.zeros(4, 5, dtype=torch.bool), KEYFRAME: torch.randn(4, 6),
            **{c: torch.rand(4, 3, 48, 64) for c in CAMS}}


def test_keyframe_loss_reaches_every_camera_encoder():
    module = _module(token=False).train()
    _, info = module(_batch())
    assert info["keyframe_loss"] > 0
    # the keyframe term alone: its gradient reaches both cameras' convolutions
    _, _, keyframe = module.model(_batch(), with_keyframe=True)
    torch.nn.functional.l1_loss(keyframe, _batch()[KEYFRAME]).backward()
    for i in range(2):
        assert module.model.backbones[i].convs[0][0].weight.grad.abs().sum() > 0


def test_keyframe_token_feeds_the_action_chunk():
    module = _module(token=True).eval()
    batch = _batch()
    before = module.predict_chunk(batch)
    with torch.no_grad():
        module.model.keyframe_head[-1].bias.add_(1.0)
    assert not torch.allclose(before, module.predict_chunk(batch))
    without = _module(token=False).eval()
    assert not hasattr(without.model, "encoder_keyframe_input_proj")


def test_trained_checkpoint_keeps_the_head(tiny_dataset, tiny_cfg, tmp_path):
    model_cfg, ws_cfg = tiny_cfg
    ws_cfg = {**ws_cfg, "keyframe_weight": 1.0, "keyframe_token": True}
    train(tiny_dataset, tmp_path / "run", model_cfg, ws_cfg,
          TrainConfig(steps=6, batch_size=4, log_every=3, save_every=1000, device="cpu"), progress=False)
    header = (tmp_path / "run" / "losses.csv").read_text().splitlines()[0]
    assert "keyframe_loss" in header
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last" / "pretrained_model")
    assert ck.workspace.keyframe_weight == 1.0 and ck.workspace.keyframe_token
    names = set(ck.policy.state_dict())
    assert {"model.keyframe_head.0.weight", "model.encoder_keyframe_input_proj.weight"} <= names


def test_teacher_forcing_feeds_the_recorded_keyframe_in_training_only():
    module = _module(token=True)
    module.model.keyframe_teacher_noise = 0.0
    batch = _batch()
    module.train()
    torch.manual_seed(1)
    a = module.model(batch)[0]
    with torch.no_grad():
        module.model.keyframe_head[-1].bias.add_(1.0)  # the head's prediction changes...
    torch.manual_seed(1)
    assert torch.allclose(a, module.model(batch)[0])  # ...the training chunk does not: it reads the recording
    other = dict(batch, **{KEYFRAME: batch[KEYFRAME] + 1.0})
    torch.manual_seed(1)
    assert not torch.allclose(a, module.model(other)[0])
    module.eval()  # inference: the head's prediction, whatever the batch holds
    assert torch.allclose(module.predict_chunk(batch), module.predict_chunk(other))
