"""The RealMan stream: a worker process on RealMan's official Python API (Robotic_Arm, ctypes over
its libapi_c.so, JSON over TCP to the arm's controller).

Every `1 / stream_rate` s it advances the jerk-limited tracker along the JTC reference (motion.py,
with the spec's velocity and acceleration limits) and sends the result with the pass-through
command `rm_movej_canfd(joints_deg, follow=True)` (透传: the controller executes each target as
it comes, without planning; RealMan asks for a steady period, at most 10 ms in high-follow mode,
2 ms at the fastest on a wired I-series controller). Every `state_every` cycles it reads the
measured joints (`rm_get_current_arm_state`, with the controller's error codes) and publishes them;
the gripper (RealMan's `set_gripper_position` 1..1000 / `get_gripper_state`) at ~10 Hz.

Faults: a controller error code (e.g. 0x1002 target beyond a limit), a send that fails, or state
reads that time out `max_read_failures` times in a row stop the stream; `recover` clears the
controller's errors (`rm_clear_system_err`), reconnecting when the connection was lost.
Messages: see follower_node (the same for every driver).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from robot_common.drivers.motion import HoldReference, JerkLimitedTracker, JtcReference
from robot_common.drivers.worker import Outbox, child_init

DEG = 180.0 / math.pi


def to_wire_degrees(q: np.ndarray) -> list[float]:
    """Joint angles (rad) as movej_canfd takes them (deg). Robotic_Arm puts them on the wire as
    integers of 0.001 deg by truncation towards zero (after a float32 conversion), which biases every
    target by up to 0.001 deg; nudging each value 0.0001 deg away from zero after rounding makes that
    truncation land on the nearest 0.001 deg."""
    deg = np.round(np.asarray(q, dtype=float) * DEG, 3)
    return (deg + np.copysign(1e-4, deg)).tolist()


@dataclass(frozen=True)
class RealmanConfig:
    robot_ip: str
    port: int
    joint_names: tuple[str, ...]
    max_velocity: tuple[float, ...]      # rad/s, already scaled
    max_acceleration: tuple[float, ...]  # rad/s^2, already scaled
    max_jerk: float                      # rad/s^3
    stream_rate: float = 200.0           # Hz of movej_canfd
    follow: bool = True                  # RealMan's high-follow pass-through
    state_every: int = 2                 # stream cycles per state read
    gripper: bool = True
    gripper_closed: float = 0.0          # finger position (m) at gripper position 1
    gripper_open: float = 0.04           # ... and at 1000
    read_timeout_ms: int = 100
    max_read_failures: int = 5


class RealmanLoop:
    def __init__(self, conn, cfg: RealmanConfig) -> None:
        self.conn = conn
        self.out = Outbox(conn)
        self.cfg = cfg
        self.stop_event = child_init()
        self.arm = None
        self.fault: str | None = None
        self.disconnected = False
        self.shutdown = False
        self.period = 1.0 / cfg.stream_rate
        dof = len(cfg.joint_names)
        self.tracker = JerkLimitedTracker(dof, self.period, np.asarray(cfg.max_velocity),
                                          np.asarray(cfg.max_acceleration), np.full(dof, cfg.max_jerk))
        self.vmax = np.asarray(cfg.max_velocity)
        self.stats = {"cycles": 0, "late_cycles": 0, "send_failures": 0, "read_failures": 0, "trajectories": 0}

    # ---- connection --------------------------------------------------------------------------------
    def _connect(self) -> np.ndarray:
        from Robotic_Arm.rm_robot_interface import RoboticArm, rm_thread_mode_e

        arm = RoboticArm(rm_thread_mode_e.RM_DUAL_MODE_E)
        handle = arm.rm_create_robot_arm(self.cfg.robot_ip, self.cfg.port, 3)
        if handle.id == -1:
            raise ConnectionError(f"no RealMan controller answers at {self.cfg.robot_ip}:{self.cfg.port}")
        arm.rm_set_timeout(self.cfg.read_timeout_ms)
        self.arm = arm
        self.disconnected = False
        q = self._read_state()
        if q is None:
            raise ConnectionError(f"the controller at {self.cfg.robot_ip}:{self.cfg.port} did not report its joints")
        if self.fault:
            raise ConnectionError(self.fault)
        return q

    def _read_state(self) -> np.ndarray | None:
        """Measured joints (rad); sets self.fault on a controller error code."""
        ret, state = self.arm.rm_get_current_arm_state()
        if ret != 0:
            self.stats["read_failures"] += 1
            return None
        dof = len(self.cfg.joint_names)
        q = np.asarray(state["joint"][:dof], dtype=float) / DEG
        codes = [int(str(c), 0) for c in state.get("err", {}).get("err", []) if int(str(c), 0)]
        if codes:
            self.fault = "the controller reports " + ", ".join(f"error 0x{c:04X}" for c in codes)
        return q

    def run(self) -> None:
        try:
            q = self._connect()
        except Exception as exc:  # noqa: BLE001 - any SDK error is reported, one line
            self.out.send("error", f"cannot connect to the RealMan arm: {exc}")
            self.out.flush()
            return
        self.out.send("connected", "")
        while not (self.shutdown or self.stop_event.is_set()):
            if self.conn.poll(0.1):
                msg = self._recv()
                if msg[0] == "start":
                    break
                self.shutdown = msg[0] == "shutdown"
        while not (self.shutdown or self.stop_event.is_set()):
            if self.fault is None:
                q = self._stream(q)
            else:
                self._idle()
                if self.fault is None and self.arm is not None:
                    q = self._read_state() if not self.disconnected else q
        self.out.send("stats", dict(self.stats))
        self.out.flush()
        if self.arm is not None:
            self.arm.rm_delete_robot_arm()

    def _recv(self) -> tuple:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return ("shutdown",)

    def _idle(self) -> None:
        if not self.conn.poll(0.1):
            return
        msg = self._recv()
        if msg[0] == "shutdown":
            self.shutdown = True
        elif msg[0] == "recover":
            try:
                if self.disconnected:
                    self.arm.rm_delete_robot_arm()
                    self.fault = None
                    self._connect()
                else:
                    self.arm.rm_clear_system_err()
                    self.fault = None
                    if self._read_state() is None or self.fault:
                        raise ConnectionError(self.fault or "no state after clearing the errors")
            except Exception as exc:  # noqa: BLE001
                self.fault = self.fault or str(exc)
                self.out.send("recovered", False, f"recovery failed: {exc}")
                return
            self.out.send("recovered", True, "controller errors cleared")

    def _set_fault(self, text: str) -> None:
        self.fault = text
        self.out.send("status", "fault", text, dict(self.stats))

    # ---- the stream --------------------------------------------------------------------------------
    def _stream(self, q0: np.ndarray) -> np.ndarray:
        cfg, arm = self.cfg, self.arm
        self.tracker.reset(q0)
        ref = HoldReference(q0)
        braking = False
        q_meas, q_prev, t_prev = q0, q0, time.monotonic()
        x = q0
        failures = 0
        self.out.send("status", "running", "holding", dict(self.stats))
        t_next = time.monotonic()
        cycle = 0
        while not self.stop_event.is_set():
            t_next += self.period
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            steps = 1
            if now - t_next > self.period:       # late: advance by the time that passed, send once
                steps = 1 + int((now - t_next) / self.period)
                self.stats["late_cycles"] += 1
                t_next = now
            while self.conn.poll():
                msg = self._recv()
                if msg[0] == "trajectory":
                    _, times, pos, vel, acc, start = msg
                    # stamps are host time here ("arm" time is the host's clock too: the
                    # controller's state carries no clock of its own)
                    if start is None:
                        t0 = now
                    elif start[0] == "host":
                        t0 = now + (start[1] - time.time_ns()) * 1e-9
                    else:
                        t0 = now + (start[1] - time.time())
                    ref = JtcReference(t0, times, pos, vel, acc, self.tracker.state)
                    braking = False
                    self.stats["trajectories"] += 1
                    self.out.send("status", "running", f"following a {len(times)}-point trajectory", dict(self.stats))
                elif msg[0] == "stop":
                    braking = True
                    self.out.send("status", "running", f"stopping: {msg[1]}", dict(self.stats))
                elif msg[0] == "target" and cfg.gripper:
                    g = (msg[1] - cfg.gripper_closed) / (cfg.gripper_open - cfg.gripper_closed)
                    arm.rm_set_gripper_position(int(round(1 + 999 * min(max(g, 0.0), 1.0))), False, 0)
                elif msg[0] == "recover":
                    self.out.send("recovered", True, "no fault to recover from")
                elif msg[0] == "shutdown":
                    self.shutdown = True
            if self.shutdown:
                braking = True
            for _ in range(steps):
                if braking:
                    x = self.tracker.brake(-self.vmax, self.vmax)
                else:
                    x = self.tracker.step(ref, now - (steps - 1 - _) * self.period, -self.vmax, self.vmax)
            if braking and self.tracker.at_rest():
                if self.shutdown:
                    arm.rm_movej_canfd(to_wire_degrees(x), cfg.follow)
                    return x
                ref, braking = HoldReference(x), False
                self.out.send("status", "running", "holding", dict(self.stats))
            ret = arm.rm_movej_canfd(to_wire_degrees(x), cfg.follow)
            self.stats["cycles"] += 1
            if ret != 0:
                self.stats["send_failures"] += 1
                self.disconnected = ret == -1
                self._set_fault(f"movej_canfd failed (code {ret}"
                                + ("; the connection to the controller is lost)" if ret == -1 else ")"))
                return q_meas
            cycle += 1
            if cycle % cfg.state_every == 0:
                q = self._read_state()
                if q is None:
                    failures += 1
                    if failures >= cfg.max_read_failures:
                        self.disconnected = True
                        self._set_fault(f"the controller did not answer {failures} state reads in a row")
                        return q_meas
                else:
                    failures = 0
                    t = time.monotonic()
                    dq = (q - q_prev) / max(t - t_prev, 1e-6)
                    q_prev, t_prev, q_meas = q, t, q
                    self.out.send("state", time.time(), time.time_ns(), q, dq, np.zeros_like(q), x,
                                  np.array(self.tracker.state.velocity), droppable=True)
                    if self.fault:
                        self._set_fault(self.fault + "; stream stopped")
                        return q_meas
            if cfg.gripper and cycle % max(1, int(cfg.stream_rate / 10)) == 0:
                ret, g = arm.rm_get_gripper_state()
                if ret == 0:
                    pos = cfg.gripper_closed + (g["actpos"] - 1) / 999 * (cfg.gripper_open - cfg.gripper_closed)
                    self.out.send("gripper", pos, False, time.time_ns(), droppable=True)
        return q_meas


def realman_process(conn, cfg: RealmanConfig) -> None:
    """Worker entry point (multiprocessing spawn)."""
    RealmanLoop(conn, cfg).run()
