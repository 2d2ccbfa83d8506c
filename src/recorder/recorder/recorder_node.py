"""`recorder recorder_node`: records the topics of a setup (config/recorder/<setup>.yaml) into one
rosbag2 MCAP bag per episode, driven by /recorder/start, /recorder/save and /recorder/discard.

Subscriptions are raw (CDR bytes, never deserialized); a writer thread writes the bags, so saving
returns at once and the next episode can start while the previous one is closed.
"""
from __future__ import annotations

import importlib
import json
import signal
import sys
from datetime import datetime
from pathlib import Path

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from .bag import rosbags_qos
from .config import RecorderConfigError, TopicConfig, load_setup, normalize_type
from .episode_recorder import EpisodeRecorder, RecorderOptions
from .health import TopicHealth
from .repair import repair_session

STATUS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                        history=HistoryPolicy.KEEP_LAST)

PARAMETERS = {
    "setup": ("sim_so101", "recorder setup: a name in config/recorder/ or a path to a YAML file"),
    "session_dir": ("", "session folder; empty: <output_root>/<setup>_<date>_<time>; an existing one is resumed"),
    "output_root": ("output/recordings", "where new session folders are created"),
    "task": ("", "task text stored with every episode (settable while running)"),
    "operator": ("", "who records (stored with every episode; settable while running)"),
    "robot": ("", "arm being recorded (config/robots/<robot>.yaml), set by record.launch.py"),
    "robot_type": ("", "robot type stored with every episode; empty: the setup's robot_type"),
    "default_success": ("", "success flag of new episodes: '' (unknown), 'true' or 'false'"),
    "min_free_disk_gb": (2.0, "refuse to start an episode below this much free disk"),
    "max_episode_s": (0.0, "save automatically after this many seconds of recording; 0: no limit"),
    "flush_period_s": (0.5, "hand buffered messages to the OS at least this often (what a SIGKILL can lose)"),
    "fsync": (True, "fsync each bag and episode.yaml when it is saved (survives power loss)"),
    "max_backlog_mb": (2048.0, "writer queue limit; beyond it messages are dropped and reported"),
    "status_rate_hz": (2.0, "rate of /recorder/status (also published on every state change)"),
    "silence_timeout_s": (1.0, "warn when a topic sends nothing for this long while recording"),
    "rate_window_s": (2.0, "window over which topic rates are measured"),
    "min_rate_ratio": (0.7, "warn when a topic's rate falls below this fraction of its expected_hz"),
    "repair_on_start": (True, "when resuming a session, make interrupted episodes readable"),
}


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


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=text))
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.setup = load_setup(p["setup"])
        for topic in self.setup.topics:
            if topic.type:
                message_class(topic.type)   # a typo in the setup fails here, not mid-session
        session_dir = Path(p["session_dir"] or Path(p["output_root"]) /
                           f"{self.setup.name}_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
        if p["repair_on_start"] and (session_dir / "session.yaml").exists():
            for report in repair_session(session_dir):
                self.get_logger().warn(f"interrupted episode {report.bag.name}: {report.note}; kept as incomplete")
        opts = RecorderOptions(
            robot_type=p["robot_type"] or self.setup.robot_type, task=p["task"], operator=p["operator"],
            setup=self.setup.name, min_free_disk_gb=p["min_free_disk_gb"], flush_period_s=p["flush_period_s"],
            fsync=p["fsync"], max_backlog_mb=p["max_backlog_mb"], default_success=_success(p["default_success"]))
        health = TopicHealth(window_s=p["rate_window_s"], silence_s=p["silence_timeout_s"],
                             min_rate_ratio=p["min_rate_ratio"])
        self.rec = EpisodeRecorder(session_dir, opts, health, clock_ns=lambda: self.get_clock().now().nanoseconds,
                                   on_change=self.publish_status)
        self.max_episode_s = p["max_episode_s"]
        self._pending: dict[str, TopicConfig] = {}   # topics waiting for a type or a publisher
        self._subs = {}
        self.status_pub = self.create_publisher(String, "~/status", STATUS_QOS)
        for topic in self.setup.topics:
            self._pending[self.resolve_topic_name(topic.name)] = topic
        self._subscribe_pending()
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/save", self._on_save)
        self.create_service(Trigger, "~/discard", self._on_discard)
        self.create_service(SetBool, "~/set_success", self._on_success)
        self._status_period = 1.0 / max(p["status_rate_hz"], 0.1)
        self._last_status = 0.0
        self.create_timer(0.1, self._tick)
        self.add_on_set_parameters_callback(self._on_params)
        self.get_logger().info(f"recording setup '{self.setup.name}' into {session_dir} "
                               f"({len(self.setup.topics)} topics); waiting for /recorder/start")
        self.publish_status()

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
            self.rec.add_topic(name, msgtype, [rosbags_qos(i.qos_profile) for i in pubs],
                               expected_hz=topic.expected_hz, optional=topic.optional)
            del self._pending[name]
            self.get_logger().info(f"subscribed {name} [{msgtype}] {qos.reliability.name.lower()} "
                                   f"depth {qos.depth}")

    def _offered_qos(self, name: str) -> list:
        return [rosbags_qos(i.qos_profile) for i in self.get_publishers_info_by_topic(name)]

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
        return self._reply(response, self.rec.save())

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

    def shutdown(self) -> None:
        self.rec.close()
        try:
            self.publish_status()
        except Exception:  # noqa: BLE001 - the context may already be shut down (Ctrl-C)
            pass


def _success(text: str) -> bool | None:
    text = str(text).strip().lower()
    return True if text == "true" else False if text == "false" else None


def main(argv: list[str] | None = None) -> int:
    rclpy.init(args=argv)
    # SIGTERM (launch, systemd) closes the current bag cleanly like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        node = RecorderNode()
    except RecorderConfigError as err:
        print(f"recorder_node: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
