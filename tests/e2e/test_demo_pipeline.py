"""The main job, shortened: every stage runs for real (DDS nodes, MuJoCo, rosbag2, LeRobot v3.0,
ACT training, the policy node) and leaves a valid artifact. The success rate is not asserted here:
a few training steps cannot learn the task; `make demo` reports it."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robot_common.spec import load_robot_spec
from robot_common.testing import ros_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1500)  # the module fixture runs the whole shortened pipeline


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    res = subprocess.run([sys.executable, "-m", "tools.demo", "--quick", "--out", str(out),
                          "--policy-param", "trajectory_points=4"], cwd=ROOT,
                         env=ros_env(), capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return out


def test_bags_are_readable_and_complete(demo_out):
    from rosbags.highlevel import AnyReader

    episodes = sorted((demo_out / "bags").glob("episode_*"))
    assert len(episodes) == 2
    for ep in episodes:
        meta = yaml.safe_load((ep / "episode.yaml").read_text())
        assert meta["status"] == "complete" and meta["success"] is True and meta["robot_type"] == "so101"
        with AnyReader([ep]) as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
        for topic in ("/joint_states", "/leader/joint_states", "/cameras/front/image_raw", "/cameras/wrist/image_raw"):
            assert counts.get(topic, 0) > 10, f"{ep.name}: {topic} has {counts.get(topic, 0)} messages"


def test_dataset_validates(demo_out):
    from bag_to_dataset.validate import validate_dataset

    assert validate_dataset(demo_out / "dataset") == []
    info = json.loads((demo_out / "dataset" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2 and info["robot_type"] == "so101"
    assert {"observation.state", "action", "observation.images.front", "observation.images.wrist"} <= set(info["features"])


def test_checkpoint_loads_and_predicts(demo_out):
    import pandas as pd

    from policy.inference import ACTPolicy

    policy = ACTPolicy.from_checkpoint(demo_out / "train" / "checkpoints" / "last" / "pretrained_model")
    spec = load_robot_spec("so101")
    # the demo policy reads the cube's pose (environment state); feed it a recorded frame
    assert policy.ckpt.workspace.env_state_keys == ["observation.pose.object"]
    row = pd.read_parquet(next((demo_out / "dataset" / "data").rglob("*.parquet"))).iloc[0]
    obs = {"observation.state": np.asarray(row["observation.state"], np.float32),
           "observation.environment_state": np.asarray(row["observation.pose.object"], np.float32)}
    for key in policy.image_keys:
        obs[key] = np.zeros((96, 128, 3), np.uint8)
    chunk = policy.predict_chunk(obs)
    assert chunk.shape == (policy.cfg.chunk_size, spec.dof + 1) and np.all(np.isfinite(chunk))
    assert (demo_out / "train" / "loss.png").stat().st_size > 0


def test_policy_node_commands_stay_within_limits_and_caps(demo_out):
    summary = json.loads((demo_out / "eval.json").read_text())
    assert summary["policy_commands"] > 20
    assert summary["policy_out_of_limit_points"] == 0
    spec = load_robot_spec("so101")
    cap = 0.5 * float(spec.max_velocity.max()) / 30.0  # policy node: velocity_scale 0.5 at 30 Hz
    assert summary["policy_max_step_between_commands"] <= cap * 1.05
    assert len(summary["success"]["ACT policy"]) == 2


def test_report_and_video(demo_out):
    import av

    assert "| ACT policy |" in (demo_out / "report.md").read_text()
    assert (demo_out / "success.png").stat().st_size > 0
    with av.open(str(demo_out / "rollout.mp4")) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames > 10


def test_policy_params_reach_the_evaluated_node(demo_out):
    from tools.demo import node_params

    assert node_params(["execution=chunk", "n_action_steps=10", "velocity_scale=0.25"]) == {
        "execution": "chunk", "n_action_steps": 10, "velocity_scale": 0.25}
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        node_params(["execution"])
    with pytest.raises(SystemExit, match="set by the demo"):
        node_params(["checkpoint=/elsewhere"])
    # the quick run's --policy-param trajectory_points=4: the node's commands have 4 points (the
    # default is 5; a hold is a single point)
    log = (demo_out / "logs" / "eval" / "policy.log").read_text()
    assert "policy started" in log
    summary = json.loads((demo_out / "eval.json").read_text())
    assert max(summary["policy_points_per_trajectory"]) == 4
