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
from rclpy.node import Node

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

from .capture_loop import DISCONNECTED, CaptureLoop
from .diagnostics import HealthLimits, assess, make_status, stream_values
from .frame_source import CaptureSettings, FrameSource, SourceKind
from .image_codec import ImageCodec
from .stream_setup import start_capture, stream_qos
from .stream_stats import StreamStats
from .tactile_processing import TactileConfig, TactileProcessor


def displacement_msg(table: np.ndarray):
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    msg = Float32MultiArray()
    rows, cols = table.shape
    msg.layout.dim = [MultiArrayDimension(label="markers", size=rows, stride=rows * cols),
                      MultiArrayDimension(label="x_ref,y_ref,dx,dy,tracked", size=cols, stride=cols)]
    msg.data = table.ravel().tolist()
    return msg


_GEL = TactileConfig()   # the processing defaults are defined once, in TactileConfig

PARAMS = ParamTable("tactile_node", [
    Param("sensor_name", "gelsight", "topics tactile/<name>/..., frame <name>_gel_frame"),
    # dynamic typing: `-p source:=0` (an int on the command line) is the V4L2 index "0"
    Param("source", "0", "V4L2 index or path of the gel camera, a video file, or a URL", dynamic_typing=True),
    Param("width", 320, "requested frame width (0: device default)", bounds=(0, 16384)),
    Param("height", 240, "requested frame height (0: device default)", bounds=(0, 16384)),
    Param("fps", 25.0, "device: requested rate; file: replay rate (0: the file's own)", bounds=(0.0, 1000.0)),
    Param("pixel_format", "MJPG", "V4L2 FOURCC ('' = device default)"),
    Param("loop", False, "video file: start over at the end"),
    Param("realtime", True, "video file: replay at fps"),
    Param("frame_id", "", "header.frame_id ('' = <sensor_name>_gel_frame)"),
    Param("skip_frames", 5, "frames ignored after (re)connecting, while exposure settles", bounds=(0, 10000)),
    Param("reference_frames", _GEL.reference_frames, "frames averaged into the untouched-gel reference",
          bounds=(1, 1000)),
    Param("contact_threshold", _GEL.contact_threshold, "mean-channel intensity change (0..255) marking contact",
          bounds=(0.0, 255.0)),
    Param("blur_sigma", _GEL.blur_sigma, "smoothing of the change magnitude (px)", bounds=(0.0, 100.0)),
    Param("min_contact_pixels", _GEL.min_contact_pixels, "smaller contact regions are dropped as noise",
          bounds=(0, 10_000_000)),
    Param("marker_threshold", _GEL.marker_threshold, "how much darker than the gel a marker pixel is",
          bounds=(0.0, 255.0)),
    Param("marker_max_diameter", _GEL.marker_max_diameter, "marker size bound (px)", bounds=(1, 10000)),
    Param("max_marker_step", _GEL.max_marker_step, "px a marker may move per frame (0: 0.45 x grid spacing)",
          bounds=(0.0, 10000.0)),
    Param("wait_for_subscriber_s", 0.0, "video file: hold the replay until image_raw has a subscriber, at most "
          "this long (0: start at once)", bounds=(0.0, 3600.0)),
    Param("qos_reliable", False, "publish reliable instead of best effort (sensor-data QoS); subscribers of "
          "either kind match a reliable publisher"),
    Param("qos_depth", 5, "publisher history depth", bounds=(1, 10000)),
    Param("reconnect_period_s", 1.0, "seconds between reconnection attempts", bounds=(0.01, 3600.0)),
    Param("diagnostics_period_s", 1.0, "seconds between /diagnostics", bounds=(0.01, 3600.0)),
    Param("stale_after_s", 2.0, "no frame for this long while streaming: ERROR on diagnostics",
          bounds=(0.01, 3600.0)),
    Param("image_codec", "auto", "message conversion: cv_bridge when installed (auto), or the workspace's numpy "
          "conversion", choices=("auto", "cv_bridge", "numpy")),
], summary="a GelSight-type sensor (a camera behind a gel) as contact mask, area, shear and load estimates")


class TactileNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("tactile_node", **kwargs)
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import WrenchStamped
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32, Float32MultiArray
        from std_srvs.srv import Trigger

        p = PARAMS.declare(self)
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
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)  # ROS-wide by convention
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

    def destroy_node(self) -> None:
        """Stop the capture thread (it publishes) before the node and its publishers go."""
        self._reference_done.set()
        self.loop.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(TactileNode, args, name="tactile_node")


if __name__ == "__main__":
    sys.exit(main())
