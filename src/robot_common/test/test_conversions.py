import numpy as np
import pytest

from robot_common.conversions import (
    IMAGE_ENCODINGS,
    MissingJointsError,
    image_to_numpy,
    joint_state_to_arrays,
    make_joint_state,
    make_trajectory,
    numpy_to_image,
    stamp_to_ns,
    trajectory_to_arrays,
)
from robot_common.timesync import find_gaps, fixed_clock, hold_last_indices, nearest_indices


def test_joint_state_reordered_by_name():
    msg = make_joint_state(["b", "a", "c"], [2.0, 1.0, 3.0], [0.2, 0.1, 0.3], stamp_ns=1_500_000_000)
    pos, vel = joint_state_to_arrays(msg, ["a", "b", "c"])
    assert pos.tolist() == [1.0, 2.0, 3.0] and vel.tolist() == [0.1, 0.2, 0.3]
    assert stamp_to_ns(msg.header.stamp) == 1_500_000_000
    with pytest.raises(MissingJointsError, match=r"lacks joints \['d'\]"):
        joint_state_to_arrays(msg, ["a", "d"])


def test_trajectory_round_trip():
    pos = np.array([[0.0, 1.0], [0.5, 1.5]])
    msg = make_trajectory(["j1", "j2"], pos, [0.1, 0.25], velocities=np.zeros_like(pos))
    names, times, back = trajectory_to_arrays(msg)
    assert names == ["j1", "j2"] and np.allclose(times, [0.1, 0.25]) and np.allclose(back, pos)
    assert msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0  # "start now"


@pytest.mark.parametrize("encoding", sorted(IMAGE_ENCODINGS))
def test_image_round_trip_every_encoding(encoding):
    dtype, ch = IMAGE_ENCODINGS[encoding]
    rng = np.random.default_rng(1)
    shape = (5, 7) if ch == 1 else (5, 7, ch)
    arr = (rng.random(shape) * 200).astype(dtype)
    msg = numpy_to_image(arr, encoding, stamp_ns=42, frame_id="cam")
    assert msg.step == 7 * ch * np.dtype(dtype).itemsize
    assert np.array_equal(image_to_numpy(msg), arr)


def test_image_with_row_padding_and_big_endian():
    class Msg:  # a driver's message: padded rows, big-endian 16-bit
        height, width, encoding, is_bigendian, step = 2, 3, "mono16", 1, 8
    arr = np.array([[1, 2, 3], [400, 500, 600]], dtype=">u2")
    rows = [arr[i].tobytes() + b"\x00\x00" for i in range(2)]
    Msg.data = b"".join(rows)
    assert image_to_numpy(Msg).tolist() == arr.astype(np.uint16).tolist()


def test_bad_images_are_clear_errors():
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        numpy_to_image(np.zeros((2, 2, 3), np.uint8), "yuv422")
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.data = bytes(msg.data)[:10]
    with pytest.raises(ValueError, match="expected 48"):
        image_to_numpy(msg)


def test_time_alignment_helpers():
    src = np.array([0.0, 0.1, 0.2, 0.5])
    q = np.array([-0.1, 0.05, 0.2, 0.45])
    assert hold_last_indices(src, q).tolist() == [-1, 0, 2, 2]
    assert hold_last_indices(src, q, tolerance=0.1).tolist() == [-1, 0, 2, -1]
    assert nearest_indices(src, q, tolerance=0.06).tolist() == [-1, 0, 2, 3]
    assert np.allclose(fixed_clock(1.0, 1.1, 30), 1.0 + np.arange(4) / 30)
    assert find_gaps(src, 0.2) == [(0.2, pytest.approx(0.3))]
