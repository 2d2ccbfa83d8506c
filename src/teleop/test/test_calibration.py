"""Calibration math, the YAML round trip, and the `calibrate` CLI against the emulated buses."""
import math
import time

import numpy as np
import pytest
import yaml

from robot_common.paths import source_root
from robot_common.spec import load_robot_spec
from teleop import calibrate_cli
from teleop.calibration import (
    Calibration,
    CalibrationError,
    gello_offsets,
    load_calibration,
    recorded_range,
    save_calibration,
)
from teleop.leaders import ServoLeader
from teleop.servo_bus import DynamixelBus, FeetechBus
from teleop.servo_emulator import BusEmulator

CONFIG = source_root() / "config" / "teleop"


def test_gello_offsets_are_multiples_of_half_pi():
    pose = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    signs = np.array([1, 1, 1, 1, 1, -1, 1.0])
    true_offsets = np.array([1, 2, 3, 4, 0, -2, 5]) * math.pi / 2
    raw = true_offsets + signs * pose + 0.03  # 0.03 rad of slop in how the arm is held
    offsets, residual = gello_offsets(raw, pose, signs)
    np.testing.assert_allclose(offsets, true_offsets, atol=1e-9)
    np.testing.assert_allclose(residual, 0.03 * signs, atol=1e-9)


def test_multi_turn_readings_map_to_the_same_joint():
    cal = Calibration(offsets=[math.pi], signs=[-1], lower=[-2.0], upper=[2.0])
    for k in (-2, -1, 0, 1, 3):  # the servo forgot (or gained) whole turns
        assert cal.arm_from_raw([math.pi - 1.5 + 2 * math.pi * k])[0] == pytest.approx(1.5)
    # continuity: crossing the +-pi window edge does not flip the joint by 2 pi
    assert cal.arm_from_raw([math.pi - 3.3], previous=np.array([3.2]))[0] == pytest.approx(3.3)


def test_invalid_calibrations_are_rejected():
    with pytest.raises(CalibrationError, match="same length"):
        Calibration(offsets=[0, 0], signs=[1], lower=[-1, -1], upper=[1, 1])
    with pytest.raises(CalibrationError, match="signs"):
        Calibration(offsets=[0], signs=[0.5], lower=[-1], upper=[1])
    with pytest.raises(CalibrationError, match="too close"):
        Calibration(offsets=[0], signs=[1], lower=[-1], upper=[1], gripper_open=1.0, gripper_closed=1.01)
    with pytest.raises(CalibrationError, match="barely moved"):
        recorded_range(np.zeros((10, 2)), np.zeros(2), np.ones(2))


@pytest.mark.parametrize("name,robot", [("gello_franka", "fr3"), ("gello_rm65", "rm65"),
                                        ("gello_rm75", "rm75"), ("so101_leader", "so101")])
def test_shipped_templates_fit_their_robots(name, robot):
    path = CONFIG / f"{name}.yaml"
    cal = load_calibration(path)
    spec = load_robot_spec(robot)
    cal.check_robot(spec)
    params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    assert params["robot"] == robot and len(params["leader"]["ids"]) == spec.dof
    assert cal.calibrated is False  # templates must be calibrated before a leader engages


def test_save_keeps_other_parameters_and_comments(tmp_path):
    out = tmp_path / "mine.yaml"
    cal = Calibration(offsets=[0.1] * 5, signs=[1, -1, 1, 1, 1], lower=[-1] * 5, upper=[1] * 5,
                      gripper_open=4.0, gripper_closed=3.0, style="so101")
    save_calibration(out, cal, template=CONFIG / "so101_leader.yaml")
    text = out.read_text()
    assert text.startswith("# Teleop parameters")
    params = yaml.safe_load(text)["/**"]["ros__parameters"]
    assert params["leader"]["type"] == "so101" and params["calibration"]["calibrated"] is True
    assert all(isinstance(v, float) for v in params["calibration"]["signs"])  # ROS double arrays
    back = load_calibration(out)
    np.testing.assert_allclose(back.signs, cal.signs)
    assert back.gripper_open == 4.0 and back.style == "so101"


def test_gello_cli_round_trip_survives_power_cycle(tmp_path, capsys):
    """GELLO style on an emulated Dynamixel bus in multi-turn mode; after a power cycle the servos
    report other turn counts but the calibrated joints are unchanged."""
    spec = load_robot_spec("fr3")
    true_offsets = np.array([2, 6, 1, 3, 4, 0, 2]) * math.pi / 2 + 2 * math.pi  # some a turn away
    signs = np.array([1, 1, 1, 1, 1, -1, 1.0])
    with BusEmulator("dynamixel", list(range(1, 9))) as emu:
        for s in emu.servos.values():
            s.memory[11] = 4  # extended position mode: multi-turn counts, lost at power off
        emu.set_angles({i + 1: o + sg * h for i, (o, sg, h) in enumerate(zip(true_offsets, signs, spec.home))})
        gripper = {"Close": 2.6, "Open": 3.5}
        prompts = []

        def prompt(text):
            prompts.append(text)
            for word, angle in gripper.items():
                if text.startswith(word):
                    emu.set_angle(8, angle)

        out = tmp_path / "gello.yaml"
        code = calibrate_cli.main(["--leader", "gello_franka", "--port", emu.port, "--output", str(out)], prompt)
        assert code == 0 and len(prompts) == 3, capsys.readouterr().err
        cal = load_calibration(out)
        assert cal.calibrated and cal.gripper_closed == pytest.approx(2.6, abs=2e-3)
        pose = spec.home + np.array([0.3, -0.2, 0.1, 0.2, -0.4, 0.25, 1.0])
        emu.set_angles({i + 1: o + sg * q for i, (o, sg, q) in enumerate(zip(true_offsets, signs, pose))})
        emu.set_angle(8, 3.5)
        bus = DynamixelBus(emu.port, 1_000_000, list(range(1, 9)))
        leader = ServoLeader(bus, cal, spec)
        leader.open()
        before = leader.read()
        emu.power_cycle()
        assert bus.read_ticks()[0] != int(round(emu.servos[1].angle_ticks))  # the turn count changed
        leader2 = ServoLeader(bus, cal, spec)  # a fresh start (no continuity to lean on)
        after = leader2.read()
        leader.close()
    np.testing.assert_allclose(before[:7], pose, atol=3e-3)
    np.testing.assert_allclose(after, before, atol=1e-9)
    assert before[7] == pytest.approx(spec.gripper.open)


def test_so101_cli_homing_and_recorded_ranges(tmp_path, capsys):
    spec = load_robot_spec("so101")
    mid = np.array([2048, 1000, 3000, 2048, 100, 2048]) * 2 * math.pi / 4096  # joint 5 near the wrap
    with BusEmulator("feetech", list(range(1, 7))) as emu:
        emu.set_angles({i + 1: a for i, a in enumerate(mid)})
        swing = np.array([1.5, 1.2, 1.0, 1.1, 2.0, 0.9])

        def prompt(text):
            if text.startswith("Move every joint,"):  # the user sweeps every joint while we record
                emu.script = lambda t: {i + 1: mid[i] + swing[i] * math.sin(4 * math.pi * t) for i in range(6)}
                time.sleep(1.2)
                emu.script = None

        out = tmp_path / "so101.yaml"
        code = calibrate_cli.main(["--leader", "so101_leader", "--port", emu.port, "--output", str(out)], prompt)
        assert code == 0, capsys.readouterr().err
        cal = load_calibration(out)
        np.testing.assert_allclose(cal.offsets, mid[:5], atol=2e-3)
        np.testing.assert_allclose(cal.upper, swing[:5], atol=0.08)
        np.testing.assert_allclose(cal.lower, -swing[:5], atol=0.08)
        assert cal.gripper_open - cal.gripper_closed == pytest.approx(2 * swing[5], abs=0.15)
        emu.set_angles({i + 1: a for i, a in enumerate(mid)})
        leader = ServoLeader(FeetechBus(emu.port, 1_000_000, list(range(1, 7))), cal, spec)
        leader.open()
        q = leader.read()
        leader.close()
    np.testing.assert_allclose(q[:5], 0.0, atol=3e-3)  # mid-range is zero, wrap included


def test_cli_reports_a_missing_device(tmp_path, capsys):
    code = calibrate_cli.main(["--leader", "so101_leader", "--port", str(tmp_path / "nope"),
                               "--output", str(tmp_path / "x.yaml")], prompt=lambda t: None)
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()
