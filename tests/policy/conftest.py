"""Fixtures for cross-package policy tests: a briefly trained so101 checkpoint (camera 'front')."""
from __future__ import annotations

import pytest
import torch

from policy.config import TrainConfig
from policy.synthetic_dataset import write_dataset
from robot_common.spec import load_robot_spec

SMALL_MODEL = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 64, "n_heads": 4, "dim_feedforward": 128,
               "n_encoder_layers": 2, "n_decoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 8,
               "dropout": 0.0, "optimizer_lr": 2e-3, "optimizer_lr_backbone": 2e-3}


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # a shared 2-core machine: oversubscribed OpenMP threads crawl


@pytest.fixture(scope="session")
def so101_dataset(tmp_path_factory):
    """A synthetic so101 dataset (joint names, camera 'front', 2 episodes of 30 frames)."""
    spec = load_robot_spec("so101")
    return write_dataset(tmp_path_factory.mktemp("so101ds") / "ds", episodes=2, frames=30, dim=6, cameras=("front",),
                         height=48, width=64, joint_names=spec.joint_names + [spec.gripper.joint])


@pytest.fixture(scope="session")
def so101_checkpoint(tmp_path_factory, so101_dataset):
    from policy.train import train

    root = tmp_path_factory.mktemp("policy")
    train(so101_dataset, root / "run", dict(SMALL_MODEL), {"image_size": [32, 32], "backbone_norm": "batch"},
          TrainConfig(steps=20, batch_size=8, log_every=10, save_every=1000, device="cpu"), progress=False)
    return root / "run"
