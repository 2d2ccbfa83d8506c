"""Alignment policies on the fixed clock, and the fast image parser against rosbags' deserializer."""
from __future__ import annotations

import numpy as np
import pytest

from bag_to_dataset.align import NS, AlignmentError, StreamTimes, align_streams
from bag_to_dataset.bagio import typestore
from bag_to_dataset.messages import header_stamp_ns, image_to_rgb, parse_image_cdr


def _t(seconds) -> np.ndarray:
    return (np.asarray(seconds, dtype=np.float64) * NS).round().astype(np.int64)


def test_window_starts_when_all_streams_have_data_and_ends_at_last_common_time():
    a = StreamTimes("a", _t(np.arange(0.0, 2.0, 0.01)))
    b = StreamTimes("b", _t(np.arange(0.25, 1.5, 0.02)))
    al = align_streams([a, b], fps=10)
    assert al.start_ns == _t(0.25)
    assert al.length == 13  # 0.25 .. 1.45 (b's last sample at 1.49), 10 fps
    np.testing.assert_array_equal(al.frame_times_ns, _t(0.25) + np.arange(13) * NS // 10)
    # causal hold: each frame uses the latest sample at or before it
    assert np.all(a.times_ns[al.indices["a"]] <= al.frame_times_ns)
    assert np.all(a.times_ns[al.indices["a"] + 1] > al.frame_times_ns)


def test_policies_on_a_gap():
    t = np.r_[np.arange(0.0, 1.0, 0.05), np.arange(1.6, 3.0, 0.05)]   # 0.65 s hole
    ref = StreamTimes("ref", _t(np.arange(0.0, 3.0, 0.01)))
    hold = align_streams([ref, StreamTimes("cam", _t(t), "hold", 0.1)], fps=10)
    assert hold.report["cam"]["gaps"] == 1 and hold.report["cam"]["max_gap_s"] == pytest.approx(0.65)
    assert hold.report["cam"]["stale_frames"] == 5   # frames 1.1 .. 1.5
    drop = align_streams([ref, StreamTimes("cam", _t(t), "drop", 0.1)], fps=10)
    assert drop.length == hold.length - 5 and drop.report["cam"]["dropped_frames"] == 5
    with pytest.raises(AlignmentError, match="cam: 5 frames have no sample within 0.1 s"):
        align_streams([ref, StreamTimes("cam", _t(t), "tolerance", 0.1)], fps=10)


def test_streams_on_different_clocks_are_refused():
    with pytest.raises(AlignmentError, match="do not overlap"):
        align_streams([StreamTimes("a", _t([0.0, 1.0])), StreamTimes("b", _t([100.0, 101.0]))], fps=30)


@pytest.mark.parametrize("encoding, channels, pad", [("rgb8", 3, 0), ("bgr8", 3, 8), ("mono8", 1, 3), ("rgba8", 4, 0)])
def test_image_parser_matches_rosbags(encoding, channels, pad):
    ts = typestore()
    T = ts.types
    rng = np.random.default_rng(1)
    h, w = 6, 10
    step = w * channels + pad
    data = rng.integers(0, 256, h * step, dtype=np.uint8)
    msg = T["sensor_msgs/msg/Image"](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=12, nanosec=345), frame_id="cam_x"),
        height=h, width=w, encoding=encoding, is_bigendian=0, step=step, data=data)
    raw = ts.serialize_cdr(msg, "sensor_msgs/msg/Image")
    assert header_stamp_ns(raw) == 12 * NS + 345
    ph, pw, penc, _, pstep, pdata = parse_image_cdr(raw)
    assert (ph, pw, penc, pstep) == (h, w, encoding, step)
    np.testing.assert_array_equal(pdata, data)
    rgb = image_to_rgb(raw, "sensor_msgs/msg/Image")
    pix = data.reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    want = {"rgb8": pix, "bgr8": pix[..., ::-1], "mono8": np.repeat(pix, 3, axis=2), "rgba8": pix[..., :3]}[encoding]
    np.testing.assert_array_equal(rgb, want)
