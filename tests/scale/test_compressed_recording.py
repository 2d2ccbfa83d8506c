"""Compressed cameras through the recorder and the converter: the same episode, cameras recorded
raw (setup `real`) and as JPEG (setup `real_compressed`, quality 90), converted with the mappings of
the same names, gives the same vectors exactly and the same video frames up to JPEG loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from rosbags.rosbag2 import Reader

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.synthetic import NS, write_bag
from bag_to_dataset.video import decoded_frame_times
from recorder.config import load_setup
from recorder.episode_recorder import EpisodeRecorder, RecorderOptions
from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec

TACTILE = ("observation.tactile.left_finger.wrench", "observation.tactile.left_finger.image")


def record(root: Path, setup: str, bag: Path) -> Path:
    """Replay the bag into the recorder, subscribed to what the setup names (as the recorder node does)."""
    topics = {"/" + t.name: t.type for t in load_setup(setup).topics}
    rec = EpisodeRecorder(root / setup, RecorderOptions(robot_type="so101", robot="so101", task="pick",
                                                        setup=setup, fsync=False))
    with Reader(bag) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        for topic, msgtype in present.items():
            assert topics.get(topic) == msgtype, f"setup {setup} does not record {topic} as {msgtype}"
            rec.add_topic(topic, msgtype)
        assert rec.start()[0]
        for conn, t, raw in reader.messages():
            rec.on_message(conn.topic, bytes(raw), t)
    assert rec.save()[0] and rec.close()
    return root / setup


def mapping(tmp: Path, name: str) -> Path:
    data = yaml.safe_load((config_dir("dataset") / f"{name}.yaml").read_text())
    for k in TACTILE:    # the synthetic bag has no tactile sensor
        data["features"].pop(k)
    data["video"] = {"codec": "libx264", "crf": 18, "preset": "veryfast", "g": 2}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])])


def test_jpeg_cameras_record_and_convert_like_raw_ones(tmp_path):
    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    kw = {"duration": 1.0, "seed": 3, "start_ns": 1_700_000_000 * NS, "cameras": {"front": (160, 120), "wrist": (160, 120)},
          "trajectory": True, "gripper_joint": spec.gripper.joint}
    raw_bag = write_bag(tmp_path / "raw_bag", names, **kw).path
    jpeg_bag = write_bag(tmp_path / "jpeg_bag", names, jpeg_quality=90, **kw).path
    with Reader(jpeg_bag) as r:
        assert {c.topic: c.msgtype for c in r.connections}["/cameras/front/image_raw/compressed"] == \
            "sensor_msgs/msg/CompressedImage"

    out = {}
    for setup, bag in (("real", raw_bag), ("real_compressed", jpeg_bag)):
        session = record(tmp_path, setup, bag)
        result = convert([session], mapping(tmp_path, setup), tmp_path / f"ds_{setup}", progress=False)
        assert result.ok and result.converted == 1, result.failures
        assert validate_dataset(tmp_path / f"ds_{setup}") == []
        out[setup] = tmp_path / f"ds_{setup}"

    data = [pd.read_parquet(out[s] / "data" / "chunk-000" / "file-000.parquet") for s in out]
    assert len(data[0]) == len(data[1]) > 20
    for col in ("observation.state", "action", "timestamp", "frame_index"):
        assert np.array_equal(np.stack(data[0][col].to_numpy()), np.stack(data[1][col].to_numpy())), col
    for cam in ("front", "wrist"):
        videos = [next((out[s] / "videos" / f"observation.images.{cam}").rglob("*.mp4")) for s in out]
        raw, jpeg = (frames(v) for v in videos)
        assert raw.shape == jpeg.shape == (len(data[0]), 120, 160, 3)
        assert len(decoded_frame_times(videos[1])[0]) == len(data[0])
        diff = np.abs(raw.astype(int) - jpeg.astype(int))
        assert diff.mean() < 4.0, diff.mean()       # 0..255 levels after JPEG and h264 (crf 18); measured 2.7
        # and the frames are the episode's own: each differs from its neighbour far more than from its twin
        assert np.abs(raw[1:].astype(int) - raw[:-1].astype(int)).mean() > 3 * diff.mean()
