"""`ros2 run teleop calibrate`: calibrate a GELLO or SO-101 leader into config/teleop/<leader>.yaml.

GELLO style: hold the arm in a known pose (the follower's home pose by default); the offsets are
the multiples of pi/2 that map the servo readings onto that pose; then close and open the gripper.
SO-101 style: put every joint at mid-range (that becomes zero), then move every joint through its
whole range (recorded as the leader's range; the gripper's min..max become closed..open).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robot_common.params import flatten
from robot_common.paths import find_config, source_root
from robot_common.spec import load_robot_spec
from teleop.calibration import (
    Calibration,
    CalibrationError,
    gello_offsets,
    read_parameter_file,
    recorded_range,
    save_calibration,
    so101_homing,
    unwrap_near,
)
from teleop.servo_bus import BUSES, ServoBus, ServoBusError
from teleop.teleop_node import PARAMS


def _parse_floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as exc:
        raise CalibrationError(f"{what}: expected comma-separated numbers, got {text!r}") from exc


def _read_retry(bus: ServoBus, attempts: int = 5) -> np.ndarray:
    for k in range(attempts):
        try:
            return bus.read()
        except ServoBusError:
            if k == attempts - 1:
                raise
    raise AssertionError("unreachable")


def read_steady(bus: ServoBus, samples: int = 20) -> np.ndarray:
    """Median of several reads (each unwrapped next to the first, so a 0/4095 wrap averages right)."""
    first = _read_retry(bus)
    rows = [first] + [unwrap_near(_read_retry(bus), first) for _ in range(samples - 1)]
    return np.median(np.array(rows), axis=0)


def record_while(bus: ServoBus, done: Callable[[], None], seconds: float | None) -> np.ndarray:
    """Read the bus continuously until `done()` returns (the user pressed Enter) or for `seconds`."""
    samples: list[np.ndarray] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def sample() -> None:
        failures = 0
        while not stop.is_set():
            try:
                samples.append(bus.read())
                failures = 0
            except ServoBusError as exc:  # one lost reply is not a reason to start over
                failures += 1
                if failures >= 10:
                    errors.append(exc)
                    return
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    if seconds is not None:
        print(f"recording for {seconds:.1f} s ...", flush=True)
        time.sleep(seconds)
    else:
        done()
    stop.set()
    thread.join(timeout=2)
    if errors:
        raise errors[0]
    if len(samples) < 2:
        raise CalibrationError("no samples recorded")
    return np.array(samples)


def calibrate(bus: ServoBus, style: str, spec, signs: np.ndarray, with_gripper: bool,
              prompt: Callable[[str], object], pose: np.ndarray | None = None,
              record_seconds: float | None = None) -> Calibration:
    """Run one calibration procedure on an open bus (ids: arm joints, then the gripper)."""
    dof = spec.dof
    if style == "gello":
        pose = spec.home if pose is None else pose
        prompt(f"Hold the leader in the known pose {np.round(pose, 3).tolist()} rad and press Enter")
        raw = read_steady(bus)
        offsets, residual = gello_offsets(raw[:dof], pose, signs)
        for name, off, res in zip(spec.joint_names, offsets, residual):
            flag = "  <-- check the pose / horn" if abs(res) > 0.35 else ""
            print(f"  {name:>16}: offset {off / (np.pi / 2):+.0f} * pi/2, residual {res:+.3f} rad{flag}")
        lower, upper = spec.lower, spec.upper
        closed = opened = None
        if with_gripper:
            prompt("Close the leader's gripper fully and press Enter")
            closed = float(read_steady(bus)[dof])
            prompt("Open the leader's gripper fully and press Enter")
            opened = float(unwrap_near(read_steady(bus)[dof], closed))
    elif style == "so101":
        prompt("Move every leader joint (not the gripper) to the middle of its range and press Enter")
        mid = read_steady(bus)
        offsets = so101_homing(mid[:dof])
        text = "Move every joint, gripper included, through its whole range"
        if record_seconds:
            print(text, flush=True)
        samples = record_while(bus, lambda: prompt(text + "; press Enter when done"), record_seconds)
        lower, upper = recorded_range(samples[:, :dof], offsets, signs)
        for name, lo, hi in zip(spec.joint_names, lower, upper):
            print(f"  {name:>16}: range {lo:+.3f} .. {hi:+.3f} rad")
        closed = opened = None
        if with_gripper:
            g = unwrap_near(samples[:, dof], mid[dof])
            closed, opened = float(g.min()), float(g.max())
    else:
        raise CalibrationError(f"style must be gello or so101, got {style!r}")
    cal = Calibration(offsets=offsets, signs=signs, lower=lower, upper=upper, gripper_open=opened,
                      gripper_closed=closed, style=style, calibrated=True)
    if with_gripper:
        print(f"  gripper: closed {closed:+.3f} rad, open {opened:+.3f} rad (raw)")
    return cal


def resolve_leader_file(leader: str) -> Path:
    """config/teleop/<leader>.yaml by name, or a path to such a file."""
    return find_config("teleop", leader)


def default_output(template: Path, leader: str) -> Path:
    if os.access(template, os.W_OK) and source_root() in template.resolve().parents:
        return template  # a source checkout: calibrate in place (commit it to keep it)
    return Path.home() / ".config" / "teleop" / f"{Path(leader).stem}.yaml"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leader", default="gello_franka",
                    help="config/teleop/<leader>.yaml to start from (gello_franka, gello_rm65, gello_rm75, "
                         "so101_leader) or a path to such a file")
    ap.add_argument("--port", help="serial port (default: leader.port in the file)")
    ap.add_argument("--baudrate", type=int, help="baud rate (default: leader.baudrate in the file)")
    ap.add_argument("--style", choices=["gello", "so101"], help="procedure (default: by leader type)")
    ap.add_argument("--pose", help="GELLO known pose, comma-separated rad (default: the robot's home pose)")
    ap.add_argument("--signs", help="comma-separated +1/-1 per arm joint (default: from the file)")
    ap.add_argument("--record-seconds", type=float, help="SO-101 range recording time instead of waiting for Enter")
    ap.add_argument("--output", help="where to write (default: the leader file in a source checkout, "
                                     "else ~/.config/teleop/<leader>.yaml)")
    return ap


def main(argv: list[str] | None = None, prompt: Callable[[str], object] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prompt = prompt or (lambda text: input(text + " "))
    try:
        template = resolve_leader_file(args.leader)
        # the file's values over the node's defaults (the shipped files carry only what differs)
        params = {**PARAMS.defaults(), **flatten(read_parameter_file(template))}
        spec = load_robot_spec(params["robot"])
        kind = params["leader.type"]
        if kind not in BUSES:
            raise CalibrationError(f"{template}: leader.type {kind!r} has no servo bus to calibrate")
        ids = [int(i) for i in params.get("leader.ids", [])]
        gripper_id = int(params["leader.gripper_id"])
        with_gripper = gripper_id >= 0 and spec.gripper is not None
        signs = np.array(_parse_floats(args.signs, "--signs") if args.signs
                         else params.get("calibration.signs", [1.0] * spec.dof))
        pose = np.array(_parse_floats(args.pose, "--pose")) if args.pose else None
        if len(ids) != spec.dof or signs.size != spec.dof or (pose is not None and pose.size != spec.dof):
            raise CalibrationError(f"{spec.name} has {spec.dof} arm joints: need as many ids, signs (and pose values)")
        bus = BUSES[kind](args.port or params["leader.port"],
                          args.baudrate or int(params["leader.baudrate"]), ids + ([gripper_id] if with_gripper else []),
                          timeout_ms=100.0)  # calibration is not latency critical
        output = Path(args.output) if args.output else default_output(template, args.leader)
        print(f"calibrating {kind} leader for {spec.name} on {bus.port_name} (servos {bus.ids})")
        with bus:
            for warning in bus.warnings:
                print("WARNING:", warning)
            for i in bus.ids:
                bus.write_byte(i, bus.torque_enable, 0)  # the leader is moved by hand
            cal = calibrate(bus, args.style or ("gello" if kind in ("gello", "dynamixel") else "so101"),
                            spec, signs, with_gripper, prompt, pose, args.record_seconds)
        save_calibration(output, cal, template=template)
        print(f"wrote {output}")
        if output != template:
            print(f"use it with: calibration_file:={output}")
        return 0
    except (CalibrationError, ServoBusError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 2   # a configuration / input error: the file, the port or an argument
    except (KeyboardInterrupt, EOFError):
        print("calibrate: aborted, nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
