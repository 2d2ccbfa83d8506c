"""Shared fixtures: real bags written with rosbags, mappings derived from config/dataset."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec


@pytest.fixture(scope="session")
def so101_names() -> list[str]:
    spec = load_robot_spec("so101")
    return spec.joint_names + [spec.gripper.joint]


@pytest.fixture(scope="session")
def fr3_spec():
    return load_robot_spec("fr3")


DEFAULT_ROBOT = {"sim": "so101", "real": "fr3", "demo": "so101"}


def write_mapping(path: Path, base: str = "sim", drop: tuple[str, ...] = (), **changes) -> Path:
    """A mapping YAML derived from config/dataset/<base>.yaml (h264 by default: fast on small frames),
    with a default robot for plain bags (recorder sessions name their own)."""
    with open(config_dir("dataset") / f"{base}.yaml") as f:
        data = yaml.safe_load(f)
    data["video"] = {"codec": "libx264", "crf": 23, "preset": "veryfast", "g": 2}
    data["robot"] = DEFAULT_ROBOT[base]
    for k in drop:
        data["features"].pop(k)
    for k, v in changes.items():
        if k.startswith("feature:"):
            data["features"][k[len("feature:"):]] = v
        else:
            data[k] = v
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path


@pytest.fixture(scope="session")
def mapping_factory():
    return write_mapping
