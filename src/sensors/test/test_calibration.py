"""Calibration YAML -> CameraInfo, scaling to the delivered resolution, and clear errors."""
import numpy as np
import pytest

from sensors.calibration import Calibration, CalibrationError, load_calibration


def test_workspace_calibration_loads_and_scales():
    cal = load_calibration("config/cameras/front_calibration.yaml")
    assert cal.calibrated and (cal.width, cal.height) == (640, 480)
    msg = cal.to_msg(stamp_ns=3_000_000_001, frame_id="front_optical_frame")
    assert msg.k[0] == pytest.approx(457.0) and msg.p[2] == pytest.approx(319.5) and len(msg.d) == 5
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 1)
    half = cal.scaled_to(320, 240)
    np.testing.assert_allclose(half.k, [[228.5, 0, 159.75], [0, 228.5, 119.75], [0, 0, 1]])
    assert half.p[0, 0] == pytest.approx(228.5)
    with pytest.raises(CalibrationError, match="different aspect ratio"):
        cal.scaled_to(640, 360)


def test_wrist_calibration_loads():
    assert load_calibration("config/cameras/wrist_calibration.yaml").k[0, 0] == pytest.approx(320.0)


def test_uncalibrated_follows_ros_convention():
    msg = Calibration.uncalibrated(320, 240).to_msg()
    assert (msg.width, msg.height) == (320, 240) and not any(msg.k)


def test_bad_files_say_what_is_wrong(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(str(tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2, 3]}\n")
    with pytest.raises(CalibrationError, match="'camera_matrix' needs 3x3 finite numbers, got 3"):
        load_calibration(str(bad))
    bad.write_text("image_width: wide\n")
    with pytest.raises(CalibrationError, match="image_width and image_height must be integers"):
        load_calibration(str(bad))
    bad.write_text("image_width: 640\nimage_height: 480\n")
    with pytest.raises(CalibrationError, match="missing 'camera_matrix'"):
        load_calibration(f"file://{bad}")
