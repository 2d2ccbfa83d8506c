"""`sensors camera_node`: a V4L2 camera, video file or stream URL as cameras/<name>/image_raw (rgb8,
stamped at capture) + camera_info, optional image_raw/compressed, and health on /diagnostics.

    ros2 run sensors camera_node --ros-args -p camera_name:=front -p source:=/dev/video0 \
        -p camera_info_url:=config/cameras/front_calibration.yaml
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

from .calibration import Calibration, CalibrationError, load_calibration
from .capture_loop import DISCONNECTED, CaptureLoop
from .diagnostics import HealthLimits, assess, make_status, stream_values
from .frame_source import CaptureSettings, FrameSource, SourceKind
from .image_codec import ImageCodec, compressed_jpeg
from .stream_setup import start_capture, stream_qos
from .stream_stats import StreamStats

PARAMS = ParamTable("camera_node", [
    Param("camera_name", "camera", "camera name: topics cameras/<name>/..., frame <name>_optical_frame"),
    # dynamic typing: `-p source:=0` (an int on the command line) is the V4L2 index "0"
    Param("source", "0", "V4L2 index ('0') or path ('/dev/video0', better /dev/v4l/by-id/...), a video file, "
          "or a URL", dynamic_typing=True),
    Param("width", 640, "requested frame width (0: device default; files keep their own)", bounds=(0, 16384)),
    Param("height", 480, "requested frame height (0: device default)", bounds=(0, 16384)),
    Param("fps", 30.0, "device: requested rate; file: replay rate (0: the file's own)", bounds=(0.0, 1000.0)),
    Param("pixel_format", "MJPG", "V4L2 FOURCC, e.g. MJPG (640x480@30 on USB 2) or YUYV (uncompressed); "
          "'' = device default"),
    Param("resize", False, "resize frames to width x height when the source delivers another size"),
    Param("frame_id", "", "header.frame_id ('' = <camera_name>_optical_frame)"),
    Param("camera_info_url", "", "calibration YAML (path, file:// URL or config/cameras/<file>.yaml); "
          "'' publishes an uncalibrated CameraInfo"),
    Param("publish_compressed", False, "also publish image_raw/compressed (JPEG)"),
    Param("jpeg_quality", 90, "JPEG quality of image_raw/compressed", bounds=(1, 100)),
    Param("loop", False, "video file: start over at the end"),
    Param("realtime", True, "video file: replay at fps instead of as fast as decoded"),
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
], summary="a V4L2 camera, video file or stream URL as cameras/<name>/image_raw + camera_info")


class CameraNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("camera_node", **kwargs)
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        p = PARAMS.declare(self)
        self.p = p
        self.camera_name = p["camera_name"]
        self.frame_id = p["frame_id"] or f"{self.camera_name}_optical_frame"
        self.codec = ImageCodec(p["image_codec"])
        self.calibration: Calibration | None = None
        self._cal_for: tuple[int, int] | None = None
        self._cal_msg = None
        if p["camera_info_url"]:
            try:
                self.calibration = load_calibration(p["camera_info_url"])
            except CalibrationError as e:
                raise ValueError(f"camera_info_url: {e}") from e
        base = f"cameras/{self.camera_name}"
        qos = stream_qos(p["qos_reliable"], p["qos_depth"])
        self.pub_image = self.create_publisher(Image, f"{base}/image_raw", qos)
        self.pub_info = self.create_publisher(CameraInfo, f"{base}/camera_info", qos)
        self.pub_jpeg = (self.create_publisher(CompressedImage, f"{base}/image_raw/compressed", qos)
                         if p["publish_compressed"] else None)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)  # ROS-wide by convention

        settings = CaptureSettings(p["width"], p["height"], float(p["fps"]), p["pixel_format"],
                                   realtime=p["realtime"], loop=p["loop"])
        source = FrameSource(p["source"], settings, clock_ns=lambda: self.get_clock().now().nanoseconds)
        self.stats = StreamStats(expected_fps=float(p["fps"]))
        self.limits = HealthLimits(stale_after_s=p["stale_after_s"])
        self.loop = CaptureLoop(source, self._on_frame, self._on_state, p["reconnect_period_s"], self.stats)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.get_logger().info(f"camera '{self.camera_name}' from {source.spec}; codec {self.codec.backend}; "
                               f"topics {self.resolve_topic_name(base + '/image_raw')}")
        start_capture(self, self.loop, self.pub_image, source.spec.kind is SourceKind.FILE,
                      float(p["wait_for_subscriber_s"]))

    def _camera_info(self, width: int, height: int):
        if self._cal_for != (width, height):
            self._cal_for = (width, height)
            cal = Calibration.uncalibrated(width, height)
            if self.calibration is not None:
                try:
                    cal = self.calibration.scaled_to(width, height)
                    if (width, height) != (self.calibration.width, self.calibration.height):
                        self.get_logger().warning(
                            f"calibration is for {self.calibration.width}x{self.calibration.height}; "
                            f"scaled to the delivered {width}x{height}")
                except CalibrationError as e:
                    self.get_logger().error(f"{e}; publishing an uncalibrated CameraInfo")
            self._cal_msg = cal.to_msg(frame_id=self.frame_id)
        return self._cal_msg

    def _on_frame(self, bgr: np.ndarray, stamp_ns: int, seq: int) -> None:
        import cv2

        from robot_common.conversions import ns_to_stamp

        if self.p["resize"] and self.p["width"] > 0 and self.p["height"] > 0 \
                and (bgr.shape[1], bgr.shape[0]) != (self.p["width"], self.p["height"]):
            bgr = cv2.resize(bgr, (self.p["width"], self.p["height"]), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.pub_image.publish(self.codec.to_msg(rgb, "rgb8", stamp_ns, self.frame_id))
        info = self._camera_info(rgb.shape[1], rgb.shape[0])
        info.header.stamp = ns_to_stamp(stamp_ns)
        self.pub_info.publish(info)
        if self.pub_jpeg is not None:
            self.pub_jpeg.publish(compressed_jpeg(rgb, self.p["jpeg_quality"], stamp_ns, self.frame_id))

    def _on_state(self, state: str, message: str) -> None:
        if state == DISCONNECTED:  # rclpy wants one severity per call site
            self.get_logger().error(f"camera '{self.camera_name}': {message}")
        else:
            self.get_logger().info(f"camera '{self.camera_name}': {message}")

    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        snap = self.stats.snapshot(self.get_clock().now().nanoseconds)
        level, message = assess(self.loop.status, snap, self.stats.expected_fps, self.limits)
        values = stream_values(self.loop.status, snap, self.stats.expected_fps, self.loop.source.size)
        values["source"] = self.p["source"]
        values["codec"] = self.codec.backend
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [make_status(f"{self.get_name()}: camera {self.camera_name}", str(self.p["source"]),
                                  level, message, values)]
        self.pub_diag.publish(msg)

    def destroy_node(self) -> None:
        """Stop the capture thread (it publishes) before the node and its publishers go."""
        self.loop.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args, name="camera_node")


if __name__ == "__main__":
    sys.exit(main())
