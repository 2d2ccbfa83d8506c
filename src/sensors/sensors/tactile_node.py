"""`sensors tactile_node`: a GelSight-type sensor (a UVC camera behind a gel) as tactile/<name>/...

Topics (relative, remappable; docs/INTERFACES.md):
  image_raw (Image rgb8), contact_mask (Image mono8, 255 = contact),
  wrench (WrenchStamped: force.x/y = mean marker displacement px, force.z = normal-load proxy >= 0),
  contact_area (Float32, fraction 0..1), difference (Image rgb8, 128 = no change),
  marker_displacement (Float32MultiArray, rows x_ref, y_ref, dx, dy, tracked).
Service: reset_reference (std_srvs/Trigger) re-captures the untouched-gel reference.

    ros2 run sensors tactile_node --ros-args --params-file config/tactile/gelsight_mini.yaml
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from .capture_loop import DISCONNECTED, CaptureLoop
from .diagnostics import HealthLimits, assess, make_status, stream_values
from .frame_source import CaptureSettings, FrameSource, SourceKind
from .image_codec import ImageCodec
from .node_params import declare, run_node, start_capture, stream_qos
from .stream_stats import StreamStats
from .tactile_processing import TactileConfig, TactileProcessor

try:
    from rclpy.node import Node
except ImportError:  # the logic modules stay importable without ROS
    Node = object  # type: ignore[assignment,misc]


def displacement_msg(table: np.ndarray):
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    msg = Float32MultiArray()
    rows, cols = table.shape
    msg.layout.dim = [MultiArrayDimension(label="markers", size=rows, stride=rows * cols),
                      MultiArrayDimension(label="x_ref,y_ref,dx,dy,tracked", size=cols, stride=cols)]
    msg.data = table.ravel().tolist()
    return msg


class TactileNode(Node):
    def __init__(self, node_name: str = "tactile_node") -> None:
        super().__init__(node_name)
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import WrenchStamped
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32, Float32MultiArray
        from std_srvs.srv import Trigger

        d = TactileConfig()
        p = {
            "sensor_name": declare(self, "sensor_name", "gelsight", "topics tactile/<name>/..., frame <name>_gel_frame"),
            "source": str(declare(self, "source", "0", "V4L2 index or path of the gel camera, a video file, or a URL",
                                  any_type=True)),
            "width": declare(self, "width", 320, "requested frame width (0: device default)"),
            "height": declare(self, "height", 240, "requested frame height (0: device default)"),
            "fps": declare(self, "fps", 25.0, "device: requested rate; file: replay rate (0: the file's own)"),
            "pixel_format": declare(self, "pixel_format", "MJPG", "V4L2 FOURCC ('' = device default)"),
            "loop": declare(self, "loop", False, "video file: start over at the end"),
            "realtime": declare(self, "realtime", True, "video file: replay at fps"),
            "frame_id": declare(self, "frame_id", "", "header.frame_id ('' = <sensor_name>_gel_frame)"),
            "skip_frames": declare(self, "skip_frames", 5, "frames ignored after (re)connecting, while exposure settles"),
            "reference_frames": declare(self, "reference_frames", d.reference_frames, "frames averaged into the reference"),
            "contact_threshold": declare(self, "contact_threshold", d.contact_threshold,
                                         "mean-channel intensity change (0..255) marking contact"),
            "blur_sigma": declare(self, "blur_sigma", d.blur_sigma, "smoothing of the change magnitude (px)"),
            "min_contact_pixels": declare(self, "min_contact_pixels", d.min_contact_pixels,
                                          "smaller contact regions are dropped as noise"),
            "marker_threshold": declare(self, "marker_threshold", d.marker_threshold,
                                        "how much darker than the gel a marker pixel is"),
            "marker_max_diameter": declare(self, "marker_max_diameter", d.marker_max_diameter, "marker size bound (px)"),
            "max_marker_step": declare(self, "max_marker_step", d.max_marker_step,
                                       "px a marker may move per frame (0: 0.45 x grid spacing)"),
            "wait_for_subscriber_s": declare(self, "wait_for_subscriber_s", 0.0, "video file: hold the replay "
                                             "until image_raw has a subscriber, at most this long (0: start at once)"),
            "qos_reliable": declare(self, "qos_reliable", False, "publish reliable instead of best effort "
                                    "(sensor-data QoS); subscribers of either kind match a reliable publisher"),
            "qos_depth": declare(self, "qos_depth", 5, "publisher history depth"),
            "reconnect_period_s": declare(self, "reconnect_period_s", 1.0, "seconds between reconnection attempts"),
            "diagnostics_period_s": declare(self, "diagnostics_period_s", 1.0, "seconds between /diagnostics"),
            "stale_after_s": declare(self, "stale_after_s", 2.0, "no frame for this long while streaming: error"),
            "image_codec": declare(self, "image_codec", "auto", "auto | cv_bridge | numpy (message conversion)"),
        }
        self.p = p
        self.sensor_name = p["sensor_name"]
        self.frame_id = p["frame_id"] or f"{self.sensor_name}_gel_frame"
        self.codec = ImageCodec(p["image_codec"])
        self.processor = TactileProcessor(TactileConfig(
            contact_threshold=float(p["contact_threshold"]), blur_sigma=float(p["blur_sigma"]),
            min_contact_pixels=int(p["min_contact_pixels"]), marker_threshold=float(p["marker_threshold"]),
            marker_max_diameter=int(p["marker_max_diameter"]), max_marker_step=float(p["max_marker_step"]),
            reference_frames=int(p["reference_frames"])))
        self._lock = threading.Lock()           # processor state: capture thread vs. service
        self._reference_done = threading.Event()
        self._skip = int(p["skip_frames"])
        self.processed = 0

        base = f"tactile/{self.sensor_name}"
        qos = stream_qos(p["qos_reliable"], p["qos_depth"])
        self.pub_image = self.create_publisher(Image, f"{base}/image_raw", qos)
        self.pub_mask = self.create_publisher(Image, f"{base}/contact_mask", qos)
        self.pub_diff = self.create_publisher(Image, f"{base}/difference", qos)
        self.pub_wrench = self.create_publisher(WrenchStamped, f"{base}/wrench", qos)
        self.pub_area = self.create_publisher(Float32, f"{base}/contact_area", qos)
        self.pub_markers = self.create_publisher(Float32MultiArray, f"{base}/marker_displacement", qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(Trigger, f"{base}/reset_reference", self._reset_reference)

        settings = CaptureSettings(p["width"], p["height"], float(p["fps"]), p["pixel_format"],
                                   realtime=p["realtime"], loop=p["loop"])
        source = FrameSource(p["source"], settings, clock_ns=lambda: self.get_clock().now().nanoseconds)
        self.stats = StreamStats(expected_fps=float(p["fps"]))
        self.limits = HealthLimits(stale_after_s=p["stale_after_s"])
        self.loop = CaptureLoop(source, self._on_frame, self._on_state, p["reconnect_period_s"], self.stats)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.get_logger().info(f"tactile sensor '{self.sensor_name}' from {source.spec}; topics "
                               f"{self.resolve_topic_name(base)}/...")
        start_capture(self, self.loop, self.pub_image, source.spec.kind is SourceKind.FILE,
                      float(p["wait_for_subscriber_s"]))

    def _on_state(self, state: str, message: str) -> None:
        if state == DISCONNECTED:  # rclpy wants one severity per call site
            self.get_logger().error(f"tactile '{self.sensor_name}': {message}")
        else:
            self.get_logger().info(f"tactile '{self.sensor_name}': {message}")
        if state == DISCONNECTED:
            self._skip = int(self.p["skip_frames"])  # the camera restarts its exposure after a reconnect

    def _on_frame(self, bgr: np.ndarray, stamp_ns: int, seq: int) -> None:
        import cv2
        from geometry_msgs.msg import WrenchStamped
        from std_msgs.msg import Float32

        from robot_common.conversions import ns_to_stamp

        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.pub_image.publish(self.codec.to_msg(rgb, "rgb8", stamp_ns, self.frame_id))
        if self._skip > 0:
            self._skip -= 1
            return
        with self._lock:
            if self.processor.has_reference and rgb.shape != self.processor.reference.shape:
                self.get_logger().warning(f"frame size changed to {rgb.shape[1]}x{rgb.shape[0]}: "
                                          "re-capturing the reference")
                self.processor.request_reference()
            if not self.processor.has_reference:
                if self.processor.add_reference_frame(rgb):
                    self._reference_done.set()
                    self.get_logger().info(f"tactile '{self.sensor_name}': reference captured, "
                                           f"{len(self.processor.markers_ref)} markers")
                return
            result = self.processor.process(rgb)
        self.processed += 1
        self.pub_mask.publish(self.codec.to_msg(result.contact_mask, "mono8", stamp_ns, self.frame_id))
        self.pub_diff.publish(self.codec.to_msg(result.difference_rgb8(), "rgb8", stamp_ns, self.frame_id))
        wrench = WrenchStamped()
        wrench.header.stamp = ns_to_stamp(stamp_ns)
        wrench.header.frame_id = self.frame_id
        wrench.wrench.force.x, wrench.wrench.force.y = float(result.shear[0]), float(result.shear[1])
        wrench.wrench.force.z = max(0.0, float(result.normal_load))
        self.pub_wrench.publish(wrench)
        self.pub_area.publish(Float32(data=float(result.contact_area)))
        self.pub_markers.publish(displacement_msg(result.displacement_table()))

    def _reset_reference(self, request, response):
        with self._lock:
            self._reference_done.clear()
            self.processor.request_reference()
        frames = self.processor.cfg.reference_frames
        period = 1.0 / self.stats.expected_fps if self.stats.expected_fps > 0 else 0.1
        if self._reference_done.wait(timeout=2.0 + 3 * frames * period):
            response.success = True
            response.message = (f"reference re-captured from {frames} frames, "
                                f"{len(self.processor.markers_ref)} markers")
        else:
            response.success = False
            response.message = (f"no reference yet: fewer than {frames} frames arrived "
                                f"(source state: {self.loop.status.state}); it is captured as soon as they do")
        return response

    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        snap = self.stats.snapshot(self.get_clock().now().nanoseconds)
        status = self.loop.status
        level, message = assess(status, snap, self.stats.expected_fps, self.limits)
        if level == 0 and not self.processor.has_reference:
            level, message = 1, "streaming; waiting for the reference frames"
        values = stream_values(status, snap, self.stats.expected_fps, self.loop.source.size)
        values.update(source=self.p["source"], reference=self.processor.has_reference,
                      markers=len(self.processor.markers_ref), frames_processed=self.processed)
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(f"{self.get_name()}: tactile {self.sensor_name}", str(self.p["source"]),
                                  level, message, values)]
        self.pub_diag.publish(msg)

    def close(self) -> None:
        self._reference_done.set()
        self.loop.stop()


def main(argv: list[str] | None = None) -> int:
    return run_node(TactileNode, argv)


if __name__ == "__main__":
    sys.exit(main())
