"""The recorder's own writer (EpisodeRecorder -> rosbag2 MCAP + episode.yaml) feeds bag_to_dataset."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rosbags.rosbag2 import Reader

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.pipeline import ConversionError
from bag_to_dataset.synthetic import NS, write_bag
from recorder.episode_recorder import EpisodeRecorder, RecorderOptions
from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec

TOPICS = ["/joint_states", "/leader/joint_states", "/cameras/front/image_raw", "/cameras/wrist/image_raw"]


def _replay(rec: EpisodeRecorder, bag) -> None:
    """Hand the recorder the bag's messages as its subscriptions would: raw CDR with receive times."""
    with Reader(bag) as reader:
        for conn, t, raw in reader.messages():
            rec.on_message(conn.topic, bytes(raw), t)


def test_recorder_session_converts(tmp_path):
    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    sources = [write_bag(tmp_path / f"src{i}", names, duration=1.5, seed=i, start_ns=(1_700_000_000 + 10 * i) * NS,
                         cameras={"front": (64, 48), "wrist": (64, 48)}) for i in range(3)]
    rec = EpisodeRecorder(tmp_path / "session", RecorderOptions(robot_type="so101", task="pick the cube",
                                                                operator="test", setup="sim", fsync=False))
    for topic in TOPICS:
        rec.add_topic(topic, "sensor_msgs/msg/Image" if "cameras" in topic else "sensor_msgs/msg/JointState")
    for i, truth in enumerate(sources):
        ok, msg = rec.start()
        assert ok, msg
        _replay(rec, truth.path)
        if i < 2:
            ok, msg = rec.save()
            assert ok, msg
    assert rec.close()   # shutting down mid-episode closes it as incomplete

    # this round trip checks values against header stamps (the demo's mapping uses receive times)
    mapping = tmp_path / "sim_header.yaml"
    mapping.write_text((config_dir("dataset") / "sim.yaml").read_text().replace("time: receive", "time: header"))
    result = convert([tmp_path / "session"], mapping, tmp_path / "ds", codec="h264", progress=False)
    assert result.ok and result.converted == 2
    assert [p.split("/")[-1] for p, _ in result.skipped] == ["episode_000002"]
    assert validate_dataset(tmp_path / "ds") == []
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["robot_type"] == "so101" and info["total_episodes"] == 2
    tasks = pd.read_parquet(tmp_path / "ds" / "meta" / "tasks.parquet")
    assert list(tasks.index) == ["pick the cube"]
    data = pd.read_parquet(tmp_path / "ds" / "data" / "chunk-000" / "file-000.parquet")
    for e in range(2):
        s = sources[e].streams
        start = max(int(s[t].header_ns[0]) for t in TOPICS)
        rows = data[data["episode_index"] == e]
        frames = start + np.arange(len(rows), dtype=np.int64) * NS // 30
        js = s["/joint_states"]
        want = js.values[np.searchsorted(js.header_ns, frames, side="right") - 1].astype(np.float32)
        np.testing.assert_allclose(np.stack(rows["observation.state"].to_numpy()), want, atol=1e-7)

    # asked for, the interrupted episode converts too (it was closed cleanly, so it is readable)
    again = convert([tmp_path / "session"], mapping, tmp_path / "ds_all", codec="h264", include_incomplete=True,
                    progress=False)
    assert again.ok and again.converted == 3 and validate_dataset(tmp_path / "ds_all") == []


def test_a_namespaced_recording_converts_with_the_shipped_mapping(tmp_path):
    """A recorder started with namespace:=left records /left/joint_states ...; the robot-agnostic
    mapping's relative topics resolve in the namespace the recorder stored in episode.yaml."""
    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    src = write_bag(tmp_path / "src", names, duration=1.5, cameras={"front": (64, 48), "wrist": (64, 48)})
    rec = EpisodeRecorder(tmp_path / "session", RecorderOptions(robot_type="so101_follower", robot="so101",
                                                                namespace="/left", task="pick", setup="sim",
                                                                fsync=False))
    for topic in TOPICS:
        rec.add_topic("/left" + topic, "sensor_msgs/msg/Image" if "cameras" in topic else "sensor_msgs/msg/JointState")
    assert rec.start()[0]
    with Reader(src.path) as reader:
        for conn, t, raw in reader.messages():
            rec.on_message("/left" + conn.topic, bytes(raw), t)
    assert rec.save()[0] and rec.close()
    meta = (tmp_path / "session" / "episode_000000" / "episode.yaml").read_text()
    assert "namespace: /left" in meta and "robot: so101" in meta

    result = convert([tmp_path / "session"], "sim", tmp_path / "ds", codec="h264", progress=False)
    assert result.ok and result.converted == 1 and validate_dataset(tmp_path / "ds") == []
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["robot_type"] == "so101_follower" and info["features"]["observation.state"]["names"] == names
    # told another namespace, the converter looks there and lists what the bag has
    with pytest.raises(ConversionError) as err:
        convert([tmp_path / "session"], "sim", tmp_path / "ds2", namespace="/right", progress=False, codec="h264")
    assert "missing topic(s) ['/right/cameras/front/image_raw'" in str(err.value)
    assert "/left/joint_states" in str(err.value)
