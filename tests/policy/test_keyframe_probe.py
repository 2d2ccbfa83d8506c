"""tools.keyframe_probe on a checkpoint with a keyframe head: real sim resets and renders, real
inference; the figures are there and finite for both poses, and a checkpoint without the head gets
a clear refusal."""
from __future__ import annotations

import math

import pytest

from policy.config import TrainConfig
from tools.keyframe_probe import main, probe

MODEL = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 32, "n_heads": 4, "dim_feedforward": 64,
         "n_encoder_layers": 1, "n_decoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 4,
         "dropout": 0.0, "vision_backbone": "spatial_softmax"}


@pytest.fixture(scope="module")
def keyframe_checkpoint(tmp_path_factory, so101_dataset):
    from policy.train import train

    root = tmp_path_factory.mktemp("kf")
    ws = {"image_size": [32, 32], "backbone_norm": "batch", "keyframe_weight": 1.0, "keyframe_token": True,
          "image_crop": {"observation.images.front": [0.25, 0.0625, 0.5, 0.5]}}
    train(so101_dataset, root / "run", dict(MODEL), ws,
          TrainConfig(steps=4, batch_size=4, log_every=2, save_every=1000, device="cpu"), progress=False)
    return root / "run" / "checkpoints" / "last" / "pretrained_model"


def test_probe_reports_both_poses(keyframe_checkpoint, tmp_path, capsys):
    res = probe(keyframe_checkpoint, episodes=2)
    assert set(res) == {"start", "pregrasp"}
    for r in res.values():
        assert r["episodes"] == 2 and 0 <= r["within_5mm"] <= 2
        assert all(math.isfinite(r[k]) and r[k] >= 0 for k in ("median_mm", "max_mm", "median_joint_rad"))
        assert r["max_mm"] >= r["median_mm"]
    assert main([str(keyframe_checkpoint), "--episodes", "1", "--json", str(tmp_path / "kf.json")]) == 0
    assert "grasp point error" in capsys.readouterr().out and (tmp_path / "kf.json").is_file()


def test_probe_refuses_a_checkpoint_without_the_head(so101_checkpoint):
    with pytest.raises(SystemExit, match="has no keyframe head"):
        probe(so101_checkpoint / "checkpoints" / "last" / "pretrained_model", episodes=1)
