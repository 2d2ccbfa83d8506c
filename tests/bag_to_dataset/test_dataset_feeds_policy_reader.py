"""A converted dataset is what the ACT trainer's LeRobot v3.0 reader consumes (feature names, video timing)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bag_to_dataset import convert
from bag_to_dataset.synthetic import write_session
from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec


def test_policy_reader_loads_converted_dataset(tmp_path):
    from policy.dataset import LeRobotChunkDataset, read_meta

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    write_session(tmp_path / "s", 2, names, robot="so101", task="pick", duration=1.5,
                  cameras={"front": (64, 48), "wrist": (64, 48)})
    result = convert([tmp_path / "s"], config_dir("dataset") / "sim.yaml", tmp_path / "ds", progress=False)
    assert result.ok
    meta = read_meta(tmp_path / "ds")
    assert meta.video_keys == ["observation.images.front", "observation.images.wrist"]
    assert meta.names("observation.state") == names and meta.names("action") == names
    ds = LeRobotChunkDataset(tmp_path / "ds", chunk_size=8)
    data = pd.read_parquet(tmp_path / "ds" / "data" / "chunk-000" / "file-000.parquet")
    assert len(ds) == len(data)
    item = ds[len(ds) - 3]
    assert tuple(item["observation.state"].shape) == (6,) and tuple(item["action"].shape) == (8, 6)
    assert item["action_is_pad"].tolist() == [False] * 3 + [True] * 5   # chunks stop at the episode's end
    assert tuple(item["observation.images.front"].shape) == (3, 48, 64)
    np.testing.assert_allclose(item["observation.state"].numpy(), data["observation.state"].iloc[-3], atol=0)
