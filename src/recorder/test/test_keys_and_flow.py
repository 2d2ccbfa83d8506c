"""Key decoding, the LeRobot-style episode loop, and the front end's loop driven by injected keys
against a real in-process recorder (real bags, no ROS graph)."""
import io
import subprocess
import sys

from recorder.episode_recorder import EpisodeRecorder, RecorderOptions
from recorder.flow import DISCARD, DONE, MARK_FAILURE, RECORDING, RESETTING, SAVE, START, EpisodeFlow
from recorder.keys import ESC, FAILURE, LEFT, RIGHT, SUCCESS, KeyDecoder
from recorder.layout import read_yaml
from recorder.record_cli import NOT_A_TTY, run, status_line
from robot_common.testing import ros_env


def test_decoder_arrows_esc_and_split_sequences():
    d = KeyDecoder(esc_timeout_s=0.05)
    assert d.feed(b"\x1b[C\x1b[D\x1bOC\x1bOD", 0.0) == [RIGHT, LEFT, RIGHT, LEFT]
    assert d.feed(b"\x1b", 1.0) == [] and d.feed(b"[", 1.01) == [] and d.feed(b"C", 1.02) == [RIGHT]
    assert d.feed(b"\x1b", 2.0) == [] and d.flush(2.01) == [] and d.flush(2.06) == [ESC]
    assert d.feed(b"\x1b[A\x1b[1;5C", 3.0) == []                  # up arrow, ctrl-right: ignored
    assert d.feed(b"xqYn", 4.0) == [ESC, SUCCESS, FAILURE]
    assert d.feed(b"\x1b\x1b[D", 5.0) == [ESC, LEFT]


def test_flow_like_lerobot():
    f = EpisodeFlow(num_episodes=2, episode_time_s=10.0, reset_time_s=3.0)
    assert f.begin(0.0) == [START] and f.state == RECORDING
    assert f.tick(5.0) == [] and f.remaining_s(5.0) == 5.0
    assert f.on_key(LEFT, 6.0) == [DISCARD] and f.state == RESETTING and f.saved == 0
    assert f.on_key(LEFT, 6.5) == []                               # nothing saved to discard
    assert f.tick(9.5) == [START]                                   # reset over: re-record
    assert f.tick(19.5) == [SAVE] and f.saved == 1 and f.state == RESETTING   # episode time up
    assert f.on_key(FAILURE, 20.0) == [MARK_FAILURE]               # about the episode just saved
    assert f.on_key(LEFT, 20.0) == [DISCARD] and f.saved == 0       # drop the one just saved
    assert f.on_key(RIGHT, 21.0) == [START]                         # skip the rest of the reset
    assert f.on_key(RIGHT, 22.0) == [SAVE] and f.saved == 1
    assert f.on_key(RIGHT, 23.0) == [START]
    assert f.on_key(RIGHT, 24.0) == [SAVE] and f.state == DONE and f.saved == 2   # num_episodes reached
    assert f.on_key(RIGHT, 25.0) == []


def test_flow_esc_saves_and_stops_and_start_failures_pause():
    f = EpisodeFlow()
    f.begin(0.0)
    f.start_failed(0.1, "disk full")
    assert "could not start: disk full" in f.message and f.tick(100.0) == []
    assert f.on_key(RIGHT, 101.0) == [START]
    assert f.on_key(ESC, 102.0) == [SAVE] and f.state == DONE and f.saved == 1
    g = EpisodeFlow(reset_time_s=5.0)
    g.begin(0.0)
    g.on_key(RIGHT, 1.0)
    assert g.on_key(ESC, 2.0) == [] and g.state == DONE           # Esc in the reset phase: just stop


class ScriptedKeys:
    """Key presses at given (fake) times, read like a terminal would deliver them."""

    def __init__(self, clock, script):
        self.clock, self.script = clock, list(script)

    def read(self, timeout):
        self.clock[0] += timeout
        keys = []
        while self.script and self.script[0][0] <= self.clock[0]:
            keys.append(self.script.pop(0)[1])
        return keys


class LocalClient:
    """The front end's client interface served by a real EpisodeRecorder in this process."""

    def __init__(self, rec, feed):
        self.rec, self.feed, self.calls = rec, feed, []

    @property
    def status(self):
        return self.rec.status()

    def call(self, action):
        self.calls.append(action)
        fn = {"start": self.rec.start, "save": self.rec.save, "discard": self.rec.discard,
              "mark_success": lambda: self.rec.set_success(True),
              "mark_failure": lambda: self.rec.set_success(False)}[action]
        result = fn()
        if action == "start" and result[0]:
            self.feed()
        return result


def test_front_end_loop_records_saves_discards_and_stops(tmp_path):
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    rec = EpisodeRecorder(tmp_path, RecorderOptions(robot_type="so101", fsync=False))
    rec.add_topic("/note", "std_msgs/msg/String")

    def feed():                                           # the robot publishes while recording
        for i in range(25):
            msg = store.types["std_msgs/msg/String"](data=f"msg {i}")
            rec.on_message("/note", bytes(store.serialize_cdr(msg, "std_msgs/msg/String")))

    clock = [0.0]
    keys = ScriptedKeys(clock, [(1.0, RIGHT), (1.5, RIGHT), (2.0, RIGHT), (2.2, SUCCESS), (2.5, LEFT),
                                (3.0, RIGHT), (3.2, LEFT), (3.5, RIGHT), (4.0, ESC)])
    out = io.StringIO()
    flow = EpisodeFlow(reset_time_s=60.0)
    client = LocalClient(rec, feed)
    assert run(flow, client, keys, out=out, clock=lambda: clock[0], period_s=0.1) == 0
    assert client.calls == ["start", "save", "start", "save", "mark_success", "discard", "start", "discard",
                            "start", "save"]
    assert rec.close()
    text = out.getvalue()
    assert "saved episode 0" in text and "discarded episode 1 (last saved)" in text
    assert "discarded episode 1 (recording)" in text and "done: 2 episode(s)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_000000", "episode_000001", "session.yaml"]
    meta = read_yaml(tmp_path / "episode_000001" / "episode.yaml")
    assert meta["status"] == "complete" and meta["topics"]["/note"]["count"] == 25
    assert meta["success"] is None                        # the episode marked a success was dropped


def test_status_line_shows_progress_and_warnings():
    f = EpisodeFlow(episode_time_s=30.0)
    f.begin(0.0)
    status = {"episode_index": 4, "elapsed_s": 12.0, "warnings": ["/x silent: nothing for 2.0 s", "b"],
              "topics": {"/joint_states": {"count": 6000, "rate_hz": 500.0},
                         "/cameras/front/image_raw": {"count": 360, "rate_hz": 30.0}}}
    line = status_line(f, status, 12.0)
    assert line.startswith("REC ep 4  12.0s (18.0s left)")
    assert "/joint_states:6000@500Hz" in line and "front:360@30Hz" in line and "! /x silent" in line


def test_not_a_terminal_is_said_clearly():
    proc = subprocess.run([sys.executable, "-m", "recorder.record_cli"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=ros_env(), timeout=60)
    assert proc.returncode == 2
    assert NOT_A_TTY.splitlines()[0] in proc.stderr and "/recorder/start" in proc.stderr
