"""`policy train` on the output of bag_to_dataset's converter, then inference from the checkpoint."""
from __future__ import annotations

import numpy as np
import pytest

from bag_to_dataset import convert
from bag_to_dataset.synthetic import write_session
from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec


@pytest.mark.timeout(600)
def test_train_few_steps_on_converted_dataset(tmp_path):
    from policy.inference import ACTPolicy
    from policy.train_cli import main as train_main

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    write_session(tmp_path / "s", 2, names, robot="so101", task="pick", duration=1.5,
                  cameras={"front": (64, 48), "wrist": (64, 48)})
    assert convert([tmp_path / "s"], config_dir("dataset") / "sim.yaml", tmp_path / "ds", progress=False).ok
    rc = train_main(["--dataset", str(tmp_path / "ds"), "--output", str(tmp_path / "run"), "--config", "act_demo",
                     "--steps", "4", "--batch-size", "4", "--no-progress", "--set", "workspace.image_size=[32,32]",
                     "--set", "model.dim_model=64", "--set", "model.dim_feedforward=128",
                     "--set", "train.torch_threads=1"])
    assert rc == 0
    policy = ACTPolicy.from_checkpoint(tmp_path / "run")
    assert policy.image_keys == ["observation.images.front", "observation.images.wrist"]
    assert policy.ckpt.workspace.action_names == names
    policy.reset()
    obs = {"observation.state": np.r_[spec.home, 0.5].astype(np.float32),
           "observation.images.front": np.zeros((48, 64, 3), np.uint8),
           "observation.images.wrist": np.zeros((48, 64, 3), np.uint8)}
    actions = [policy.select_action(obs) for _ in range(3)]
    assert all(a.shape == (6,) and np.all(np.isfinite(a)) for a in actions)
