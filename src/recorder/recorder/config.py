"""Recorder setups (config/recorder/<setup>.yaml): which topics to record, with which QoS and rates.

Setups are robot-agnostic (the robot is the recorder's `robot` parameter) and their topic names
relative: `joint_states` is recorded as `/joint_states` by a recorder in the root namespace and as
`/left/joint_states` by one started with `namespace:=left`. Bags keep the full names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from robot_common.paths import find_config, list_configs

QOS_CHOICES = ("reliable", "best_effort", "auto")
_TYPE_RE = re.compile(r"^(\w+)/(?:msg/)?(\w+)$")
_NAME_RE = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")   # no ~ or {}: not node-private


class RecorderConfigError(ValueError):
    """A recorder setup file that is missing fields or names an unusable topic or type."""


@dataclass(frozen=True)
class TopicConfig:
    name: str                      # relative (resolved in the recorder's namespace) or absolute
    type: str | None               # 'pkg/msg/Type'; None = discovered from the graph
    qos: str = "auto"              # reliable | best_effort | auto (match the publishers, like ros2 bag)
    depth: int = 100               # subscriber queue (keep last); size it for the longest stall to ride out
    expected_hz: float | None = None
    optional: bool = False         # no silence warning (e.g. tactile that may be unplugged)


@dataclass(frozen=True)
class RecorderSetup:
    name: str
    topics: tuple[TopicConfig, ...]
    description: str = ""
    source: Path | None = field(default=None, compare=False)

    def topic(self, name: str) -> TopicConfig:
        for t in self.topics:
            if t.name == name:
                return t
        raise KeyError(name)


def normalize_type(name: str, where: str = "type") -> str:
    """'sensor_msgs/JointState' or 'sensor_msgs/msg/JointState' -> 'sensor_msgs/msg/JointState'."""
    m = _TYPE_RE.match(name.strip())
    if not m:
        raise RecorderConfigError(f"{where}: '{name}' is not a message type like sensor_msgs/msg/JointState")
    return f"{m.group(1)}/msg/{m.group(2)}"


def _topic(entry: object, where: str) -> TopicConfig:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise RecorderConfigError(f"{where}: each topic needs at least a 'name'")
    unknown = set(entry) - {"name", "type", "qos", "depth", "expected_hz", "optional"}
    if unknown:
        raise RecorderConfigError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(entry["name"])
    if not _NAME_RE.match(name) or "//" in name:
        raise RecorderConfigError(f"{where}: topic '{name}' is not a ROS topic name like joint_states "
                                  f"(relative, resolved in the recorder's namespace) or /clock")
    qos = str(entry.get("qos", "auto"))
    if qos not in QOS_CHOICES:
        raise RecorderConfigError(f"{where} {name}: qos '{qos}' is not one of {QOS_CHOICES}")
    depth = int(entry.get("depth", 100))
    if depth < 1:
        raise RecorderConfigError(f"{where} {name}: depth must be >= 1")
    hz = entry.get("expected_hz")
    if hz is not None and float(hz) <= 0:
        raise RecorderConfigError(f"{where} {name}: expected_hz must be > 0")
    typ = entry.get("type")
    return TopicConfig(
        name=name,
        type=normalize_type(str(typ), f"{where} {name}") if typ else None,
        qos=qos,
        depth=depth,
        expected_hz=float(hz) if hz is not None else None,
        optional=bool(entry.get("optional", False)),
    )


def parse_setup(data: dict, name: str, source: Path | None = None) -> RecorderSetup:
    where = str(source or name)
    if not isinstance(data, dict):
        raise RecorderConfigError(f"{where}: expected a mapping at the top level")
    topics_raw = data.get("topics")
    if not isinstance(topics_raw, list) or not topics_raw:
        raise RecorderConfigError(f"{where}: 'topics' must be a non-empty list")
    topics = tuple(_topic(e, f"{where}: topics[{i}]") for i, e in enumerate(topics_raw))
    names = [t.name for t in topics]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise RecorderConfigError(f"{where}: topics listed twice: {sorted(dup)}")
    if {"robot", "robot_type"} & set(data):
        raise RecorderConfigError(f"{where}: setups are robot-agnostic: remove "
                                  f"{sorted({'robot', 'robot_type'} & set(data))} and start the recorder with "
                                  f"robot:=<robot> (and robot_type:=... if it differs)")
    unknown = set(data) - {"topics", "description"}
    if unknown:
        raise RecorderConfigError(f"{where}: unknown keys {sorted(unknown)}; a setup has 'topics' and 'description'")
    return RecorderSetup(name=name, topics=topics, description=str(data.get("description", "")), source=source)


def load_setup(setup: str | Path) -> RecorderSetup:
    """A setup by name (config/recorder/<name>.yaml, found through robot_common.paths) or by path."""
    try:
        path = find_config("recorder", setup)
    except FileNotFoundError:
        text = str(setup)
        if "/" in text:
            raise RecorderConfigError(f"recorder setup file {text} does not exist") from None
        raise RecorderConfigError(f"unknown recorder setup '{text}'; available: {list_configs('recorder')}") from None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RecorderConfigError(f"{path}: not valid YAML: {_one_line(err)}") from None
    except OSError as err:
        raise RecorderConfigError(f"recorder setup {path}: {err.strerror}") from None
    return parse_setup(data, name=path.stem, source=path)


def _one_line(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem
