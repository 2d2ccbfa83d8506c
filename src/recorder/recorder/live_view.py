"""`recorder live_view`: the setup's cameras, tactile images, leader and follower joints and the
arm/gripper commands, streamed live to a rerun viewer (docs/view.md).

    ros2 run recorder live_view --ros-args -p setup:=sim
    ros2 launch teleop teleop.launch.py ... display:=true      # what display:=true starts
    ros2 run recorder record --display                          # the record CLI starts one too

The topics are those of config/recorder/<setup>.yaml (relative: resolved in this node's
namespace). The viewer is spawned when there is a display, else served on a local web port
(http://localhost:<web_port>). It stays out of the control loop's way: every subscription is best
effort with depth 1 (a reliable publisher never waits for this reader), and the readers are polled
by timers at max_plot_hz / max_image_hz (the newest sample of each, on a node no executor spins),
so Python work follows the view's rate, not the 500 Hz publishers'; the process is a separate one
from teleop and recorder.
"""
from __future__ import annotations

import os

import numpy as np
from rclpy.node import Node

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

PARAMS = ParamTable("live_view", [
    Param("setup", "sim", "topics to show: those of config/recorder/<setup>.yaml (sim, real or a path)"),
    Param("viewer", "auto", "spawn: a native viewer; web: serve the web viewer on web_port; grpc: only serve the "
          "stream (connect with `rerun --connect`); auto: spawn with a display, else web",
          choices=("auto", "spawn", "web", "grpc")),
    Param("web_port", 9090, "web viewer port (viewer web)", bounds=(1, 65535)),
    Param("grpc_port", 9876, "rerun's gRPC stream port (spawn: the native viewer's; web/grpc: served here)",
          bounds=(1, 65535)),
    Param("max_image_hz", 10.0, "images logged per second and stream at most (the reader is polled at this rate; 0: every "
          "image, through a callback each)", bounds=(0.0, 1000.0)),
    Param("max_plot_hz", 50.0, "joint, command and tactile samples logged per second and stream at "
          "most (polled; 0: every sample, through a callback each)", bounds=(0.0, 10000.0)),
    Param("save", "", "write the stream to this .rrd file instead of a viewer (open it later with `rerun FILE`)"),
    Param("nice", 10, "scheduling niceness added to this process: on a busy CPU the control loops run first "
          "(0: unchanged)", bounds=(0, 19)),
    Param("memory_limit", "25%", "viewer / server memory cap; the oldest data is dropped beyond it"),
], summary="a live rerun view of cameras, tactile, leader/follower joints and commands")

IMAGE = "sensor_msgs/msg/Image"
PLOTTED = ("sensor_msgs/msg/JointState", "trajectory_msgs/msg/JointTrajectory", "std_msgs/msg/Float64MultiArray",
           "geometry_msgs/msg/WrenchStamped", "std_msgs/msg/Float32", "std_msgs/msg/Bool")
TIMELINE = "ros_time"
CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}


def series(msgtype: str, msg) -> dict[str, tuple[list[float], list[str]]]:
    """Sub-entity -> (values, series names) of a plotted message."""
    if msgtype == "sensor_msgs/msg/JointState":
        return {"position": (list(msg.position), list(msg.name))}
    if msgtype == "trajectory_msgs/msg/JointTrajectory":
        return {"positions": (list(msg.points[0].positions), list(msg.joint_names))} if msg.points else {}
    if msgtype == "std_msgs/msg/Float64MultiArray":
        return {"data": (list(msg.data), [str(i) for i in range(len(msg.data))])}
    if msgtype == "geometry_msgs/msg/WrenchStamped":
        f = msg.wrench.force
        return {"force": ([f.x, f.y, f.z], ["x", "y", "z"])}
    return {"data": ([float(msg.data)], ["data"])}


def image_array(msg) -> np.ndarray | None:
    """HxWxC uint8 of an 8-bit Image (rgb/bgr/mono); None for other encodings."""
    channels = CHANNELS.get(msg.encoding)
    if channels is None or msg.height == 0:
        return None
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding.startswith("bgr"):
        img = img[..., [2, 1, 0, *([3] if channels == 4 else [])]]
    return img[..., 0] if channels == 1 else img


def message_class(msgtype: str):
    """The rclpy message class of 'pkg/msg/Type'."""
    import importlib

    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


class LiveView(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("live_view", **kwargs)
        import rerun as rr
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        from .config import load_setup

        p = PARAMS.declare(self)
        if p["nice"]:
            os.nice(int(p["nice"]))   # before rerun's and DDS's threads are busy: they inherit it
        setup = load_setup(p["setup"])
        self.rec = rr.RecordingStream("robot_ws_live", recording_id=f"live-{os.getpid()}")
        self.where = self._connect(p)
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.logged: dict[str, int] = {}
        self._named: set[str] = set()
        # polled readers live on a node that no executor spins: DDS keeps each one's newest sample,
        # and Python touches a stream only at the view's rate, not at the publisher's (500 Hz)
        self._readers = Node("live_view_readers", namespace=self.get_namespace(), context=self.context)
        polled: dict[float, list] = {}
        for topic in setup.topics:
            if topic.type != IMAGE and topic.type not in PLOTTED:
                continue
            hz = float(p["max_image_hz"] if topic.type == IMAGE else p["max_plot_hz"])
            cls = message_class(topic.type)
            entity = self.resolve_topic_name(topic.name)
            self.logged[entity] = 0
            if hz > 0:
                sub = self._readers.create_subscription(cls, topic.name, lambda _m: None, qos, raw=True)
                polled.setdefault(hz, []).append((sub, entity, topic.type, cls))
            else:   # every message: a callback per sample
                self.create_subscription(cls, topic.name, self._callback(entity, topic.type, cls), qos, raw=True)
        for hz, subs in polled.items():
            self.create_timer(1.0 / hz, lambda subs=subs: self._poll(subs))
        self.get_logger().info(f"live view of {len(self.logged)} topics of setup '{setup.name}': {self.where}")

    def _connect(self, p: dict) -> str:
        import rerun as rr

        if p["save"]:
            self.rec.save(p["save"])
            return f"file {p['save']}"
        mode = p["viewer"]
        if mode == "auto":
            mode = "spawn" if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else "web"
        if mode == "spawn":
            self.rec.spawn(port=p["grpc_port"], memory_limit=p["memory_limit"])
            return f"native viewer (port {p['grpc_port']})"
        uri = self.rec.serve_grpc(grpc_port=p["grpc_port"], server_memory_limit=_as_bytes_limit(p["memory_limit"]))
        if mode == "web":
            rr.serve_web_viewer(web_port=p["web_port"], open_browser=False, connect_to=uri)
            return f"web viewer http://localhost:{p['web_port']} (stream {uri})"
        return f"stream {uri} (rerun --connect {uri})"

    def _callback(self, entity: str, msgtype: str, cls):
        from rclpy.serialization import deserialize_message

        def on_raw(raw: bytes) -> None:
            self._log(entity, msgtype, deserialize_message(raw, cls))
        return on_raw

    def _poll(self, subs: list) -> None:
        """Take the newest unseen sample of each polled stream (none: nothing new since the last poll)."""
        for sub, entity, msgtype, cls in subs:
            try:
                with sub.handle:
                    taken = sub.handle.take_message(cls, False)
            except Exception:  # noqa: BLE001 - a reader torn down at shutdown
                return
            if taken is not None:
                self._log(entity, msgtype, taken[0])

    def _log(self, entity: str, msgtype: str, msg) -> None:
        import rerun as rr

        header = getattr(msg, "header", None)
        stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec if header is not None else 0
        self.rec.set_time(TIMELINE, timestamp=np.datetime64(stamp or self.get_clock().now().nanoseconds, "ns"))
        if msgtype == IMAGE:
            img = image_array(msg)
            if img is None:
                return
            self.rec.log(entity, rr.Image(img))
        else:
            for sub, (values, names) in series(msgtype, msg).items():
                path = f"{entity}/{sub}"
                if path not in self._named:
                    self.rec.log(path, rr.SeriesLines(names=names), static=True)
                    self._named.add(path)
                self.rec.log(path, rr.Scalars(np.asarray(values, dtype=np.float64)))
        self.logged[entity] += 1

    def destroy_node(self) -> bool:
        self._readers.destroy_node()
        self.get_logger().info("live view logged " + ", ".join(f"{k} {v}" for k, v in self.logged.items()))
        try:
            self.rec.flush()
            self.rec.disconnect()
        except Exception:  # noqa: BLE001 - a viewer that went away must not stop the shutdown
            pass
        return super().destroy_node()


def _as_bytes_limit(limit: str) -> str:
    """rerun's server limit takes sizes (1GiB); a percentage means of this machine's memory."""
    if not limit.endswith("%"):
        return limit
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(total * float(limit[:-1]) / 100 / 2**20)}MiB"


def main(args: list[str] | None = None) -> int:
    return run_node(LiveView, args)


if __name__ == "__main__":
    import sys

    sys.exit(main())
