"""Mapping YAMLs: the shipped setups load and name joints in the robot's order; bad files say why."""
from __future__ import annotations

import pytest

from bag_to_dataset.mapping import MappingError, load_mapping, parse_mapping
from robot_common.paths import config_dir, list_configs


@pytest.mark.parametrize("path", sorted(config_dir("dataset").glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("robot", list_configs("robots"))
def test_shipped_mappings_load(path, robot):
    m = load_mapping(path).bind(robot)          # robot-agnostic: every arm's joint names fit
    names = [f.name for f in m.features]
    assert "observation.state" in names and "action" in names
    assert m.fps == 30
    state = next(f for f in m.features if f.name == "observation.state")
    action = next(f for f in m.features if f.name == "action")
    assert state.names == action.names and len(state.names) >= 6
    assert all(s.topic.startswith("/") for f in m.features for s in f.sources)


def test_setup_names_resolve(so101_names, fr3_spec):
    m = load_mapping("sim").bind("so101")
    assert next(f for f in m.features if f.name == "observation.state").names == so101_names
    assert [f.name for f in m.video_features] == ["observation.images.front", "observation.images.wrist"]
    g = load_mapping("real").bind("fr3")
    action = next(f for f in g.features if f.name == "action")
    assert [s.type for s in action.sources] == ["trajectory", "float_array"]
    assert action.names == fr3_spec.joint_names + [fr3_spec.gripper.joint]


@pytest.mark.parametrize("features, message", [
    ({"observation.state": {"topic": "/a", "type": "bogus", "joints": ["j"]}}, "unknown type"),
    ({"observation.state": {"topic": "/a", "type": "float_array", "names": ["j"], "time": "header"},
      "action": {"topic": "/b", "joints": ["j"]}}, "no header"),
    ({"observation.state": {"topic": "/a", "joints": ["j"]}}, "must include 'action'"),
    ({"observation.state": {"topic": "/a", "joints": ["j"]}, "action": {"topic": "/b", "joints": ["j"]},
      "observation.images.x": {"topic": "/c", "type": "joint_state", "joints": ["j"]}}, "from an image topic"),
    ({"observation.state": {"topic": "/a", "joints": ["j"], "policy": "nearest"},
      "action": {"topic": "/b", "joints": ["j"]}}, "policy must be"),
])
def test_bad_mappings_are_explained(features, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping({"fps": 30, "features": features})


def test_unknown_setup_lists_known():
    with pytest.raises(MappingError, match="'sim'"):
        load_mapping("no_such_setup")
