"""The Franka Hand as a forward position controller: a worker process on pylibfranka's Gripper.

The hand takes blocking commands (move, grasp) over TCP, and pylibfranka holds the GIL while one
runs, so the hand has a process of its own. `gripper_controller/commands` values are finger
positions (m per finger); the hand works in widths (both fingers), so width = 2 x position. The
latest command wins: while a move runs, newer commands wait, and only the newest is executed
after it. Closing uses `grasp` with wide tolerances so that an object between the fingers is held
with `force` instead of failing the move; opening uses `move`. The width is read between commands
(pylibfranka cannot read while a command runs), so joint_states shows the hand's width at the end
of each command and ~20 Hz while it is idle.

Messages in:  ("target", finger_position_m), ("recover",), ("shutdown",)
Messages out: ("connected", text) | ("error", text), ("gripper", finger_position_m, is_grasped, host_ns),
              ("status", mode, text), ("recovered", ok, text)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from robot_common.drivers.worker import Outbox, child_init


@dataclass(frozen=True)
class GripperConfig:
    robot_ip: str
    speed: float = 0.05          # m/s (width)
    force: float = 20.0          # N, grasp force
    deadband: float = 0.001      # m (width): smaller changes of the target are not sent
    homing: bool = False         # home the fingers once after connecting
    read_period: float = 0.05    # s between width reads while idle


class GripperLoop:
    def __init__(self, conn, cfg: GripperConfig) -> None:
        import pylibfranka as pf

        self.pf = pf
        self.conn = conn
        self.out = Outbox(conn)
        self.cfg = cfg
        self.stop_event = child_init()
        self.gripper = None
        self.target: float | None = None   # width
        self.goal: float | None = None     # width last commanded
        self.width = 0.0
        self.fault: str | None = None
        self.shutdown = False

    def run(self) -> None:
        try:
            self.gripper = self.pf.Gripper(self.cfg.robot_ip)
            if self.cfg.homing:
                self.gripper.homing()
            self._read()
        except Exception as exc:  # noqa: BLE001
            self.out.send("error", f"cannot connect to the Franka Hand at {self.cfg.robot_ip}: {exc}")
            self.out.flush()
            return
        self.out.send("connected", f"width {self.width:.4f} m")
        while not (self.shutdown or self.stop_event.is_set()):
            self._drain(self.cfg.read_period)
            if self.shutdown:
                break
            if self.fault is not None:
                continue
            try:
                if self.target is not None and (self.goal is None or abs(self.target - self.goal) > self.cfg.deadband):
                    self._execute(self.target)
                self._read()
            except Exception as exc:  # noqa: BLE001 - network loss, or the hand refused
                self.fault = f"Franka Hand: {' '.join(str(exc).split())}"
                self.out.send("status", "fault", self.fault)
        self.out.flush()

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ready = self.conn.poll(max(0.0, left))
            except (EOFError, OSError):
                self.shutdown = True
                return
            if not ready:
                return
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self.shutdown = True
                return
            if msg[0] == "target":
                self.target = 2.0 * float(msg[1])
            elif msg[0] == "shutdown":
                self.shutdown = True
                return
            elif msg[0] == "recover":
                self._recover()
            timeout = 0.0   # more queued messages: take them all, newest target wins

    def _execute(self, width: float) -> None:
        self.goal = width
        self.out.send("status", "moving", f"to width {width:.4f} m")
        if width < self.width - self.cfg.deadband:
            # any final width counts as success: the fingers stop on an object and hold it
            ok = self.gripper.grasp(width, self.cfg.speed, self.cfg.force, 1.0, 1.0)
        else:
            ok = self.gripper.move(width, self.cfg.speed)
        self.out.send("status", "idle", f"width goal {width:.4f} m {'reached' if ok else 'not reached'}")

    def _read(self) -> None:
        s = self.gripper.read_once()
        self.width = float(s.width)
        self.out.send("gripper", self.width / 2.0, bool(s.is_grasped), time.time_ns(), droppable=True)

    def _recover(self) -> None:
        try:
            self.gripper = self.pf.Gripper(self.cfg.robot_ip)
            self._read()
        except Exception as exc:  # noqa: BLE001
            self.out.send("recovered", False, f"Franka Hand: recovery failed: {exc}")
            return
        self.fault, self.goal = None, None
        self.out.send("recovered", True, "Franka Hand reconnected")


def gripper_process(conn, cfg: GripperConfig) -> None:
    """Worker entry point (multiprocessing spawn)."""
    GripperLoop(conn, cfg).run()
