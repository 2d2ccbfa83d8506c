"""Camera-policy pieces: encoder registry (shapes, gradients, LeRobot names), DrQ random shift
(one offset per sample across its frames), and the shared image preprocessing (training's dataset
frames == the policy node's inference input on the same recorded frames)."""
from __future__ import annotations

import glob

import numpy as np
import pytest
import torch

from policy.act import ACT, ACTPolicyModule, act_loss
from policy.augment import apply_shift, random_shift, shift_offsets
from policy.base import make_backbone, registered_backbones
from policy.config import ACTConfig, WorkspaceConfig
from policy.dataset import LeRobotChunkDataset, decode_video
from policy.encoders import SpatialSoftmax, SpatialSoftmaxEncoder
from policy.inference import ACTPolicy
from policy.preprocess import prepare_image, resize_uint8, to_rgb
from policy.resnet import ResNet18

CAMS = ["observation.images.front", "observation.images.wrist"]


def act_config(backbone: str, h: int = 48, w: int = 64) -> ACTConfig:
    feats = {"observation.state": {"type": "STATE", "shape": [6]}}
    feats.update({c: {"type": "VISUAL", "shape": [3, h, w]} for c in CAMS})
    return ACTConfig(input_features=feats, output_features={"action": {"type": "ACTION", "shape": [6]}},
                     chunk_size=5, n_action_steps=5, dim_model=32, n_heads=4, dim_feedforward=64,
                     n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=4,
                     dropout=0.0, vision_backbone=backbone)


def test_registry_names_and_unknown_backbone():
    assert {"resnet18", "spatial_softmax"} <= set(registered_backbones())
    assert isinstance(make_backbone("resnet18", norm="frozen", dilate_last=False), ResNet18)
    with pytest.raises(ValueError, match="vision_backbone vgg is not implemented"):
        act_config("vgg")


def test_resnet18_keeps_lerobot_parameter_names():
    names = set(ACT(act_config("resnet18"), backbone_norm="frozen").state_dict())
    assert {"backbone.conv1.weight", "backbone.layer4.1.conv2.weight", "encoder_img_feat_input_proj.weight"} <= names
    assert ACT(act_config("resnet18")).encoder_img_feat_input_proj.in_channels == 512


def test_spatial_softmax_finds_the_peak():
    fmap = torch.full((1, 2, 12, 16), -10.0)
    fmap[0, 0, 0, 15] = 10.0   # top right
    fmap[0, 1, 11, 0] = 10.0   # bottom left
    kp = SpatialSoftmax()(fmap)[0]
    assert torch.allclose(kp, torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), atol=1e-3)


def test_spatial_softmax_encoder_shapes_and_gradients():
    enc = SpatialSoftmaxEncoder()
    x = torch.rand(3, 3, 48, 64, requires_grad=True)
    kp = enc.keypoints(x)
    assert kp.shape == (3, 16, 2) and kp.abs().max() <= 1.0
    out = enc.forward_features(x)
    assert out.shape == (3, enc.out_channels, 1, 1)
    out.sum().backward()
    assert enc.convs[0][0].weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_act_with_spatial_softmax_trains_its_encoder():
    cfg = act_config("spatial_softmax")
    model = ACT(cfg).train()
    assert model.encoder_img_feat_input_proj.in_channels == model.backbone.out_channels
    b = {"observation.state": torch.randn(4, 6), "action": torch.randn(4, 5, 6),
         "action_is_pad": torch.zeros(4, 5, dtype=torch.bool), **{c: torch.rand(4, 3, 48, 64) for c in CAMS}}
    pred, latent = model(b)
    assert pred.shape == (4, 5, 6)
    loss, _ = act_loss(cfg, pred, latent, b)
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("backbone.")]
    assert grads and all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_per_camera_encoders_tell_the_cameras_apart():
    cfg = act_config("spatial_softmax")
    model = ACT(cfg, camera_encoders="per_camera").eval()
    names = set(model.state_dict())
    assert not any(n.startswith("backbone.") for n in names)
    assert {"backbones.0.proj.weight", "backbones.1.proj.weight", "encoder_cam_embed.weight"} <= names
    assert model.backbones[0].proj.weight.data_ptr() != model.backbones[1].proj.weight.data_ptr()
    b = {"observation.state": torch.randn(2, 6), "observation.images.front": torch.rand(2, 3, 48, 64),
         "observation.images.wrist": torch.rand(2, 3, 48, 64)}
    swapped = dict(b, **{"observation.images.front": b["observation.images.wrist"],
                         "observation.images.wrist": b["observation.images.front"]})
    with torch.no_grad():
        # a shared one-token encoder sees a set {front, wrist}: swapping the images changes nothing
        shared = ACT(cfg).eval()
        assert torch.allclose(shared(b)[0], shared(swapped)[0], atol=1e-5)
        assert not torch.allclose(model(b)[0], model(swapped)[0], atol=1e-3)
    groups = ACTPolicyModule(cfg, WorkspaceConfig(camera_encoders="per_camera")).make_optimizer().param_groups
    assert len(groups) == 2 and len(groups[1]["params"]) == len(list(model.backbones.parameters()))


# --- augmentation --------------------------------------------------------------------------
def test_shift_is_a_translation_with_edge_padding():
    img = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8)
    same = apply_shift(img, torch.tensor([[2, 2], [2, 2]]), pad=2)
    assert torch.equal(same, img)                       # offset == pad: no shift
    moved = apply_shift(img, torch.tensor([[0, 4], [2, 2]]), pad=2)
    assert torch.equal(moved[0, :, 2:, :6], img[0, :, :4, 2:])   # down 2, left 2
    assert torch.equal(moved[0, :, 0], moved[0, :, 2]) and torch.equal(moved[0, :, 1], moved[0, :, 2])  # top edge
    assert torch.equal(moved[0, :, :, 6], moved[0, :, :, 7])     # replicated right edge
    assert torch.equal(moved[1], img[1])


def test_one_offset_per_sample_across_its_frames_and_cameras():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(8, 1, 3, 12, 16).expand(8, 4, 3, 12, 16).contiguous()  # 4 equal time steps
    batch = {CAMS[0]: frames, CAMS[1]: frames.clone(), "observation.state": torch.zeros(8, 6)}
    out = random_shift(batch, CAMS, pad=3, generator=g)
    a, b = out[CAMS[0]], out[CAMS[1]]
    assert torch.equal(a, b)                                      # same offset for both cameras
    assert all(torch.equal(a[:, t], a[:, 0]) for t in range(4))   # and for every time step
    assert not torch.equal(a, frames)                             # something moved
    assert out["observation.state"] is batch["observation.state"]
    assert len({tuple(o) for o in shift_offsets(64, 3, torch.Generator().manual_seed(1)).tolist()}) > 10
    per_cam = random_shift(batch, CAMS, pad=3, per_camera=True, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(per_cam[CAMS[0]], per_cam[CAMS[1]])
    assert all(torch.equal(per_cam[CAMS[1]][:, t], per_cam[CAMS[1]][:, 0]) for t in range(4))
    assert random_shift(batch, CAMS, pad=0) is batch


# --- preprocessing -------------------------------------------------------------------------
def test_resize_is_batch_independent_and_colour_order():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 48, 64, 3), dtype=np.uint8)
    batched = resize_uint8(frames, (24, 32))
    assert batched.dtype == np.uint8 and batched.shape == (5, 24, 32, 3)
    assert all(np.array_equal(batched[i], resize_uint8(frames[i], (24, 32))) for i in range(5))
    assert resize_uint8(frames, None) is frames
    first = frames[0]
    bgr = np.ascontiguousarray(first[:, :, ::-1])
    assert np.array_equal(to_rgb(bgr, "bgr8"), first) and to_rgb(first, "rgb8") is first
    with pytest.raises(ValueError, match="encoding"):
        to_rgb(first, "mono8")


def test_training_frames_equal_node_inference_input(tiny_dataset, tiny_checkpoint):
    """The same recorded frames: the training sample (dataset -> trainer's normalisation) and the
    policy's input built from the raw HxWx3 frame (what the node hands ACTPolicy) are equal."""
    policy = ACTPolicy.from_checkpoint(tiny_checkpoint / "checkpoints" / "last" / "pretrained_model")
    key = "observation.images.front"
    size = tuple(policy.cfg.input_features[key]["shape"][1:])
    data = LeRobotChunkDataset(tiny_dataset, policy.cfg.chunk_size, image_keys=[key], image_size=size)
    raw, _ = decode_video(sorted(glob.glob(str(tiny_dataset / "videos" / key / "*" / "*.mp4")))[0], None)
    assert raw.shape[1:3] != size  # the resize is exercised
    for i in (0, 7, 29):  # episode 0's rows are its video's frames
        item = data[i]
        node_in = policy._batch({"observation.state": item["observation.state"].numpy(), key: raw[i]})[key][0]
        train_in = policy.normalizer.normalize(key, item[key])
        assert torch.equal(node_in, train_in)
        assert torch.equal(prepare_image(raw[i], size), item[key])


def test_cropped_training_frames_equal_node_inference_input(tiny_dataset, tiny_cfg, tmp_path):
    """workspace.image_crop: the dataset's cached frames, its streamed frames and the policy's input
    from the raw frame are the same crop of the same pixels, and that crop is the box asked for."""
    from policy.config import TrainConfig
    from policy.train import train

    key = "observation.images.front"
    box = [0.25, 0.125, 0.5, 0.75]
    model_cfg, ws_cfg = tiny_cfg
    train(tiny_dataset, tmp_path / "run", model_cfg, {**ws_cfg, "image_crop": {key: box}},
          TrainConfig(steps=2, batch_size=4, log_every=1, save_every=1000, device="cpu"), progress=False)
    policy = ACTPolicy.from_checkpoint(tmp_path / "run" / "checkpoints" / "last" / "pretrained_model")
    assert policy.crops == {key: box}
    size = tuple(policy.cfg.input_features[key]["shape"][1:])
    raw, _ = decode_video(sorted(glob.glob(str(tiny_dataset / "videos" / key / "*" / "*.mp4")))[0], None)
    h, w = raw.shape[1:3]
    cut = raw[:, h // 4: h // 4 + h // 2, w // 8: w // 8 + 3 * w // 4]
    cached = LeRobotChunkDataset(tiny_dataset, 5, image_keys=[key], image_size=size, image_crop={key: box})
    streamed = LeRobotChunkDataset(tiny_dataset, 5, image_keys=[key], image_size=size, image_crop={key: box},
                                   cache_frames=False)
    for i in (0, 7, 29):
        node_in = policy._batch({"observation.state": cached[i]["observation.state"].numpy(), key: raw[i]})[key][0]
        assert torch.equal(node_in, policy.normalizer.normalize(key, cached[i][key]))
        assert torch.equal(cached[i][key], streamed[i][key])
        assert torch.equal(cached[i][key], prepare_image(cut[i], size))
        assert not torch.equal(cached[i][key], prepare_image(raw[i], size))
    with pytest.raises(ValueError, match="image_crop of front: crop box"):
        WorkspaceConfig(image_crop={"front": [0.5, 0.0, 0.6, 1.0]})
