"""The recorder's logic on real rosbag2 files (no ROS graph): episode flow, metadata round trip,
discard, disk threshold, health warnings, and repair of bags cut at any byte."""
import shutil

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from recorder.bag import BagError
from recorder.episode_recorder import EpisodeRecorder, RecorderOptions
from recorder.health import TopicHealth
from recorder.layout import read_yaml
from recorder.repair import bag_readable, repair_episode, repair_session

TS = get_typestore(Stores.ROS2_JAZZY)
JS, IMG = "sensor_msgs/msg/JointState", "sensor_msgs/msg/Image"


def joint_state(seq: int) -> bytes:
    T = TS.types
    msg = T[JS](header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=seq, nanosec=7),
                                                 frame_id=str(seq)),
                name=["j1", "j2"], position=np.array([seq * 0.5, -1.0]), velocity=np.zeros(2), effort=np.zeros(0))
    return bytes(TS.serialize_cdr(msg, JS))


def image(seq: int, w: int = 64, h: int = 48) -> bytes:
    T = TS.types
    msg = T[IMG](header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=seq, nanosec=0),
                                                  frame_id=str(seq)),
                 height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                 data=np.full(w * h * 3, seq % 256, np.uint8))
    return bytes(TS.serialize_cdr(msg, IMG))


def make_recorder(path, **kw) -> EpisodeRecorder:
    opts = dict(robot_type="so101", task="pick the cube", operator="alice", setup="test", fsync=False)
    opts.update(kw)
    rec = EpisodeRecorder(path, RecorderOptions(**opts))
    rec.add_topic("/joint_states", JS, expected_hz=500)
    rec.add_topic("/cameras/front/image_raw", IMG, expected_hz=30)
    return rec


def record(rec: EpisodeRecorder, n_js: int, n_img: int, t0: int = 10**18) -> None:
    for i in range(n_js):
        rec.on_message("/joint_states", joint_state(i), t0 + i * 2_000_000)
    for i in range(n_img):
        rec.on_message("/cameras/front/image_raw", image(i), t0 + i * 33_000_000)


def test_metadata_round_trip_and_rosbag2_layout(tmp_path):
    rec = make_recorder(tmp_path, default_success=True)
    ok, msg = rec.start()
    assert ok, msg
    record(rec, 300, 20)
    ok, msg = rec.save()
    assert ok and "/joint_states=300" in msg and "/cameras/front/image_raw=20" in msg
    assert rec.close()
    ep = tmp_path / "episode_000000"
    assert sorted(p.name for p in ep.iterdir()) == ["episode.yaml", "episode_000000_0.mcap", "metadata.yaml"]
    meta = read_yaml(ep / "episode.yaml")
    assert meta["format"] == "robot_ws/episode/1" and meta["status"] == "complete"
    assert (meta["episode_index"], meta["task"], meta["robot_type"], meta["operator"], meta["success"]) == \
        (0, "pick the cube", "so101", "alice", True)
    assert meta["start_time_ns"] < meta["end_time_ns"]
    assert meta["topics"] == {"/joint_states": {"type": JS, "count": 300},
                              "/cameras/front/image_raw": {"type": IMG, "count": 20}}
    session = read_yaml(tmp_path / "session.yaml")
    assert session["robot"] == "so101" and session["setup"] == "test"

    info = yaml.safe_load((ep / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert {"version", "storage_identifier", "relative_file_paths", "duration", "starting_time", "message_count",
            "topics_with_message_count", "compression_format", "compression_mode", "files"} <= set(info)
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["episode_000000_0.mcap"] and info["message_count"] == 320
    tm = info["topics_with_message_count"][0]["topic_metadata"]
    assert {"name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash"} <= set(tm)
    assert tm["type_description_hash"].startswith("RIHS01_")

    with Reader(ep) as reader:            # rosbag2 reader: content is byte-exact and deserializes
        seen = {}
        for conn, _t, raw in reader.messages():
            msg = TS.deserialize_cdr(raw, conn.msgtype)
            seen.setdefault(conn.topic, []).append(int(msg.header.frame_id))
            if conn.topic == "/joint_states":
                assert raw == joint_state(int(msg.header.frame_id))
    assert sorted(seen["/joint_states"]) == list(range(300)) and sorted(seen["/cameras/front/image_raw"]) == \
        list(range(20))
    with open(ep / "episode_000000_0.mcap", "rb") as f:   # an independent MCAP reader agrees
        summary = make_reader(f).get_summary()
        assert summary.statistics.message_count == 320
        assert {c.topic for c in summary.channels.values()} == {"/joint_states", "/cameras/front/image_raw"}
    with open(ep / "episode_000000_0.mcap", "rb") as f:   # every chunk has a CRC, and it checks out
        reader = make_reader(f, validate_crcs=True)
        assert sum(1 for _ in reader.iter_messages()) == 320
        assert all(ci.chunk_length > 0 for ci in reader.get_summary().chunk_indexes)
        assert reader.get_header().profile == "ros2"
    from mcap.records import Chunk
    from mcap.stream_reader import StreamReader

    with open(ep / "episode_000000_0.mcap", "rb") as f:
        chunks = [r for r in StreamReader(f, emit_chunks=True).records if isinstance(r, Chunk)]
    assert chunks and all(c.uncompressed_crc != 0 for c in chunks)


def test_discard_leaves_nothing_and_reuses_the_index(tmp_path):
    rec = make_recorder(tmp_path)
    assert rec.discard() == (False, "nothing to discard (no episode recorded yet in this run)")
    rec.start()
    record(rec, 100, 5)
    ok, msg = rec.discard()
    assert ok and "discarded episode 0 (recording)" in msg
    assert rec.start()[0]                                   # index 0 again
    record(rec, 50, 2)
    rec.save()
    rec.start()
    record(rec, 10, 1)
    rec.save()
    ok, msg = rec.discard()                                 # reset phase: drop the one just saved
    assert ok and "episode 1 (last saved)" in msg
    assert rec.discard()[0] is False                        # only once
    assert rec.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_000000", "session.yaml"]
    assert read_yaml(tmp_path / "episode_000000" / "episode.yaml")["topics"]["/joint_states"]["count"] == 50


def test_flow_errors_success_flag_and_shutdown(tmp_path):
    rec = make_recorder(tmp_path)
    assert rec.save() == (False, "not recording")
    assert rec.set_success(True)[0] is False
    rec.start()
    assert rec.start() == (False, "already recording episode 0")
    record(rec, 20, 1)
    rec.save()
    assert rec.set_success(False)[0]
    assert read_yaml(tmp_path / "episode_000000" / "episode.yaml")["success"] is False
    rec.start()
    record(rec, 20, 1)
    assert rec.close()                                      # shutdown mid-episode: readable, not "complete"
    meta = read_yaml(tmp_path / "episode_000001" / "episode.yaml")
    assert meta["status"] == "incomplete" and meta["topics"]["/joint_states"]["count"] == 20
    assert bag_readable(tmp_path / "episode_000001")
    assert rec.start() == (False, "recorder is shut down")


def test_refuses_to_start_below_the_disk_threshold(tmp_path):
    rec = make_recorder(tmp_path, min_free_disk_gb=1e9)
    ok, msg = rec.start()
    assert not ok and "refusing to start" in msg and "min_free_disk_gb=1e+09" in msg
    assert not any(p.name.startswith("episode") for p in tmp_path.iterdir())
    rec.close()


def test_unknown_message_type_is_refused(tmp_path):
    rec = make_recorder(tmp_path)
    with pytest.raises(BagError, match="my_pkg/msg/Custom is not a standard ROS 2 Jazzy type"):
        rec.add_topic("/custom", "my_pkg/msg/Custom")
    assert "/custom" not in rec.status()["topics"]
    rec.close()


def test_health_reports_silent_and_slow_topics():
    h = TopicHealth(window_s=2.0, silence_s=1.0, min_rate_ratio=0.7)
    h.add_topic("/js", expected_hz=100)
    h.add_topic("/cam", expected_hz=30)
    h.add_topic("/tactile", optional=True)
    h.add_topic("/never")
    assert h.warnings(0.0) == []                            # not recording: no warnings
    h.episode_started(0.0)
    t = 0.0
    while t < 3.0:                                          # /js at 100 Hz, /cam at 10 Hz (too slow)
        h.on_message("/js", t)
        if round(t * 100) % 10 == 0:
            h.on_message("/cam", t)
        t += 0.01
    w = h.warnings(3.0)
    assert any(x.startswith("/cam slow: 10.") and "expected 30 Hz" in x for x in w), w
    assert any(x.startswith("/never silent: no message yet for 3.0 s") for x in w), w
    assert not any(x.startswith(("/js", "/tactile")) for x in w), w
    assert abs(h.rate("/js", 3.0) - 100) < 2
    w = h.warnings(5.0)                                     # then /js stops
    assert any(x.startswith("/js silent: nothing for 2.0 s") for x in w), w
    h.episode_ended()
    assert h.warnings(6.0) == []


def test_silent_topic_is_written_into_episode_yaml(tmp_path):
    clock = [0.0]
    rec = EpisodeRecorder(tmp_path, RecorderOptions(robot_type="fr3", fsync=False), monotonic=lambda: clock[0])
    rec.add_topic("/joint_states", JS)
    rec.add_topic("/silent", "std_msgs/msg/String")
    rec.start()
    for i in range(30):
        clock[0] = i * 0.1
        rec.on_message("/joint_states", joint_state(i))
    status = rec.status()
    assert status["state"] == "recording" and status["topics"]["/joint_states"]["count"] == 30
    assert any(w.startswith("/silent silent") for w in status["warnings"])
    rec.save()
    rec.close()
    meta = read_yaml(tmp_path / "episode_000000" / "episode.yaml")
    assert any(w.startswith("/silent silent") for w in meta["warnings"])
    assert meta["topics"]["/silent"]["count"] == 0


def test_repair_recovers_every_flushed_message_wherever_the_file_is_cut(tmp_path):
    rec = make_recorder(tmp_path / "s")
    rec.start()
    ep = rec._current
    for k in range(6):                     # six flushed blocks of 50 joint states + 2 images
        for i in range(50):
            rec.on_message("/joint_states", joint_state(k * 50 + i), 10**18 + (k * 50 + i) * 10**6)
        for i in range(2):
            rec.on_message("/cameras/front/image_raw", image(k * 2 + i), 10**18 + (k * 50 + i) * 10**6)
        assert rec.writer.sync()
        ep.bag.flush()                    # what the writer thread does every flush_period_s
    mcap = ep.bag.mcap_path
    data = mcap.read_bytes()
    sizes = [int(len(data) * f) for f in (0.05, 0.3, 0.55, 0.8)] + [len(data) - 1, len(data)]
    recovered = []
    for size in sizes:
        bag = tmp_path / f"cut_{size}" / "episode_000000"
        bag.mkdir(parents=True)
        (bag / mcap.name).write_bytes(data[:size])
        shutil.copy(ep.path / "episode.yaml", bag / "episode.yaml")
        assert not bag_readable(bag)
        report = repair_episode(bag)
        assert report.needed and bag_readable(bag)
        with Reader(bag) as reader:
            frames = [int(TS.deserialize_cdr(raw, c.msgtype).header.frame_id) for c, _, raw in reader.messages()
                      if c.topic == "/joint_states"]
        assert frames == list(range(len(frames)))         # a gap-free prefix of what was sent
        meta = read_yaml(bag / "episode.yaml")
        assert meta["status"] == "incomplete" and meta["repaired"]
        assert meta["topics"].get("/joint_states", {}).get("count", 0) == len(frames)
        recovered.append(len(frames))
    assert recovered == sorted(recovered) and recovered[-1] == 300 and recovered[-2] >= 250
    rec.close()                                            # shutdown closes it readable, as incomplete
    assert [r.needed for r in repair_session(tmp_path / "s")] == [False]


def test_repair_goes_on_past_a_bad_episode_and_recovers_empty_ones(tmp_path):
    import subprocess

    from robot_common.testing import python_module_cmd, ros_env

    rec = make_recorder(tmp_path / "s")
    for _ in range(3):
        rec.start()
        record(rec, 100, 4)
        assert rec.writer.sync()
        rec._current.bag.flush()
        rec.save()
    assert rec.close()
    s = tmp_path / "s"
    for i in range(3):                                 # as a kill would leave them: no summary, no metadata
        (s / f"episode_{i:06d}" / "metadata.yaml").unlink()
    cut = s / "episode_000000" / "episode_000000_0.mcap"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    (s / "episode_000001" / "episode_000001_0.mcap").write_bytes(b"not an mcap file" * 10)
    empty = s / "episode_000002" / "episode_000002_0.mcap"
    empty.write_bytes(b"")                             # a kill before the header reached the disk
    proc = subprocess.run(python_module_cmd("recorder.repair", str(s)), capture_output=True, text=True,
                          env=ros_env(), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "episode_000001: cannot be repaired" in proc.stderr and "bad magic" in proc.stderr
    assert "episode_000000: repaired, " in proc.stdout and "episode_000002: repaired, 0 messages recovered" in proc.stdout
    assert bag_readable(s / "episode_000000") and bag_readable(s / "episode_000002")
    with Reader(s / "episode_000002") as reader:      # the topics are there, with 0 messages
        assert {c.topic for c in reader.connections} == {"/joint_states", "/cameras/front/image_raw"}
        assert reader.message_count == 0
    meta = read_yaml(s / "episode_000002" / "episode.yaml")
    assert meta["status"] == "incomplete" and meta["topics"]["/joint_states"]["count"] == 0
    bad = subprocess.run(python_module_cmd("recorder.repair", str(tmp_path / "nothing_here")), capture_output=True,
                         text=True, env=ros_env(), timeout=60)
    assert bad.returncode == 2 and "neither a session nor a bag directory" in bad.stderr
