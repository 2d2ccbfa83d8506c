"""The policy seam: a second policy type (tests/policy/mlp_policy.py, an MLP over two observation
steps) registered by a plugin goes through `policy train`, checkpoint save/load, resume, the
inference runner, the controller's observation history and the policy node over DDS."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, ros_env, wait_for

PLUGIN = str(Path(__file__).with_name("mlp_policy.py"))
STATE_KEY = "observation.state"


@pytest.fixture(scope="module")
def names() -> list[str]:
    spec = load_robot_spec("so101")
    return spec.joint_names + [spec.gripper.joint]


@pytest.fixture(scope="module")
def state_dataset(tmp_path_factory, names):
    from policy.synthetic_dataset import write_dataset

    return write_dataset(tmp_path_factory.mktemp("mlp") / "ds", episodes=2, frames=30, dim=6, cameras=(),
                         joint_names=names)


def _config(path: Path, steps: int) -> Path:
    path.write_text(yaml.safe_dump({
        "model": {"type": "mlp_test", "n_obs_steps": 2, "chunk_size": 5, "n_action_steps": 5, "hidden_dim": 64},
        "workspace": {"cameras": []},
        "train": {"steps": steps, "batch_size": 8, "log_every": 10, "save_every": 40, "device": "cpu",
                  "torch_threads": 1},
    }))
    return path


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, state_dataset):
    from policy.train_cli import main as train_main

    root = tmp_path_factory.mktemp("mlp_run")
    out = root / "run"
    args = ["--dataset", str(state_dataset), "--output", str(out), "--config", str(_config(root / "mlp.yaml", 60)),
            "--plugin", PLUGIN, "--no-progress"]
    assert train_main(args) == 0
    return out


def test_dataset_gives_observation_history(state_dataset):
    from policy.dataset import LeRobotChunkDataset

    one = LeRobotChunkDataset(state_dataset, 5)
    two = LeRobotChunkDataset(state_dataset, 5, n_obs_steps=3)
    assert one[4][STATE_KEY].shape == (6,) and STATE_KEY + "_is_pad" not in one[4]
    item = two[4]
    assert item[STATE_KEY].shape == (3, 6)
    torch.testing.assert_close(item[STATE_KEY][0], one[2][STATE_KEY])   # frames t-2, t-1, t
    torch.testing.assert_close(item[STATE_KEY][2], one[4][STATE_KEY])
    assert item[STATE_KEY + "_is_pad"].tolist() == [False, False, False]
    start = two[30]   # first frame of the second episode: earlier frames repeat it, never episode 1's
    assert start[STATE_KEY + "_is_pad"].tolist() == [True, True, False]
    for k in range(3):
        torch.testing.assert_close(start[STATE_KEY][k], one[30][STATE_KEY])


def test_plugin_policy_trains_saves_and_loads(mlp_run):
    from policy.checkpoint import load_checkpoint

    ckpt = mlp_run / "checkpoints" / "last" / "pretrained_model"
    cfg = json.loads((ckpt / "config.json").read_text())
    assert cfg["type"] == "mlp_test" and cfg["n_obs_steps"] == 2 and cfg["hidden_dim"] == 64
    rows = list(csv.DictReader(open(mlp_run / "losses.csv")))
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    ck = load_checkpoint(mlp_run)
    assert type(ck.policy).__name__ == "MLPPolicy" and ck.policy.n_obs_steps == 2
    assert (mlp_run / "checkpoints" / "last" / "training_state.safetensors").is_file()
    assert not list(mlp_run.rglob("*.pt"))


def test_plugin_policy_resumes(mlp_run, tmp_path, state_dataset):
    import shutil

    from policy.train_cli import main as train_main
    from policy.training_state import load_training_state

    out = tmp_path / "run"
    shutil.copytree(mlp_run, out, symlinks=True)
    before = load_training_state(out / "checkpoints" / "last")
    assert before["step"] == 60
    args = ["--dataset", str(state_dataset), "--output", str(out), "--config", str(_config(tmp_path / "m.yaml", 80)),
            "--plugin", PLUGIN, "--no-progress", "--resume"]
    assert train_main(args) == 0
    after = load_training_state(out / "checkpoints" / "last")
    assert after["step"] == 80 and [r["step"] for r in after["losses"]] == [10, 20, 30, 40, 50, 60, 70, 80]
    step0 = after["optimizer"]["state"][0]["step"]
    assert float(step0) == 80.0   # Adam's step count continued from the restored 60


def test_runner_uses_the_history(mlp_run):
    from policy.inference import ObservationError, PolicyRunner

    runner = PolicyRunner.from_checkpoint(mlp_run)
    assert runner.policy_type == "mlp_test" and runner.n_obs_steps == 2 and runner.chunk_size == 5
    rng = np.random.default_rng(0)
    s0, s1 = rng.normal(size=6).astype(np.float32), rng.normal(size=6).astype(np.float32)
    chunk = runner.predict_chunk({STATE_KEY: np.stack([s0, s1])})
    assert chunk.shape == (5, 6)
    # by hand: normalise both steps, run the MLP, unnormalise
    norm = runner.normalizer
    x = norm.normalize(STATE_KEY, torch.from_numpy(np.stack([s0, s1]))).reshape(1, -1)
    with torch.no_grad():
        expected = norm.unnormalize("action", runner.module.net(x).view(5, 6)).numpy()
    np.testing.assert_allclose(chunk, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(chunk, runner.predict_chunk({STATE_KEY: np.stack([s1, s1])}))
    with pytest.raises(ObservationError, match="n_obs_steps=2"):
        runner.predict_chunk({STATE_KEY: s1})
    runner.reset()   # select_action keeps the history: the first call sees [s0, s0], the second [s0, s1]
    np.testing.assert_allclose(runner.select_action({STATE_KEY: s0}),
                               runner.predict_chunk({STATE_KEY: np.stack([s0, s0])})[0], rtol=1e-5)


def test_controller_stacks_ticks(mlp_run, names):
    from policy.controller import ControlParams, PolicyController
    from policy.inference import PolicyRunner

    spec = load_robot_spec("so101")
    t = {"now": 100.0}
    ctl = PolicyController(spec, PolicyRunner.from_checkpoint(mlp_run), ControlParams(),
                           clock=lambda: t["now"])
    ctl._ensure_worker = lambda: None   # no worker thread: the test reads the buffer itself
    q = [np.r_[spec.home + 0.01 * k, 0.5] for k in range(3)]
    ctl.on_joint_state(dict(zip(names, q[0])), t["now"])
    assert ctl.start()[0]
    obs = ctl.obs.snapshot(ctl.image_keys, ctl.vector_keys, ctl.env_key)
    np.testing.assert_allclose(obs[STATE_KEY], np.stack([q[0], q[0]]))   # before a tick: the frame repeated
    for k in (1, 2):
        ctl.tick()
        t["now"] += ctl.dt
        ctl.on_joint_state(dict(zip(names, q[k])), t["now"])
    ctl.tick()   # recorded q[0] then q[1] then q[2]; the history holds the last two ticks
    obs = ctl.obs.snapshot(ctl.image_keys, ctl.vector_keys, ctl.env_key)
    np.testing.assert_allclose(obs[STATE_KEY], np.stack([q[1], q[2]]))
    assert ctl.policy.predict_chunk(obs).shape == (5, 6)
    ctl.shutdown()


@pytest.mark.timeout(600)
def test_node_runs_the_plugin_policy_over_dds(mlp_run, tmp_path, names):
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import make_joint_state

    spec = load_robot_spec("so101")
    env = {**ros_env(), "POLICY_PLUGINS": PLUGIN}
    ckpt = mlp_run / "checkpoints" / "last" / "pretrained_model"
    cmd = python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p", f"checkpoint:={ckpt}",
                            "-p", "torch_threads:=1")
    node = NodeProcess(cmd, tmp_path / "node.log", env=env)
    try:
        with ProbeNode("policy_plugin_probe") as probe:
            pub_js = probe.node.create_publisher(JointState, "/joint_states", 10)
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            probe.node.create_timer(1 / 30, lambda: pub_js.publish(make_joint_state(names, np.r_[spec.home, 0.5])))
            reply = probe.call_until(Trigger, "/policy/start", timeout=120)
            assert reply.success, reply.message + node.log()
            wait_for(lambda: sum(len(m.points) > 1 for _, m in trajs) >= 10, timeout=60, what="10 trajectories")
        assert node.alive, node.log()
        assert "mlp_test from" in node.log()
    finally:
        node.stop()
    # without the plugin the node refuses the checkpoint with a one-line reason, exit 2
    bare = {k: v for k, v in ros_env().items() if k != "POLICY_PLUGINS"}
    node = NodeProcess(cmd, tmp_path / "bare.log", env=bare)
    try:
        wait_for(lambda: not node.alive, timeout=60, what="the node to exit")
        assert node.proc.returncode == 2, node.log()
        assert "mlp_test" in node.log() and "Traceback" not in node.log()
    finally:
        node.stop()


def test_train_calls_the_loggers(state_dataset, tmp_path):
    from policy.base import load_plugins
    from policy.config import TrainConfig
    from policy.train import train

    class Recorder:
        def __init__(self) -> None:
            self.logs: list[tuple[int, dict]] = []
            self.closed = 0

        def log(self, step: int, metrics: dict[str, float]) -> None:
            self.logs.append((step, dict(metrics)))

        def close(self) -> None:
            self.closed += 1

    load_plugins([PLUGIN])
    rec = Recorder()
    model = {"type": "mlp_test", "n_obs_steps": 2, "chunk_size": 5, "n_action_steps": 5, "optimizer_lr": 2e-3}
    train(state_dataset, tmp_path / "run", model, {"cameras": []},
          TrainConfig(steps=12, batch_size=4, log_every=5, save_every=1000, device="cpu"), progress=False,
          loggers=[rec])
    assert [s for s, _ in rec.logs] == [5, 10, 12] and rec.closed == 1
    for _, m in rec.logs:
        assert set(m) == {"loss", "mse_loss", "lr", "samples_per_s"}
        assert m["lr"] == 2e-3 and m["samples_per_s"] > 0 and m["loss"] > 0
    assert (tmp_path / "run" / "loss.png").is_file()
