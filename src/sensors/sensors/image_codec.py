"""sensor_msgs/Image <-> numpy through cv_bridge where it is installed, else robot_common.conversions.

Both paths give the same messages for the encodings we publish (rgb8, mono8) and read (those of
robot_common.conversions.IMAGE_ENCODINGS, e.g. 16UC1 depth from realsense2_camera).
"""
from __future__ import annotations

import importlib

import numpy as np

from robot_common.conversions import image_to_numpy, ns_to_stamp, numpy_to_image

BACKENDS = ("auto", "cv_bridge", "numpy")


class ImageCodec:
    """to_msg(array, encoding, stamp_ns, frame_id) and to_numpy(msg); `backend` names the path taken."""

    def __init__(self, prefer: str = "auto") -> None:
        if prefer not in BACKENDS:
            raise ValueError(f"image codec backend must be one of {BACKENDS}, got '{prefer}'")
        self._bridge = None
        if prefer in ("auto", "cv_bridge"):
            try:
                module = importlib.import_module("cv_bridge")
                self._bridge = module.CvBridge()
            except ImportError as e:
                if prefer == "cv_bridge":
                    raise ImportError("cv_bridge was requested but is not installed (it comes with a full ROS 2 "
                                      "install: apt install ros-$ROS_DISTRO-cv-bridge); use backend 'auto' or "
                                      "'numpy' to fall back to the workspace's own conversion") from e
        self.backend = "cv_bridge" if self._bridge is not None else "numpy"

    def to_msg(self, array: np.ndarray, encoding: str, stamp_ns: int | None = None, frame_id: str = ""):
        if self._bridge is None:
            return numpy_to_image(array, encoding, stamp_ns=stamp_ns, frame_id=frame_id)
        msg = self._bridge.cv2_to_imgmsg(np.ascontiguousarray(array), encoding=encoding)
        if stamp_ns is not None:
            msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = frame_id
        return msg

    def to_numpy(self, msg) -> np.ndarray:
        if self._bridge is None:
            return image_to_numpy(msg)
        return self._bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")


def compressed_jpeg(rgb: np.ndarray, quality: int = 90, stamp_ns: int | None = None, frame_id: str = ""):
    """sensor_msgs/CompressedImage as image_transport's compressed plugin writes it for rgb8."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {rgb.shape}")
    msg = CompressedImage()
    if stamp_ns is not None:
        msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = buf.tobytes()
    return msg


def decode_compressed(msg) -> np.ndarray:
    """CompressedImage (jpeg/png) -> HxWx3 RGB uint8."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode CompressedImage with format '{msg.format}'")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
