"""Recorder setups load and fail clearly; session layout helpers behave as docs/RECORDING_FORMAT.md says."""
import pytest
import yaml
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from recorder.config import RecorderConfigError, load_setup, parse_setup
from recorder.layout import SessionDir, episode_metadata, read_yaml, write_yaml_atomic
from recorder.recorder_node import PARAMS, message_class, session_path, subscription_qos
from robot_common.paths import source_root


def test_shipped_setups_load_and_name_installed_types():
    files = sorted((source_root() / "config" / "recorder").glob("*.yaml"))
    assert {"sim", "real"} <= {f.stem for f in files}
    for f in files:
        setup = load_setup(f.stem)
        for t in setup.topics:
            assert t.type, f"{f.name}: {t.name} has no type"
            assert not t.name.startswith("/"), f"{f.name}: {t.name} is absolute (setups are namespace-able)"
            message_class(t.type)
    for name in ("sim", "real"):
        setup = load_setup(name)
        names = {t.name for t in setup.topics}
        assert {"joint_states", "leader/joint_states", "cameras/front/image_raw",
                "cameras/wrist/image_raw"} <= names
        assert not setup.topic("joint_states").optional


@pytest.mark.parametrize("data, error", [
    ({"robot_type": "fr3", "topics": [{"name": "/a", "type": "std_msgs/msg/String"}]}, "setups are robot-agnostic"),
    ({"topics": []}, "'topics' must be a non-empty list"),
    ({"topics": [{"name": "~/a", "type": "std_msgs/String"}]}, "is not a ROS topic name"),
    ({"topics": [{"name": "a b", "type": "std_msgs/String"}]}, "is not a ROS topic name"),
    ({"topics": [{"name": "a"}], "robot": "so101"}, "start the recorder with robot:="),
    ({"topics": [{"name": "/a", "type": "JointState"}]}, "is not a message type"),
    ({"topics": [{"name": "/a", "qos": "fast"}]}, "qos 'fast' is not one of"),
    ({"topics": ["/a", "/a"]}, "topics listed twice"),
    ({"topics": [{"name": "/a", "rate": 3}]}, "unknown keys ['rate']"),
    ({"topics": [{"name": "/a", "expected_hz": 0}]}, "expected_hz must be > 0"),
    ({"topics": [{"name": "/a", "depth": 0}]}, "depth must be >= 1"),
])
def test_bad_setups_are_rejected_with_the_reason(data, error):
    with pytest.raises(RecorderConfigError) as err:
        parse_setup(data, "bad")
    assert error in str(err.value)


def test_setup_lookup_errors(tmp_path):
    with pytest.raises(RecorderConfigError, match="unknown recorder setup 'nope'"):
        load_setup("nope")
    bad = tmp_path / "x.yaml"
    bad.write_text("topics: [unclosed")
    with pytest.raises(RecorderConfigError, match="not valid YAML"):
        load_setup(bad)
    with pytest.raises(RecorderConfigError, match="not installed"):
        message_class("sensor_msgs/msg/NoSuchType")


def test_types_are_normalized():
    setup = parse_setup({"topics": [{"name": "/j", "type": "sensor_msgs/JointState"}]}, "s")
    assert setup.topics[0].type == "sensor_msgs/msg/JointState"
    assert setup.topics[0].qos == "auto" and setup.topics[0].type


def test_subscription_qos_matches_publishers_like_ros2_bag():
    cfg = parse_setup({"topics": [{"name": "/a", "depth": 7}, {"name": "/b", "qos": "reliable"}]}, "s")
    auto, fixed = cfg.topics
    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    assert subscription_qos(auto, []) is None                      # wait for a publisher
    assert subscription_qos(auto, [reliable]).reliability == ReliabilityPolicy.RELIABLE
    assert subscription_qos(auto, [reliable, best_effort]).reliability == ReliabilityPolicy.BEST_EFFORT
    assert subscription_qos(auto, [reliable]).depth == 7
    assert subscription_qos(fixed, [best_effort]).reliability == ReliabilityPolicy.RELIABLE
    assert subscription_qos(fixed, []).history == HistoryPolicy.KEEP_LAST


def test_node_parameters_have_defaults_and_descriptions():
    for p in PARAMS:
        assert p.has_default and len(p.description) > 10, p.name


def test_new_sessions_go_below_an_absolute_output_root(monkeypatch, tmp_path):
    from datetime import datetime

    monkeypatch.setenv("HOME", str(tmp_path))
    default = PARAMS["output_root"].default
    path = session_path("", default, "sim", "so101", now=datetime(2026, 1, 2, 3, 4, 5))
    assert path == tmp_path / "robot_data" / "recordings" / "sim_so101_20260102_030405"   # not below the cwd
    assert session_path("~/s1", default, "sim", "so101") == tmp_path / "s1"


def test_atomic_yaml_and_session_layout(tmp_path):
    session = SessionDir(tmp_path / "s")
    info = session.ensure({"robot": "so101", "task": "pick"})
    assert read_yaml(tmp_path / "s" / "session.yaml")["robot"] == "so101" and "created" in info
    assert session.ensure({"robot": "other"})["robot"] == "so101"      # resuming keeps the original
    assert session.next_index() == 0
    for i in (0, 1, 4):
        session.episode_path(i).mkdir()
    (tmp_path / "s" / ".discarded_episode_000002_1").mkdir()
    (tmp_path / "s" / "episode_x").mkdir()
    assert session.episode_indices() == [0, 1, 4] and session.next_index() == 5
    meta = episode_metadata(4, "pick", "so101", "alice", 1, status="complete", end_time_ns=2, success=True)
    write_yaml_atomic(session.episode_path(4) / "episode.yaml", meta)
    assert [p.name for p in session.episode_path(4).iterdir()] == ["episode.yaml"]   # no temp file left
    assert yaml.safe_load((session.episode_path(4) / "episode.yaml").read_text()) == meta
    assert session.episode_status(4) == "complete"
    assert session.episode_status(1) == "incomplete"                  # no episode.yaml: interrupted
    with pytest.raises(ValueError, match="status"):
        episode_metadata(0, "", "", "", 0, status="done")
