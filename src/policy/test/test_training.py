"""Training: the model overfits a tiny dataset; `policy train` resumes; decoder depth is honest."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from policy.act import ACT, act_loss
from policy.checkpoint import load_checkpoint
from policy.config import ACTION, ACTConfig
from policy.dataset import DatasetError, LeRobotChunkDataset, read_meta
from policy.train_cli import main as train_main
from policy.training_state import load_training_state


def _eval_l1(model: ACT, normalizer, dataset) -> float:
    model.eval()
    losses = []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=16):
            batch = normalizer.normalize_batch(batch)
            pred, latent = model(batch)
            losses.append(act_loss(model.config, pred, latent, batch)[1]["l1_loss"])
    return float(np.mean(losses))


@pytest.mark.timeout(900)  # ~20 s on an idle 2-core machine; generous for a loaded one
def test_model_overfits_tiny_dataset(tmp_path, tiny_dataset, tiny_cfg):
    from policy.config import TrainConfig
    from policy.train import train

    run = tmp_path / "overfit"
    train(tiny_dataset, run, *tiny_cfg,
          TrainConfig(steps=150, batch_size=8, log_every=10, save_every=1000, device="cpu"), progress=False)
    ck = load_checkpoint(run)
    data = LeRobotChunkDataset(tiny_dataset, ck.config.chunk_size, image_keys=ck.config.image_features,
                               image_size=(32, 32))
    rows = list(csv.DictReader(open(run / "losses.csv")))
    # the trainer's loss (L1 + kl_weight * KL), first 10 steps vs last 10
    assert float(rows[-1]["loss"]) < 0.1 * float(rows[0]["loss"]), (rows[0], rows[-1])
    # and what inference sees (eval mode, zero latent): far better than the untrained network
    torch.manual_seed(0)
    untrained = ACT(ck.config, backbone_norm=ck.workspace.backbone_norm)
    before, after = _eval_l1(untrained, ck.normalizer, data), _eval_l1(ck.model, ck.normalizer, data)
    assert after < 0.25 * before, (before, after)
    assert (run / "loss.png").stat().st_size > 1000


def test_train_cli_resumes(tmp_path, tiny_dataset):
    out = tmp_path / "run"
    common = ["--dataset", str(tiny_dataset), "--output", str(out), "--config", "act_demo", "--no-progress",
              "--batch-size", "2", "--set", "model.chunk_size=5", "--set", "model.n_action_steps=5",
              "--set", "model.dim_model=32",
              "--set", "model.dim_feedforward=64", "--set", "model.n_heads=2", "--set", "workspace.image_size=[32,32]",
              "--set", "train.save_every=2", "--set", "train.log_every=1", "--set", "train.torch_threads=1"]
    assert train_main(common + ["--steps", "3"]) == 0
    assert (out / "checkpoints" / "000002" / "pretrained_model" / "model.safetensors").is_file()
    assert train_main(common + ["--steps", "3"]) == 2  # refuses to overwrite without --resume
    assert train_main(common + ["--steps", "5", "--resume"]) == 0
    assert (out / "checkpoints" / "last").resolve().name == "000005"
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "losses.csv"))]
    assert steps == [1, 2, 3, 4, 5]
    state = load_training_state(out / "checkpoints" / "last")
    assert state["step"] == 5 and state["optimizer"]["state"]


def test_decoder_uses_every_layer():
    feats = {"observation.state": {"type": "STATE", "shape": [3]}}
    cfg = ACTConfig(input_features=feats, output_features={ACTION: {"type": "ACTION", "shape": [3]}},
                    chunk_size=4, n_action_steps=4, dim_model=32, n_heads=2, dim_feedforward=64,
                    n_decoder_layers=3, dropout=0.0)
    model = ACT(cfg).eval()
    assert len(model.decoder.layers) == 3
    batch = {"observation.state": torch.randn(2, 3)}
    before = model(batch)[0]
    with torch.no_grad():
        model.decoder.layers[2].linear2.weight.mul_(2.0)  # the last layer must influence the output
    assert not torch.allclose(before, model(batch)[0])


def test_dataset_errors_are_specific(tmp_path, tiny_dataset):
    with pytest.raises(DatasetError, match="info.json is missing"):
        read_meta(tmp_path)
    meta = read_meta(tiny_dataset)
    assert meta.names("action")[-1] == "gripper"
    data = LeRobotChunkDataset(tiny_dataset, 10, image_size=(48, 64))
    item = data[len(data) - 3]  # near the end of the last episode: padded chunk
    assert item["action_is_pad"].tolist() == [False] * 3 + [True] * 7
    torch.testing.assert_close(item[ACTION][3], item[ACTION][2])  # padding repeats the last action
    # the image at a frame is the frame the writer drew there (square position encodes the phase)
    assert data[0]["observation.images.front"].shape == (3, 48, 64)


def test_cosine_schedule_decays_to_zero_and_resumes(tmp_path, tiny_dataset):
    from policy.train import cosine_schedule

    out = tmp_path / "cos"
    common = ["--dataset", str(tiny_dataset), "--output", str(out), "--config", "act_demo", "--no-progress",
              "--batch-size", "2", "--set", "model.chunk_size=5", "--set", "model.n_action_steps=5",
              "--set", "model.dim_model=32", "--set", "model.dim_feedforward=64", "--set", "model.n_heads=2",
              "--set", "workspace.image_size=[32,32]", "--set", "train.save_every=2", "--set", "train.log_every=1",
              "--set", "train.torch_threads=1", "--set", "train.lr_schedule=cosine", "--steps", "4"]
    assert train_main(common) == 0
    half = load_training_state(out / "checkpoints" / "000002")
    end = load_training_state(out / "checkpoints" / "000004")
    lr0 = half["scheduler"]["base_lrs"][0]
    assert half["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr0 * 0.5)   # cos(pi/2): half way
    assert end["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    # a resumed run continues the same curve: from step 2 to 4 again gives the same end lr
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in half["scheduler"]["base_lrs"]],
                          lr=lr0)
    sched = cosine_schedule(opt, 4)
    sched.load_state_dict(half["scheduler"])
    opt.step(), sched.step(), opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="lr_schedule must be constant or cosine"):
        from policy.config import TrainConfig
        TrainConfig(lr_schedule="step")
