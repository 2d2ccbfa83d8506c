"""`bag_to_dataset view --save`: a bag recorded with the sim (scripted expert through the teleop
node, the recorder's MCAP writer) and the dataset converted from it, written to .rrd and read
back with rerun's own reader: every stream is there with the bag's message counts and times, and
every dataset feature with the episode's frame count and values."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bag_to_dataset.view_cli import main as view_main
from robot_common.testing import ros_env

from .rrd import rrd_columns

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)

# where each recorded message type shows up: (entity below the topic, component column)
SHOWN = {
    "sensor_msgs/msg/JointState": [("/position", "Scalars:scalars"), ("/velocity", "Scalars:scalars")],
    "sensor_msgs/msg/Image": [("", "Image:buffer")],
    "sensor_msgs/msg/CameraInfo": [("", "Pinhole:image_from_camera")],
    "std_msgs/msg/Float64MultiArray": [("", "Scalars:scalars")],
    "trajectory_msgs/msg/JointTrajectory": [("/positions", "Scalars:scalars")],
    "geometry_msgs/msg/WrenchStamped": [("/force", "Scalars:scalars"), ("/torque", "Scalars:scalars")],
    "geometry_msgs/msg/PoseStamped": [("", "InstancePoses3D:translations"), ("/position", "Scalars:scalars")],
    "std_msgs/msg/Bool": [("/data", "Scalars:scalars")],
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two demonstrations recorded in the sim and their converted dataset (tools.demo's stages)."""
    out = tmp_path_factory.mktemp("view_demo")
    res = subprocess.run([sys.executable, "-m", "tools.demo", "--quick", "--stages", "record,convert", "--out",
                          str(out)], cwd=ROOT, env=ros_env(), capture_output=True, text=True, timeout=540)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def _bag_truth(bag: Path) -> dict[str, dict]:
    from rosbags.highlevel import AnyReader

    truth: dict[str, dict] = {}
    with AnyReader([bag]) as reader:
        for conn, t, raw in reader.messages():
            entry = truth.setdefault(conn.topic, {"type": conn.msgtype, "log": [], "stamp": []})
            entry["log"].append(t)
            if conn.msgtype in ("sensor_msgs/msg/JointState", "geometry_msgs/msg/WrenchStamped"):
                h = reader.deserialize(raw, conn.msgtype).header
                entry["stamp"].append(h.stamp.sec * 1_000_000_000 + h.stamp.nanosec)
    return truth


def test_a_recorded_bag_saved_as_rrd_holds_every_stream(recorded, tmp_path, capsys):
    bag = sorted((recorded / "bags").glob("episode_*"))[0]
    out = tmp_path / "bag.rrd"
    assert view_main([str(bag), "--save", str(out)]) == 0
    assert f"{out}: 13 streams" in capsys.readouterr().out
    cols = rrd_columns(out)
    truth = _bag_truth(bag)
    assert set(t["type"] for t in truth.values()) == set(SHOWN)   # the sim setup records these types
    for topic, t in truth.items():
        log = np.sort(np.asarray(t["log"], dtype=np.int64))
        for sub, component in SHOWN[t["type"]]:
            col = cols.get((topic + sub, component))
            assert col is not None, f"{topic}{sub} {component} missing; have {sorted(k for k in cols if topic in k[0])}"
            assert col["_rows"] == len(log), (topic, sub)
            np.testing.assert_array_equal(col["message_log_time"], log, err_msg=f"{topic}{sub}")
            if t["stamp"]:
                np.testing.assert_array_equal(col["ros2_timestamp"], np.sort(np.asarray(t["stamp"])))


def test_a_session_episode_and_errors(recorded, tmp_path, capsys):
    out = tmp_path / "ep1.rrd"
    assert view_main([str(recorded / "bags"), "--episode", "1", "--save", str(out)]) == 0
    bag = sorted((recorded / "bags").glob("episode_*"))[1]
    n = _bag_truth(bag)["/leader/joint_states"]["log"]
    assert rrd_columns(out)[("/leader/joint_states/position", "Scalars:scalars")]["_rows"] == len(n)
    capsys.readouterr()
    assert view_main([str(recorded / "bags"), "--episode", "5", "--save", str(out)]) == 2
    assert "no episode 5 (2 found)" in capsys.readouterr().err
    assert view_main([str(tmp_path / "nothing"), "--save", str(out)]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_a_converted_dataset_saved_as_rrd_holds_every_feature(recorded, tmp_path):
    root = recorded / "dataset"
    info = json.loads((root / "meta" / "info.json").read_text())
    episodes = pd.read_parquet(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    data = pd.read_parquet(root / "data" / "chunk-000" / "file-000.parquet")
    for ep in (0, 1):
        out = tmp_path / f"ds{ep}.rrd"
        assert view_main([str(root), "--episode", str(ep), "--save", str(out), "--video", "images"]) == 0
        cols = rrd_columns(out)
        length = int(episodes[episodes["episode_index"] == ep]["length"].iloc[0])
        frames = np.arange(length)
        for key, feat in info["features"].items():
            if key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
                continue
            component = "Image:buffer" if feat["dtype"] == "video" else "Scalars:scalars"
            col = cols[("/" + key, component)]
            assert col["_rows"] == length, key
            np.testing.assert_array_equal(col["frame_index"], frames, err_msg=key)
        assert cols[("/task", "TextDocument:text")]["_rows"] == length
        rows = data[data["episode_index"] == ep]
        np.testing.assert_array_equal(rows["frame_index"].to_numpy(), frames)
