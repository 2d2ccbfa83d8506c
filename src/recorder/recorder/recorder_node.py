"""`recorder recorder_node`: records the topics of a setup (config/recorder/<setup>.yaml) into one
rosbag2 MCAP bag per episode, driven by the `recorder/start`, `recorder/save` and
`recorder/discard` services (relative names: `/recorder/start` in the root namespace,
`/left/recorder/start` under `namespace:=left`).

Subscriptions are raw (CDR bytes, never deserialized); a writer thread writes the bags, so a slow
disk never blocks DDS. `save` replies once the episode is on disk.
"""
from __future__ import annotations

import importlib
import json
from datetime import datetime
from pathlib import Path

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

from .bag import qos_dict
from .config import RecorderConfigError, TopicConfig, load_setup, normalize_type
from .episode_recorder import EpisodeRecorder, RecorderOptions
from .health import TopicHealth
from .repair import REPAIR_COMMAND, repair_session

# Latched status: a front end started later still gets the current state at once.
STATUS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                        history=HistoryPolicy.KEEP_LAST)
DEFAULT_OUTPUT_ROOT = "~/robot_data/recordings"

PARAMS = ParamTable("recorder_node", [
    Param("robot", "so101", "follower arm (config/robots/<robot>.yaml), stored with every episode; the "
                            "converter takes joint names and limits from it"),
    Param("setup", "sim", "topics to record: a name in config/recorder/ (sim, real) or a path to a YAML file"),
    Param("session_dir", "", "session folder; empty: <output_root>/<setup>_<robot>_<date>_<time>; an existing "
                             "one is resumed"),
    Param("output_root", DEFAULT_OUTPUT_ROOT, "where new session folders are created (~ is expanded; a relative "
                                              "path is relative to the recorder's working directory)"),
    Param("task", "", "task text stored with every episode", read_only=False),
    Param("operator", "", "who records (stored with every episode)", read_only=False),
    Param("robot_type", "", "LeRobot robot_type stored with every episode; empty: the robot's name"),
    Param("default_success", "", "success flag of new episodes: '' (unknown), 'true' or 'false'",
          choices=("", "true", "false"), read_only=False),
    Param("min_free_disk_gb", 2.0, "refuse to start an episode below this much free disk", bounds=(0.0, 1e6)),
    Param("max_episode_s", 0.0, "save automatically after this many seconds of recording; 0: no limit",
          bounds=(0.0, 1e6), read_only=False),
    Param("flush_period_s", 0.5, "hand buffered messages to the OS at least this often (what a SIGKILL can lose)",
          bounds=(0.01, 60.0)),
    Param("fsync", True, "fsync each bag, its metadata and episode.yaml before save replies (survives power loss)"),
    Param("save_timeout_s", 30.0, "save replies when the episode is on disk, or fails after this long",
          bounds=(0.1, 3600.0)),
    Param("max_backlog_mb", 2048.0, "writer queue limit; beyond it messages are dropped and reported",
          bounds=(1.0, 1e6)),
    Param("status_rate_hz", 2.0, "rate of recorder/status (also published on every state change)",
          bounds=(0.1, 100.0)),
    Param("silence_timeout_s", 1.0, "warn when a topic sends nothing for this long while recording",
          bounds=(0.01, 3600.0)),
    Param("rate_window_s", 2.0, "window over which topic rates are measured", bounds=(0.1, 60.0)),
    Param("min_rate_ratio", 0.7, "warn when a topic's rate falls below this fraction of its expected_hz",
          bounds=(0.0, 1.0)),
    Param("repair_on_start", True, "when resuming a session, make interrupted episodes readable"),
], summary="episode recorder: one rosbag2 MCAP bag per episode, services recorder/start|save|discard")


def message_class(msgtype: str):
    pkg, _, name = normalize_type(msgtype).split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise RecorderConfigError(f"message type {msgtype} is not installed: {err}") from None


def subscription_qos(topic: TopicConfig, publisher_qos: list) -> QoSProfile | None:
    """The subscriber QoS for a topic; None while 'auto' has no publisher to adapt to."""
    if topic.qos == "reliable":
        rel = ReliabilityPolicy.RELIABLE
    elif topic.qos == "best_effort":
        rel = ReliabilityPolicy.BEST_EFFORT
    elif not publisher_qos:
        return None
    elif all(q.reliability == ReliabilityPolicy.RELIABLE for q in publisher_qos):
        rel = ReliabilityPolicy.RELIABLE      # like `ros2 bag record`: reliable only if every publisher is
    else:
        rel = ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(depth=topic.depth, reliability=rel, history=HistoryPolicy.KEEP_LAST,
                      durability=DurabilityPolicy.VOLATILE)


def session_path(session_dir: str, output_root: str, setup: str, robot: str, now: datetime | None = None) -> Path:
    """The session folder: the given one, or a new dated one below output_root (~ expanded)."""
    if session_dir:
        return Path(session_dir).expanduser()
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return Path(output_root).expanduser() / f"{setup}_{robot}_{stamp}"


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        p = PARAMS.declare(self)
        from robot_common.spec import load_robot_spec

        load_robot_spec(p["robot"])          # an unknown robot fails here, with the list of known ones
        self.setup = load_setup(p["setup"])
        for topic in self.setup.topics:
            if topic.type:
                message_class(topic.type)   # a typo in the setup fails here, not mid-session
        session_dir = session_path(p["session_dir"], p["output_root"], self.setup.name, p["robot"])
        if p["repair_on_start"] and (session_dir / "session.yaml").exists():
            self._repair(session_dir)
        opts = RecorderOptions(
            robot_type=p["robot_type"] or p["robot"], robot=p["robot"], namespace=self.get_namespace(),
            task=p["task"], operator=p["operator"], setup=self.setup.name, min_free_disk_gb=p["min_free_disk_gb"],
            flush_period_s=p["flush_period_s"], fsync=p["fsync"], max_backlog_mb=p["max_backlog_mb"],
            default_success=_success(p["default_success"]))
        health = TopicHealth(window_s=p["rate_window_s"], silence_s=p["silence_timeout_s"],
                             min_rate_ratio=p["min_rate_ratio"])
        self.rec = EpisodeRecorder(session_dir, opts, health, clock_ns=lambda: self.get_clock().now().nanoseconds,
                                   on_change=self.publish_status)
        self.max_episode_s = p["max_episode_s"]
        self.save_timeout_s = p["save_timeout_s"]
        self._pending: dict[str, TopicConfig] = {}   # full topic name -> topic waiting for a type or a publisher
        self._subs = {}
        self.status_pub = self.create_publisher(String, "recorder/status", STATUS_QOS)
        for topic in self.setup.topics:
            self._pending[self.resolve_topic_name(topic.name)] = topic
        self._subscribe_pending()
        self.create_service(Trigger, "recorder/start", self._on_start)
        self.create_service(Trigger, "recorder/save", self._on_save)
        self.create_service(Trigger, "recorder/discard", self._on_discard)
        self.create_service(SetBool, "recorder/set_success", self._on_success)
        self._status_period = 1.0 / p["status_rate_hz"]
        self._last_status = 0.0
        self.create_timer(0.1, self._tick)
        self.add_on_set_parameters_callback(self._on_params)
        start = self.resolve_service_name("recorder/start")
        self.get_logger().info(f"recording setup '{self.setup.name}' for {p['robot']} into {session_dir} "
                               f"({len(self.setup.topics)} topics); waiting for {start}")
        self.publish_status()

    def _repair(self, session_dir: Path) -> None:
        for report in repair_session(session_dir):
            if report.error:
                self.get_logger().error(f"interrupted episode {report.bag.name} {report.note}; left as it is "
                                        f"(try `{REPAIR_COMMAND} {report.bag}`)")
            elif report.needed:      # (episodes repaired by an earlier run are not repeated)
                self.get_logger().warn(f"interrupted episode {report.bag.name}: {report.note}; kept as incomplete")

    # --- subscriptions -----------------------------------------------------------------------------
    def _subscribe_pending(self) -> None:
        if not self._pending:
            return
        graph = dict(self.get_topic_names_and_types())
        for name, topic in list(self._pending.items()):
            msgtype = topic.type
            if msgtype is None:
                types = graph.get(name)
                if not types:
                    continue
                msgtype = normalize_type(types[0])
                if len(types) > 1:
                    self.get_logger().warn(f"{name} has several types {types}; recording {msgtype}")
            pubs = self.get_publishers_info_by_topic(name)
            qos = subscription_qos(topic, [i.qos_profile for i in pubs])
            if qos is None:
                continue
            try:
                cls = message_class(msgtype)
            except RecorderConfigError as err:
                self.get_logger().error(f"{name}: {err}; not recorded")
                del self._pending[name]
                continue
            self._subs[name] = self.create_subscription(
                cls, name, lambda data, n=name: self.rec.on_message(n, data, self.get_clock().now().nanoseconds),
                qos, raw=True)
            self.rec.add_topic(name, msgtype, [qos_dict(i.qos_profile) for i in pubs],
                               expected_hz=topic.expected_hz, optional=topic.optional)
            del self._pending[name]
            self.get_logger().info(f"subscribed {name} [{msgtype}] {qos.reliability.name.lower()} "
                                   f"depth {qos.depth}")

    def _offered_qos(self, name: str) -> list:
        return [qos_dict(i.qos_profile) for i in self.get_publishers_info_by_topic(name)]

    # --- services ----------------------------------------------------------------------------------
    def _reply(self, response, result: tuple[bool, str]):
        response.success, response.message = result
        if result[0]:   # (rclpy: one call site, one severity)
            self.get_logger().info(result[1])
        else:
            self.get_logger().warn(result[1])
        return response

    def _on_start(self, _req, response):
        missing = [n for n, t in self._pending.items() if not t.optional]
        result = self.rec.start(qos_lookup=self._offered_qos)
        if result[0] and missing:
            result = (True, result[1] + f" (not yet subscribed, no publisher: {', '.join(missing)})")
        return self._reply(response, result)

    def _on_save(self, _req, response):
        return self._reply(response, self.rec.save(wait_s=self.save_timeout_s))

    def _on_discard(self, _req, response):
        return self._reply(response, self.rec.discard())

    def _on_success(self, req, response):
        return self._reply(response, self.rec.set_success(bool(req.data)))

    def _on_params(self, params) -> SetParametersResult:
        for prm in params:
            if prm.name in ("task", "operator"):
                setattr(self.rec.opts, prm.name, str(prm.value))
            elif prm.name == "default_success":
                self.rec.opts.default_success = _success(prm.value)
            elif prm.name == "max_episode_s":
                self.max_episode_s = float(prm.value)
        return SetParametersResult(successful=True)

    # --- periodic ----------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._subscribe_pending()
        if self.max_episode_s > 0 and self.rec.elapsed() >= self.max_episode_s:
            self.get_logger().info(f"episode reached max_episode_s={self.max_episode_s:g}")
            self.rec.save()
        now = self.get_clock().now().nanoseconds / 1e9
        if now - self._last_status >= self._status_period:
            self.publish_status()

    def publish_status(self) -> None:
        self._last_status = self.get_clock().now().nanoseconds / 1e9
        status = self.rec.status()
        for name in self._pending:
            status["topics"].setdefault(name, {"type": None, "count": 0, "rate_hz": 0.0})["subscribed"] = False
            if status["state"] == "recording" and not self._pending[name].optional:
                status["warnings"].append(f"{name}: no publisher yet, not recorded")
        self.status_pub.publish(String(data=json.dumps(status)))

    def destroy_node(self) -> None:
        """Ctrl-C / SIGTERM while recording: the bag is closed readable (marked incomplete: nobody
        saved it) before the ROS context goes."""
        rec = getattr(self, "rec", None)
        if rec is not None:
            rec.close()
            try:
                self.publish_status()
            except Exception:  # noqa: BLE001 - the context may already be shut down
                pass
        super().destroy_node()


def _success(text: str) -> bool | None:
    text = str(text).strip().lower()
    return True if text == "true" else False if text == "false" else None


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args, errors=(RecorderConfigError, OSError))   # OSError: output_root unwritable


if __name__ == "__main__":
    raise SystemExit(main())
