"""recorder_node over real DDS: lossless recording under load, the services, a silent topic, a
SIGKILL mid-episode and SIGKILLs at the worst moments, and the keyboard front end in a pseudo-terminal."""
import os
import pty
import shutil
import subprocess
import threading
import time

from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from recorder.layout import read_yaml
from recorder.repair import bag_readable
from robot_common.testing import python_module_cmd, ros_env, wait_for

TS = get_typestore(Stores.ROS2_JAZZY)
JS, IMG = "sensor_msgs/msg/JointState", "sensor_msgs/msg/Image"


def frame_ids(bag) -> dict[str, list[int]]:
    """Sequence numbers (header.frame_id) per topic, in bag order."""
    out: dict[str, list[int]] = {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            if conn.msgtype == IMG:      # header is at the start of the CDR: skip deserializing pixels
                raw = raw[:64]
                n = int.from_bytes(raw[12:16], "little")
                out.setdefault(conn.topic, []).append(int(raw[16:16 + n - 1]))
            else:
                out.setdefault(conn.topic, []).append(int(TS.deserialize_cdr(raw, conn.msgtype).header.frame_id))
    return out


def test_every_message_of_500hz_joint_states_and_two_vga_cameras_is_in_the_bag(recorder, load, tmp_path):
    # Reliable, the publisher keeps all and waits for acks, and the subscriber queues hold the whole run:
    # on this shared 2-core machine other jobs can stall the recorder for seconds (load averages of 8
    # were seen), and a loss here must mean a recorder bug, not a scheduling hiccup.
    setup = recorder.setup_file([
        {"name": "/joint_states", "type": JS, "qos": "reliable", "depth": 6000, "expected_hz": 500},
        {"name": "/cameras/cam0/image_raw", "type": IMG, "qos": "reliable", "depth": 400, "expected_hz": 30},
        {"name": "/cameras/cam1/image_raw", "type": IMG, "qos": "reliable", "depth": 400, "expected_hz": 30},
    ])
    session = tmp_path / "session"
    recorder.start(setup, session, task="lossless test")
    assert recorder.call("start") == (True, f"recording episode 0 to {session / 'episode_000000'}")
    sent = load.run("--joint-hz", "500", "--cameras", "2", "--width", "640", "--height", "480", "--fps", "30",
                    "--duration", "10", "--depth", "0")
    assert sent["/joint_states"] >= 4999 and sent["/cameras/cam0/image_raw"] >= 299
    recorder.wait_status(lambda s: {t: v["count"] for t, v in s["topics"].items()} == sent, 60,
                         "every published message to reach the recorder")
    ok, msg = recorder.call("save")
    assert ok and f"/joint_states={sent['/joint_states']}" in msg
    st = recorder.wait_status(lambda s: (s["last_saved"] or {}).get("episode_index") == 0, 60, "episode 0 on disk")
    assert st["last_saved"]["counts"] == sent and st["last_saved"]["status"] == "complete"
    bag = session / "episode_000000"
    meta = read_yaml(bag / "episode.yaml")
    assert {t: v["count"] for t, v in meta["topics"].items()} == sent
    assert meta["task"] == "lossless test" and meta["status"] == "complete" and "dropped" not in meta
    ids = frame_ids(bag)
    assert {t: sorted(v) for t, v in ids.items()} == {t: list(range(n)) for t, n in sent.items()}
    with Reader(bag) as reader:
        assert reader.message_count == sum(sent.values())


def test_services_discard_silent_topic_and_parameters(recorder, load, tmp_path):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    setup = recorder.setup_file([
        {"name": "/joint_states", "type": JS, "qos": "reliable", "depth": 200},
        {"name": "/silent", "type": "std_msgs/msg/String", "qos": "reliable"},
    ])
    session = tmp_path / "session"
    recorder.start(setup, session, silence_timeout_s=0.5, operator="bob")
    assert recorder.call("save") == (False, "not recording")
    assert recorder.call("discard")[0] is False
    pub = load.start("--joint-hz", "100", "--cameras", "0", "--duration", "60", "--depth", "50")
    assert recorder.call("start")[0]
    assert recorder.call("start") == (False, "already recording episode 0")
    st = recorder.wait_status(lambda s: any(w.startswith("/silent silent") for w in s["warnings"]), 30,
                              "a warning about the silent topic")
    assert st["state"] == "recording"
    assert recorder.call("discard") == (True, "discarded episode 0 (recording)")
    wait_for(lambda: sorted(p.name for p in session.iterdir()) == ["session.yaml"], 30,
             what="the discarded episode to disappear")

    assert recorder.call("start")[0]                              # the index is reused
    recorder.wait_status(lambda s: s["topics"]["/joint_states"]["count"] > 50, 30, "joint states recorded")
    ok, msg = recorder.call("save")
    assert ok and msg.startswith("saved episode 0 (/joint_states=") and "/silent=0" in msg
    recorder.wait_status(lambda s: (s["last_saved"] or {}).get("episode_index") == 0, 30, "episode 0 on disk")
    meta = read_yaml(session / "episode_000000" / "episode.yaml")
    assert meta["operator"] == "bob" and meta["topics"]["/silent"]["count"] == 0
    assert any(w.startswith("/silent silent") for w in meta["warnings"])
    assert meta["topics"]["/joint_states"]["count"] == len(frame_ids(session / "episode_000000")["/joint_states"])

    # parameters change while running: the next episode gets the new task and saves itself after 1 s
    req = SetParameters.Request(parameters=[
        Parameter(name="task", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="stack")),
        Parameter(name="max_episode_s", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.0))])
    assert all(r.successful for r in recorder.probe.call(SetParameters, "/recorder/set_parameters", req).results)
    assert recorder.call("start")[0]
    recorder.wait_status(lambda s: (s["last_saved"] or {}).get("episode_index") == 1 and s["state"] == "idle", 30,
                         "episode 1 saved by max_episode_s")
    meta = read_yaml(session / "episode_000001" / "episode.yaml")
    assert meta["task"] == "stack" and meta["status"] == "complete"
    pub.stop()


def test_sigkill_mid_episode_keeps_earlier_episodes_and_marks_the_cut_one(recorder, load, tmp_path):
    setup = recorder.setup_file([
        {"name": "/joint_states", "type": JS, "qos": "reliable", "depth": 500},
        {"name": "/cameras/cam0/image_raw", "type": IMG, "qos": "reliable", "depth": 20},
    ])
    session = tmp_path / "session"
    node = recorder.start(setup, session, flush_period_s=0.2)
    pub = load.start("--joint-hz", "200", "--cameras", "1", "--width", "320", "--height", "240", "--fps", "15",
                     "--duration", "60", "--depth", "0")       # keep all: a stalled machine delays, never drops
    assert recorder.call("start")[0]
    recorder.wait_status(lambda s: s["topics"]["/joint_states"]["count"] >= 200, 30, "episode 0 data")
    assert recorder.call("save")[0]
    assert recorder.call("start")[0]
    recorder.wait_status(lambda s: s["episode_index"] == 1 and s["topics"]["/joint_states"]["count"] >= 400, 30,
                         "episode 1 data")
    seen = recorder.status()["topics"]["/joint_states"]["count"]
    time.sleep(0.6)                                   # > flush_period_s: what was seen is on disk
    node.kill()
    pub.stop()

    ep0, ep1 = session / "episode_000000", session / "episode_000001"
    meta0 = read_yaml(ep0 / "episode.yaml")
    assert meta0["status"] == "complete" and bag_readable(ep0)
    ids0 = frame_ids(ep0)
    assert {t: len(v) for t, v in ids0.items()} == {t: v["count"] for t, v in meta0["topics"].items()}
    meta1 = read_yaml(ep1 / "episode.yaml")
    assert meta1["status"] == "incomplete" and not (ep1 / "metadata.yaml").exists() and not bag_readable(ep1)

    copy = tmp_path / "copy"
    shutil.copytree(session, copy)
    proc = subprocess.run(python_module_cmd("recorder.repair", str(copy)), capture_output=True, text=True,
                          env=ros_env(), timeout=120)
    assert proc.returncode == 0 and "episode_000001: repaired" in proc.stdout, proc.stdout + proc.stderr
    ids1 = frame_ids(copy / "episode_000001")
    js = ids1["/joint_states"]
    assert len(js) >= seen and js == list(range(js[0], js[0] + len(js)))   # gap-free up to the kill
    assert js[0] > ids0["/joint_states"][-1]
    meta1 = read_yaml(copy / "episode_000001" / "episode.yaml")
    assert meta1["status"] == "incomplete" and meta1["topics"]["/joint_states"]["count"] == len(js)

    # resuming the session repairs it too and continues with the next index
    recorder.start(setup, session)
    assert "interrupted episode episode_000001" in recorder.proc.log()
    assert bag_readable(ep1) and recorder.status()["episode_index"] == 2


def test_keyboard_front_end_in_a_terminal(recorder, load, tmp_path):
    setup = recorder.setup_file([{"name": "/joint_states", "type": JS, "qos": "reliable", "depth": 200}])
    session = tmp_path / "session"
    recorder.start(setup, session)
    pub = load.start("--joint-hz", "100", "--cameras", "0", "--duration", "60", "--depth", "50")
    master, slave = pty.openpty()
    cli = subprocess.Popen(python_module_cmd("recorder.record_cli", "--reset-time", "0.5", "--wait", "60"), stdin=slave,
                           stdout=slave, stderr=slave, env=ros_env(), start_new_session=True)
    os.close(slave)
    out = bytearray()

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            out.extend(data)
    threading.Thread(target=drain, daemon=True).start()

    def expect(text: str, timeout: float = 30.0) -> None:
        try:
            wait_for(lambda: text.encode() in out, timeout, period=0.05, what=repr(text))
        except TimeoutError as err:
            raise AssertionError(f"{err}; front end output:\n{out.decode(errors='replace')[-3000:]}") from None
        del out[:out.index(text.encode()) + len(text)]

    try:
        expect("recording episode 0", timeout=90)     # includes start-up and discovery on a loaded machine
        # the load publisher may still be matching when the front end starts the first episode
        recorder.wait_status(lambda s: s["topics"]["/joint_states"]["count"] > 10, 60, "joint states in episode 0")
        os.write(master, b"\x1b[C")                   # right arrow: save, reset 0.5 s, next
        expect("saved episode 0")
        expect("recording episode 1")
        os.write(master, b"\x1b[D")                   # left arrow: discard, reset, again
        expect("discarded episode 1 (recording)")
        expect("recording episode 1")
        recorder.wait_status(lambda s: s["topics"]["/joint_states"]["count"] > 10, 60, "joint states in episode 1")
        os.write(master, b"\x1b")                     # Esc: save and quit
        expect("saved episode 1")
        expect("done: 2 episode(s) saved")
        assert cli.wait(timeout=30) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
        os.close(master)
        pub.stop()
    recorder.wait_status(lambda s: (s["last_saved"] or {}).get("episode_index") == 1, 30, "episode 1 on disk")
    assert sorted(p.name for p in session.iterdir()) == ["episode_000000", "episode_000001", "session.yaml"]
    for ep in ("episode_000000", "episode_000001"):
        meta = read_yaml(session / ep / "episode.yaml")
        assert meta["status"] == "complete" and meta["topics"]["/joint_states"]["count"] > 0


def test_bad_setup_fails_at_startup_with_the_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [{name: /x, type: sensor_msgs/msg/Nope}]\n")
    proc = subprocess.run(python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={bad}"),
                          capture_output=True, text=True, env=ros_env(), timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "sensor_msgs/msg/Nope is not installed" in proc.stderr


# SIGKILL the recorder at the moments that used to break a session: 0, 50, 100 and 500 ms into an
# episode, and 0, 50 and 100 ms after `save` replied. Every kill is followed by a restart on the same
# session (which repairs the cut episode and must never crash). In the end every episode whose save
# replied is intact, and every cut one is readable, gap-free up to the kill.
INTO_EPISODE_MS = (0, 50, 100, 500)
AFTER_SAVE_MS = (0, 50, 100)


def test_sigkill_at_any_moment_loses_no_saved_episode_and_every_cut_one_is_repairable(recorder, load, tmp_path):
    setup = recorder.setup_file([
        {"name": "joint_states", "type": JS, "qos": "reliable", "depth": 2000},
        {"name": "cameras/cam0/image_raw", "type": IMG, "qos": "reliable", "depth": 50},
    ])
    session = tmp_path / "session"
    pub = load.start("--joint-hz", "200", "--cameras", "1", "--width", "160", "--height", "120", "--fps", "15",
                     "--duration", "600", "--depth", "1000", "--wait-subscribers", "0")
    # (keep-last: a killed reader never acks, and a keep-all writer would block on it)
    saved: dict[int, dict] = {}        # episode index -> counts the save reply said
    cut: list[int] = []
    plan = [("into", ms) for ms in INTO_EPISODE_MS] + [("after_save", ms) for ms in AFTER_SAVE_MS]
    for kind, ms in plan:
        node = recorder.start(setup, session)     # resumes the session: repairs what the last kill cut
        assert node.alive, node.log()
        if cut and cut[-1] == recorder.status()["episode_index"] - 1:
            assert f"interrupted episode episode_{cut[-1]:06d}" in node.log(), node.log()
        index = recorder.status()["episode_index"]
        ok, msg = recorder.call("start")
        assert ok, msg
        if kind == "after_save":
            recorder.wait_status(lambda s: s["topics"]["/joint_states"]["count"] >= 40, 30, "some joint states")
            ok, msg = recorder.call("save")
            assert ok and msg.startswith(f"saved episode {index} ("), msg
        time.sleep(ms / 1000)
        node.kill()
        assert "Traceback" not in node.log_path.read_text(), node.log_path.read_text()
        meta = read_yaml(session / f"episode_{index:06d}" / "episode.yaml")
        if kind == "after_save":       # the reply came after the episode was on disk
            ep = session / f"episode_{index:06d}"
            assert meta["status"] == "complete" and bag_readable(ep), (kind, ms, meta)
            saved[index] = {t: v["count"] for t, v in meta["topics"].items()}
        else:
            assert meta["status"] == "incomplete", (kind, ms, meta)
            cut.append(index)
    recorder.start(setup, session)
    assert "Traceback" not in recorder.proc.log()
    recorder.stop()
    pub.stop()

    # an independent repair run finds nothing left to do and says so for every episode
    copy = tmp_path / "copy"
    shutil.copytree(session, copy)
    proc = subprocess.run(python_module_cmd("recorder.repair", str(copy)), capture_output=True, text=True,
                          env=ros_env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert len(saved) == len(AFTER_SAVE_MS) and len(cut) == len(INTO_EPISODE_MS)
    for index, counts in saved.items():
        ep = session / f"episode_{index:06d}"
        meta = read_yaml(ep / "episode.yaml")
        assert meta["status"] == "complete" and "repaired" not in meta, meta
        ids = frame_ids(ep)
        assert {t: len(ids.get(t, [])) for t in counts} == counts and counts["/joint_states"] >= 40
        js = ids["/joint_states"]
        assert js == list(range(js[0], js[0] + len(js)))            # nothing missing inside the episode
    for index in cut:
        ep = session / f"episode_{index:06d}"
        meta = read_yaml(ep / "episode.yaml")
        assert meta["status"] == "incomplete" and meta["repaired"] and bag_readable(ep), meta
        ids = frame_ids(ep)
        js = ids.get("/joint_states", [])
        assert not js or js == list(range(js[0], js[0] + len(js)))   # a gap-free prefix (or 0 messages)
        assert meta["topics"]["/joint_states"]["count"] == len(js)


def test_a_namespaced_recorder_records_and_serves_in_its_namespace(load, tmp_path):
    """`-r __ns:=/left`: relative setup topics record /left/..., the services are /left/recorder/*,
    episode.yaml says where; nothing answers at /recorder/*."""
    import json

    import yaml
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from recorder.recorder_node import STATUS_QOS
    from robot_common.testing import NodeProcess, ProbeNode

    setup = tmp_path / "setup.yaml"
    setup.write_text(yaml.safe_dump({"topics": [{"name": "joint_states", "type": JS, "qos": "reliable",
                                                 "depth": 500}]}))
    session = tmp_path / "session"
    node = NodeProcess(python_module_cmd("recorder.recorder_node", "--ros-args", "-r", "__ns:=/left", "-p",
                                         f"setup:={setup}", "-p", f"session_dir:={session}", "-p", "fsync:=false",
                                         "-p", "robot:=fr3"), tmp_path / "recorder.log")
    pub = load.start("--joint-hz", "100", "--cameras", "0", "--duration", "60", "--depth", "200",
                     "--joint-topics", "/left/joint_states", "/joint_states")
    try:
        with ProbeNode("ns_probe") as probe:
            statuses = probe.collect(String, "/left/recorder/status", qos=STATUS_QOS)
            wait_for(lambda: bool(statuses), 60, what="/left/recorder/status")
            assert probe.call(Trigger, "/left/recorder/start", timeout=30).success
            wait_for(lambda: json.loads(statuses[-1][1].data)["topics"]["/left/joint_states"]["count"] > 50, 30,
                     what="/left/joint_states recorded")
            res = probe.call(Trigger, "/left/recorder/save", timeout=30)
            assert res.success and res.message.startswith("saved episode 0 (/left/joint_states="), res.message
            assert not probe.node.create_client(Trigger, "/recorder/start").wait_for_service(timeout_sec=1.0)
    finally:
        node.stop()
        pub.stop()
    meta = read_yaml(session / "episode_000000" / "episode.yaml")
    assert meta["namespace"] == "/left" and meta["robot"] == "fr3" and meta["robot_type"] == "fr3"
    assert list(meta["topics"]) == ["/left/joint_states"] and meta["status"] == "complete"
    assert set(frame_ids(session / "episode_000000")) == {"/left/joint_states"}


def test_resuming_a_session_with_an_unrepairable_episode_keeps_recording(recorder, tmp_path):
    session = tmp_path / "session"
    (session / "episode_000000").mkdir(parents=True)
    (session / "session.yaml").write_text("robot: so101\n")
    (session / "episode_000000" / "episode_000000_0.mcap").write_bytes(b"garbage" * 50)
    (session / "episode_000000" / "episode.yaml").write_text("status: [unclosed\n")
    setup = recorder.setup_file([{"name": "joint_states", "type": JS, "qos": "reliable"}])
    node = recorder.start(setup, session)
    assert node.alive and "episode_000000 cannot be repaired" in node.log() and "Traceback" not in node.log()
    assert recorder.status()["episode_index"] == 1
    assert recorder.call("start")[0] and recorder.call("save")[0]
    assert read_yaml(session / "episode_000001" / "episode.yaml")["status"] == "complete"
