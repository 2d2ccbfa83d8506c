"""policy.camera_inputs: the same camera frames as raw sensor_msgs/Image and as the camera node's
JPEG (sensor_msgs/CompressedImage, quality 90) give the same policy preprocessing result up to JPEG
loss, over real DDS (loopback).

Tolerance, on image_to_tensor's [0, 1] scale at the policy input size 96x128 (config/policy/act_demo):
mean |raw - jpeg| <= 0.005, 99th percentile <= 0.03, max <= 0.1 (measured: about 0.0011, 0.019, 0.046).
A decoder that swapped red and blue would be far outside it (checked below)."""
from __future__ import annotations

import numpy as np
import pytest

from policy.camera_inputs import compressed_msg_to_rgb, compressed_topic, image_msg_to_rgb, subscribe_camera
from policy.inference import image_to_tensor
from robot_common.conversions import numpy_to_image, stamp_to_ns
from robot_common.testing import ProbeNode, wait_for
from sensors.image_codec import compressed_jpeg
from sensors.synthetic_video import pattern_frame

SHAPE = (96, 128)
N = 8


def differences(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    d = (image_to_tensor(a, SHAPE) - image_to_tensor(b, SHAPE)).abs().numpy()
    return float(d.mean()), float(np.percentile(d, 99)), float(d.max())


def within_tolerance(a: np.ndarray, b: np.ndarray) -> bool:
    mean, p99, worst = differences(a, b)
    return mean <= 0.005 and p99 <= 0.03 and worst <= 0.1


def test_conversions_give_the_layout_the_preprocessing_expects():
    rgb = pattern_frame(3, 64, 48)
    assert compressed_topic("/cameras/front/image_raw") == "/cameras/front/image_raw/compressed"
    assert compressed_topic("/cameras/front/image_raw/compressed") == "/cameras/front/image_raw/compressed"
    raw = image_msg_to_rgb(numpy_to_image(rgb, "rgb8"))
    assert raw.dtype == np.uint8 and raw.shape == (48, 64, 3) and np.array_equal(raw, rgb)
    assert np.array_equal(image_msg_to_rgb(numpy_to_image(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr8")), rgb)
    jpeg = compressed_msg_to_rgb(compressed_jpeg(rgb, 90))
    assert jpeg.dtype == np.uint8 and jpeg.shape == rgb.shape
    with pytest.raises(ValueError, match="RGB"):
        image_msg_to_rgb(numpy_to_image(rgb[:, :, 0], "mono8"))
    bad = compressed_jpeg(rgb, 90)
    bad.data = b"not a jpeg"
    with pytest.raises(ValueError, match="cannot decode"):
        compressed_msg_to_rgb(bad)


def test_raw_and_compressed_subscriptions_give_the_same_policy_input_up_to_jpeg_loss():
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image

    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    got: dict[str, dict[int, np.ndarray]] = {"raw": {}, "jpeg": {}}
    errors: list[str] = []
    with ProbeNode("camera_inputs_pub") as pub_node, ProbeNode("camera_inputs_sub") as sub_node:
        for kind in got:
            subscribe_camera(sub_node.node, "/cameras/front/image_raw",
                             lambda rgb, msg, k=kind: got[k].__setitem__(stamp_to_ns(msg.header.stamp), rgb),
                             compressed=kind == "jpeg", qos=qos, on_error=errors.append)
        pub_raw = pub_node.node.create_publisher(Image, "/cameras/front/image_raw", qos)
        pub_jpeg = pub_node.node.create_publisher(CompressedImage, "/cameras/front/image_raw/compressed", qos)
        wait_for(lambda: pub_raw.get_subscription_count() and pub_jpeg.get_subscription_count(), timeout=20,
                 what="the subscriptions to match")
        frames = {}
        for k in range(N):
            stamp = 1_700_000_000_000_000_000 + k * 33_333_333
            frames[stamp] = rgb = pattern_frame(k, 640, 480)
            pub_raw.publish(numpy_to_image(rgb, "rgb8", stamp_ns=stamp, frame_id="front_optical_frame"))
            pub_jpeg.publish(compressed_jpeg(rgb, 90, stamp, "front_optical_frame"))   # camera_node's encoder
        corrupt = compressed_jpeg(frames[stamp], 90, stamp + 1)
        corrupt.data = b"\xff\xd8 truncated"
        pub_jpeg.publish(corrupt)
        wait_for(lambda: len(got["raw"]) == N and len(got["jpeg"]) == N and errors, timeout=30,
                 what="every frame on both paths")
    assert len(errors) == 1 and "cannot decode" in errors[0]
    assert sorted(got["raw"]) == sorted(got["jpeg"]) == sorted(frames)
    for stamp, rgb in frames.items():
        raw, jpeg = got["raw"][stamp], got["jpeg"][stamp]
        assert raw.shape == jpeg.shape == (480, 640, 3) and raw.dtype == jpeg.dtype == np.uint8
        assert np.array_equal(raw, rgb)                       # the raw path is exact
        assert within_tolerance(raw, jpeg), differences(raw, jpeg)
        assert not within_tolerance(raw, np.ascontiguousarray(jpeg[:, :, ::-1]))   # a BGR mix-up fails
