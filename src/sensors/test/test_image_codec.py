"""Image message conversion: the workspace's numpy path both ways for every encoding, cv_bridge
chosen when importable (and compared with ours where it is installed)."""
import importlib.util
import sys
import types

import numpy as np
import pytest

from robot_common.conversions import IMAGE_ENCODINGS
from sensors.image_codec import ImageCodec, compressed_jpeg, decode_compressed

HAVE_CV_BRIDGE = importlib.util.find_spec("cv_bridge") is not None
BACKENDS = ["numpy"] + (["cv_bridge"] if HAVE_CV_BRIDGE else [])


def sample(encoding: str, h: int = 7, w: int = 5) -> np.ndarray:
    dtype, channels = IMAGE_ENCODINGS[encoding]
    rng = np.random.default_rng(len(encoding))
    if dtype == "float32":
        arr = rng.normal(0, 100, (h, w, channels)).astype(np.float32)
    else:
        arr = rng.integers(0, np.iinfo(dtype).max, (h, w, channels), endpoint=True).astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("encoding", sorted(IMAGE_ENCODINGS))
def test_round_trip_every_encoding(backend, encoding):
    codec = ImageCodec(backend)
    assert codec.backend == backend
    arr = sample(encoding)
    msg = codec.to_msg(arr, encoding, stamp_ns=1_500_000_123, frame_id="front_optical_frame")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    assert (msg.height, msg.width, msg.encoding) == (7, 5, encoding)
    assert msg.step == 5 * channels * np.dtype(dtype).itemsize and len(msg.data) == msg.step * 7
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1, 500_000_123)
    assert msg.header.frame_id == "front_optical_frame"
    back = codec.to_numpy(msg)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_published_rgb8_bytes_are_row_major_rgb():
    """What a subscriber in any language reads: R, G, B of pixel (0, 0) first."""
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 0] = (10, 20, 30)
    arr[1, 2] = (40, 50, 60)
    msg = ImageCodec("numpy").to_msg(arr, "rgb8")
    data = bytes(msg.data)
    assert data[:3] == bytes([10, 20, 30]) and data[-3:] == bytes([40, 50, 60])


def test_mask_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="mono8 needs HxWx1"):
        ImageCodec("numpy").to_msg(np.zeros((4, 4, 3), np.uint8), "mono8")


def _layout_reference(arr: np.ndarray, encoding: str):
    """The message cv_bridge.cv2_to_imgmsg builds (data = the array's bytes, step = bytes per row),
    written out independently of both codecs."""
    return types.SimpleNamespace(height=arr.shape[0], width=arr.shape[1], encoding=encoding,
                                 is_bigendian=int(sys.byteorder == "big"), step=arr.nbytes // arr.shape[0],
                                 data=np.ascontiguousarray(arr).tobytes())


@pytest.mark.parametrize("encoding", sorted(IMAGE_ENCODINGS))
def test_numpy_path_matches_cv_bridge_layout(encoding):
    arr = sample(encoding)
    ours = ImageCodec("numpy").to_msg(arr, encoding)
    references = [_layout_reference(arr, encoding)]
    if HAVE_CV_BRIDGE:  # a full ROS install: compare with the real thing as well
        references.append(ImageCodec("cv_bridge").to_msg(arr, encoding))
    for ref in references:
        assert (ours.height, ours.width, ours.step, ours.encoding, ours.is_bigendian) == \
            (ref.height, ref.width, ref.step, ref.encoding, ref.is_bigendian)
        assert bytes(ours.data) == bytes(ref.data)
        np.testing.assert_array_equal(ImageCodec("numpy").to_numpy(ref), arr)


class _RecordingBridge:
    """Stands in for cv_bridge.CvBridge only to see which path ImageCodec takes."""
    calls: list = []

    def cv2_to_imgmsg(self, arr, encoding):
        from robot_common.conversions import numpy_to_image

        self.calls.append(("to", encoding))
        return numpy_to_image(arr, encoding)

    def imgmsg_to_cv2(self, msg, desired_encoding):
        from robot_common.conversions import image_to_numpy

        self.calls.append(("from", desired_encoding))
        return image_to_numpy(msg)


def test_cv_bridge_is_chosen_when_importable(monkeypatch):
    fake = types.ModuleType("cv_bridge")
    fake.CvBridge = _RecordingBridge
    monkeypatch.setitem(sys.modules, "cv_bridge", fake)
    _RecordingBridge.calls = []
    codec = ImageCodec("auto")
    assert codec.backend == "cv_bridge"
    msg = codec.to_msg(np.zeros((2, 2, 3), np.uint8), "rgb8", stamp_ns=7, frame_id="f")
    assert msg.header.stamp.nanosec == 7 and msg.header.frame_id == "f"
    codec.to_numpy(msg)
    assert _RecordingBridge.calls == [("to", "rgb8"), ("from", "passthrough")]
    assert ImageCodec("numpy").backend == "numpy"  # an explicit choice wins


def test_missing_cv_bridge_falls_back_or_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv_bridge", None)  # import fails as on this machine
    assert ImageCodec("auto").backend == "numpy"
    with pytest.raises(ImportError, match="cv_bridge was requested but is not installed"):
        ImageCodec("cv_bridge")
    with pytest.raises(ValueError, match="must be one of"):
        ImageCodec("turbo")


def test_compressed_jpeg_round_trip():
    from sensors.synthetic_video import pattern_frame

    rgb = pattern_frame(3)
    msg = compressed_jpeg(rgb, quality=95, stamp_ns=42, frame_id="front_optical_frame")
    assert msg.format.startswith("rgb8; jpeg") and msg.header.stamp.nanosec == 42
    back = decode_compressed(msg)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 3
