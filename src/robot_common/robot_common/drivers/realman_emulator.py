"""An emulator of a RealMan arm controller's JSON-over-TCP protocol, for tests and for trying
realman_driver without an arm:

    python -m robot_common.drivers.realman_emulator --robot rm65 [--host 127.0.0.1 --port 8080]

RealMan's controller takes one JSON object per line ("\\r\\n") on TCP port 8080 and answers queries
and settings with JSON lines (RealMan's "JSON protocol" pages). What is emulated is what RealMan's
own Python API (Robotic_Arm 1.1.6, its bundled libapi_c.so) sends and parses, checked against that
library: every request is logged (`requests`, and `--log` prints them), and the answers carry the
fields the library reads (found by running it against this emulator with its debug log on).

- Connection: `get_arm_software_info`, `get_arm_current_trajectory`, `get_realtime_push`,
  `get_current_work_frame`, `get_current_tool_frame`, `get_install_pose`, `get_joint_min_pos`,
  `get_joint_max_pos`, `get_joint_max_speed`, `get_joint_max_acc`, `get_DH_data` (what
  rm_create_robot_arm asks; the last answer the library needs before it reports the arm's DoF).
- Pass-through (透传) `movej_canfd` {joint: 0.001 deg, follow, expand, trajectory_mode, radio}: no
  answer (the controller executes it and says nothing). Emulated controller rules: a target outside
  the joint limits is refused with system error 0x1002 ("target angle beyond the limit"); a step
  larger than `max_step_deg` from the last target raises joint error 0x4000 ("position command
  step warning") and is not executed; with follow=true a gap longer than 10 ms between targets is
  counted (RealMan: the pass-through period must not exceed 10 ms in high-follow mode).
- `get_current_arm_state`: joint (0.001 deg), pose (0.001 mm, 0.001 rad; zeros here: no
  kinematics), err (error codes). The arm is at its last accepted target (pass-through executes
  the targets as they come; the real arm lags by a few ms).
- `clear_system_err`, `set_arm_slow_stop`, `set_arm_stop`: settings answered with their result key.
- The gripper: `set_gripper_position` {position 1..1000, block}; `get_gripper_state` reports
  `actpos` moving towards it at `gripper_speed` (units per second).
"""
from __future__ import annotations

import argparse
import json
import math
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robot_common.spec import RobotSpec, load_robot_spec

ERR_TARGET_BEYOND_LIMIT = 0x1002
JOINT_ERR_POSITION_STEP = 0x4000


@dataclass
class ArmModel:
    joints_deg: np.ndarray
    lower_deg: np.ndarray
    upper_deg: np.ndarray
    max_step_deg: float
    errors: list[int] = field(default_factory=list)
    joint_errors: list[int] = field(default_factory=list)
    canfd_count: int = 0
    canfd_rejected: int = 0
    follow_gaps: int = 0                   # high-follow targets more than 10 ms apart
    last_canfd: float | None = None
    gripper_pos: float = 1000.0
    gripper_target: float = 1000.0
    gripper_time: float = field(default_factory=time.monotonic)
    gripper_speed: float = 1000.0          # units per second (full stroke in 1 s)
    stopped: bool = False

    def canfd(self, joint_mdeg: list[int], follow: bool) -> None:
        now = time.monotonic()
        self.canfd_count += 1
        if follow and self.last_canfd is not None and now - self.last_canfd > 0.010:
            self.follow_gaps += 1
        self.last_canfd = now
        target = np.asarray(joint_mdeg, dtype=float)[: self.joints_deg.size] / 1000.0
        if self.errors or self.joint_errors:          # in error: the controller ignores motion
            self.canfd_rejected += 1
            return
        if np.any(target < self.lower_deg - 1e-6) or np.any(target > self.upper_deg + 1e-6):
            self.errors.append(ERR_TARGET_BEYOND_LIMIT)
            self.canfd_rejected += 1
            return
        if np.max(np.abs(target - self.joints_deg)) > self.max_step_deg:
            self.joint_errors.append(JOINT_ERR_POSITION_STEP)
            self.canfd_rejected += 1
            return
        self.joints_deg = target
        self.stopped = False

    def gripper(self) -> float:
        now = time.monotonic()
        step = self.gripper_speed * (now - self.gripper_time)
        self.gripper_time = now
        self.gripper_pos += float(np.clip(self.gripper_target - self.gripper_pos, -step, step))
        return self.gripper_pos


class RealmanEmulator:
    """The controller on (host, port), served by threads; use as a context manager."""

    def __init__(self, robot: str | RobotSpec = "rm65", host: str = "127.0.0.1", port: int = 0,
                 max_step_deg: float = 5.0, log: bool = False) -> None:
        self.spec = robot if isinstance(robot, RobotSpec) else load_robot_spec(robot)
        deg = 180.0 / math.pi
        self.arm = ArmModel(self.spec.home * deg, self.spec.lower * deg, self.spec.upper * deg, max_step_deg)
        self.requests: list[dict] = []
        self.log = log
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, port))
        self._server.listen(4)
        self.host, self.port = self._server.getsockname()
        self._clients: list[socket.socket] = []
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # ---- protocol ------------------------------------------------------------------------------
    def answer(self, req: dict) -> dict | None:
        c = req.get("command", "")
        arm = self.arm
        dof = self.spec.dof
        model = "RM75-B" if dof == 7 else "RM65-B"
        if c == "movej_canfd":
            arm.canfd(req.get("joint", []), bool(req.get("follow", False)))
            return None                                 # pass-through: no answer
        if c == "get_current_arm_state":
            err = arm.errors + arm.joint_errors
            return {"state": "current_arm_state", "arm_state": {
                "joint": [int(round(v * 1000)) for v in arm.joints_deg], "pose": [0] * 6, "err": err or [0]}}
        if c == "get_gripper_state":
            return {"command": c, "enable": True, "status": 1, "error": 0, "mode": 1, "current_force": 0,
                    "temperature": 30, "actpos": int(round(arm.gripper()))}
        if c == "set_gripper_position":
            arm.gripper()
            arm.gripper_target = float(np.clip(req.get("position", 1000), 1, 1000))
            return {"command": c, "receive_state": True}
        if c == "clear_system_err":
            arm.errors.clear()
            arm.joint_errors.clear()
            return {"command": c, "clear_state": True}
        if c in ("set_arm_slow_stop", "set_arm_stop"):
            arm.stopped = True
            return {"command": c, c[len("set_"):]: True}
        if c == "get_arm_software_info":
            return {"state": "arm_software_info", "Product_version": model, "robot_controller_version": "3.0",
                    "algorithm_info": {"version": "emulated"}, "ctrl_info": {"build_time": "emulated", "version": "1.0"},
                    "dynamic_info": {"model_version": "1"}, "plan_info": {"build_time": "emulated", "version": "1.0"}}
        if c == "get_arm_current_trajectory":
            return {"state": "arm_current_trajectory", "trajectory_type": "none", "data_type": "none",
                    "data": [0] * 7}
        if c == "get_realtime_push":
            return {"command": c, "cycle": 1, "enable": False, "port": 8089, "force_coordinate": 0,
                    "ip": self.host, "custom": {}}
        if c == "get_current_work_frame":
            return {"state": "current_work_frame", "frame_name": "World", "pose": [0] * 6}
        if c == "get_current_tool_frame":
            return {"state": "current_tool_frame", "tool_name": "Arm_Tip", "pose": [0] * 6, "payload": 0,
                    "position": [0, 0, 0]}
        if c == "get_install_pose":
            return {"state": "install_pose", "pose": [0, 0, 0]}
        if c in ("get_joint_min_pos", "get_joint_max_pos", "get_joint_max_speed", "get_joint_max_acc"):
            key = c[len("get_joint_"):]
            values = {"min_pos": arm.lower_deg, "max_pos": arm.upper_deg,
                      "max_speed": self.spec.max_velocity * 180 / math.pi,
                      "max_acc": self.spec.max_acceleration * 180 / math.pi}[key]
            return {"state": "joint_" + key, {"max_acc": "joint_acc", "max_speed": "joint_speed"}.get(key, key):
                    [int(round(v * 1000)) for v in values]}
        if c == "get_DH_data":
            return {"command": c, **{f"joint_{i + 1}": [0, 0, 0, 0] for i in range(dof)}}
        return {"command": c, "receive_state": False}   # not emulated: refused, and logged

    # ---- server ----------------------------------------------------------------------------------
    def _accept(self) -> None:
        while self._running:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while self._running:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                try:
                    req = json.loads(line)
                except json.JSONDecodeError:
                    continue
                with self._lock:
                    self.requests.append(req)
                    reply = self.answer(req)
                if self.log:
                    print(f"-> {line.decode()}" + (f"\n<- {json.dumps(reply)}" if reply else ""), flush=True)
                if reply is not None:
                    try:
                        conn.sendall(json.dumps(reply).encode() + b"\r\n")
                    except OSError:
                        return

    def commands(self, name: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r.get("command") == name]

    def close(self) -> None:
        self._running = False
        try:
            self._server.close()
        except OSError:
            pass
        for c in self._clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def __enter__(self) -> RealmanEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Emulate a RealMan arm controller (JSON over TCP).")
    parser.add_argument("--robot", default="rm65", help="config/robots/<robot>.yaml (rm65, rm75)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log", action="store_true", help="print every request and answer")
    args = parser.parse_args(argv)
    try:
        emu = RealmanEmulator(args.robot, args.host, args.port, log=args.log)
    except (OSError, ValueError) as exc:
        print(f"realman_emulator: error: {exc}", flush=True)
        return 2
    print(f"REALMAN_EMULATOR_READY {emu.host}:{emu.port} ({emu.spec.name})", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        emu.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
