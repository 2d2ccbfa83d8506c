"""Camera inputs of the policy node: one subscription per camera, raw or JPEG, the same arrays.

`subscribe_camera(node, topic, callback, compressed=...)` subscribes either `topic`
(sensor_msgs/Image, rgb8 or bgr8) or `topic/compressed` (sensor_msgs/CompressedImage, JPEG or PNG,
as camera_node's publish_compressed or image_transport's compressed plugin publish it) and hands
`callback(rgb, msg)` an HxWx3 RGB uint8 array either way: the layout policy.inference.image_to_tensor
takes. Over a network a 640x480 camera is about 27 MB/s raw and about 1 MB/s as JPEG (docs/scaling.md).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

COMPRESSED_SUFFIX = "/compressed"


def compressed_topic(topic: str) -> str:
    """image_transport's name for a raw topic's JPEG stream: <topic>/compressed."""
    return topic if topic.endswith(COMPRESSED_SUFFIX) else topic.rstrip("/") + COMPRESSED_SUFFIX


def image_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8 or bgr8) -> HxWx3 RGB uint8; ValueError for any other layout."""
    from robot_common.conversions import image_to_numpy

    img = image_to_numpy(msg)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"need an RGB image, got encoding {msg.encoding}")
    return np.ascontiguousarray(img[:, :, ::-1]) if msg.encoding == "bgr8" else img


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG, colour as image_transport writes it) -> HxWx3 RGB uint8."""
    import cv2

    data = msg.data
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(bytes(data), dtype=np.uint8)
    bgr = cv2.imdecode(buf.astype(np.uint8, copy=False), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode CompressedImage with format '{msg.format}' ({len(buf)} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def subscribe_camera(node, topic: str, callback: Callable[[np.ndarray, object], None], *, compressed: bool = False,
                     qos=None, on_error: Callable[[str], None] | None = None):
    """Subscribe one camera; `callback(rgb, msg)` gets HxWx3 RGB uint8 and the message (its header).

    compressed: subscribe compressed_topic(topic) (sensor_msgs/CompressedImage) instead of `topic`.
    qos: default sensor-data QoS (best effort, depth 5), which matches reliable and best-effort
    publishers. A frame that cannot be decoded goes to `on_error(text)` (default: the node's
    logger, throttled) and is dropped. Returns the rclpy Subscription."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    name = compressed_topic(topic) if compressed else topic
    convert = compressed_msg_to_rgb if compressed else image_msg_to_rgb

    def report(text: str) -> None:
        if on_error is not None:
            on_error(text)
        else:
            node.get_logger().error(f"{name}: {text}", throttle_duration_sec=1.0)

    def on_msg(msg) -> None:
        try:
            rgb = convert(msg)
        except ValueError as exc:
            report(str(exc))
            return
        callback(rgb, msg)

    return node.create_subscription(CompressedImage if compressed else Image, name, on_msg,
                                    qos if qos is not None else qos_profile_sensor_data)
