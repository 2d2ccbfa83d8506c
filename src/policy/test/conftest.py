"""Shared fixtures: a tiny LeRobot v3.0 dataset (real parquet + mp4) and a briefly trained checkpoint."""
from __future__ import annotations

import pytest
import torch

from policy.config import TrainConfig
from policy.synthetic_dataset import write_dataset
from robot_common.spec import load_robot_spec

TINY_MODEL = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 64, "n_heads": 4, "dim_feedforward": 128,
              "n_encoder_layers": 2, "n_decoder_layers": 2, "n_vae_encoder_layers": 1, "latent_dim": 8,
              "dropout": 0.0, "optimizer_lr": 2e-3, "optimizer_lr_backbone": 2e-3}
TINY_WS = {"image_size": [32, 32], "backbone_norm": "batch"}


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    torch.set_num_threads(1)  # the machine is shared; one thread each keeps the suite polite


@pytest.fixture(scope="session")
def tiny_cfg() -> tuple[dict, dict]:
    """(model, workspace) settings of the tiny test model; a fixture, because `import conftest`
    is ambiguous when the whole workspace's tests run in one session."""
    return dict(TINY_MODEL), dict(TINY_WS)


@pytest.fixture(scope="session")
def so101_names() -> list[str]:
    spec = load_robot_spec("so101")
    return spec.joint_names + [spec.gripper.joint]


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, so101_names):
    return write_dataset(tmp_path_factory.mktemp("ds") / "tiny", episodes=2, frames=30, dim=6, cameras=("front",),
                         height=48, width=64, joint_names=so101_names)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_dataset):
    """A checkpoint briefly trained on tiny_dataset (so101 joint names, camera 'front')."""
    from policy.train import train

    out = tmp_path_factory.mktemp("run") / "tiny"
    train(tiny_dataset, out, dict(TINY_MODEL), dict(TINY_WS),
          TrainConfig(steps=20, batch_size=8, log_every=10, save_every=1000, device="cpu"), progress=False)
    return out
