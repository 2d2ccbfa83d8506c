"""The ROS side shared by the direct drivers: the topics of a ros2_control follower, their checks,
status, diagnostics and the recover service. Subclasses start the worker processes that talk to
the arm (`start_worker`, `wait_connected`); the messages to and from them are the same for every arm.

Interfaces (names relative, docs/drivers.md):
- `<arm controller>/joint_trajectory` (trajectory_msgs/JointTrajectory): joint_trajectory_controller
  topic semantics, checked by robot_common.trajectory_check as the sim checks them (every point
  gives velocities/accelerations or none does; the final velocity is zero); a non-zero stamp starts
  then (the arm holds until), a trajectory that ends in the past is rejected.
- `<gripper controller>/commands` (std_msgs/Float64MultiArray): one finger position (m).
- `joint_states`: arm joints + gripper joint (+ mimic joints), measured.
- `~/command` (sensor_msgs/JointState): the arm joints' commanded positions and velocities, what the
  driver sent (the role of joint_trajectory_controller's controller_state reference), same stamps.
- `~/status` (std_msgs/String "<state>: <text>"), `/diagnostics`, `~/recover` (std_srvs/Trigger).
"""
from __future__ import annotations

import json
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_common.conversions import duration_to_sec, ns_to_stamp, stamp_to_ns
from robot_common.drivers.worker import Worker
from robot_common.params import Param, ParamTable
from robot_common.spec import load_robot_spec
from robot_common.trajectory_check import CheckedTrajectory, TrajectoryRejected, check_trajectory_data


class DriverError(ConnectionError):
    """The arm cannot be reached or refused to start; reported in one line, exit code 2."""


def common_params(robot: str, rate: float) -> list[Param]:
    """Parameters every direct driver has (the ParamTable of each driver lists them first)."""
    return [
        Param("robot", robot, "arm spec: config/robots/<robot>.yaml (joint names, limits, gripper)"),
        Param("robot_ip", "", "address of the arm's controller (required)"),
        Param("joint_state_rate", rate, "joint_states rate (Hz of the arm's clock)", bounds=(1.0, 1000.0)),
        Param("stamp_clock", "host", "joint_states stamps: host = this computer's clock when the state was "
              "read (aligns with cameras); arm = the arm's own clock from the host time at connection "
              "(simulated time against a simulator)", choices=("host", "arm")),
        Param("cmd_timeout", 0.0, "brake and hold when no trajectory arrived for this long (s; 0 = never, "
              "as joint_trajectory_controller's cmd_timeout)", bounds=(0.0, 3600.0)),
        Param("gripper", True, "drive the gripper (gripper_controller/commands) and report it in joint_states"),
        Param("connect_timeout", 15.0, "seconds to wait for the arm at start", bounds=(0.1, 600.0)),
    ]


class FollowerNode(Node):
    """Base of fr3_driver and realman_driver: see the module docstring."""

    def __init__(self, name: str, params: ParamTable, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.p = p = params.declare(self)
        if not p["robot_ip"]:
            raise ValueError("parameter 'robot_ip' is empty: pass -p robot_ip:=<address of the arm's controller>")
        self.spec = spec = load_robot_spec(p["robot"])
        self.use_gripper = bool(p["gripper"]) and spec.gripper is not None
        g = spec.gripper
        self.state_names = spec.joint_names + ([g.joint, *g.mimic_joints] if self.use_gripper else [])
        self._lock = threading.Lock()
        self.mode, self.text = "connecting", ""
        self.arm_time: float | None = None        # the arm's clock at the last state (s)
        self._anchor_ns: int | None = None        # host ns at arm time 0 (stamp_clock arm)
        self.gripper_position = g.open if g is not None else 0.0
        self.last_command = time.monotonic()
        self.stopped_for_timeout = True
        self.counts = {"accepted": 0, "rejected": 0, "gripper_commands": 0, "gripper_rejected": 0}
        self.stats: dict = {}
        self.gripper_text = "off" if not self.use_gripper else "connecting"
        self.workers: dict[str, Worker] = {}
        self._events: dict[str, threading.Event] = {}
        self._replies: dict[str, tuple] = {}
        self._closing = False

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)   # commands and states
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,     # late joiners see the state
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_js = self.create_publisher(JointState, "joint_states", reliable)
        self.pub_cmd = self.create_publisher(JointState, "~/command", reliable)
        self.pub_status = self.create_publisher(String, "~/status", latched)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self.create_subscription(JointTrajectory, f"{spec.arm_controller}/joint_trajectory", self._on_trajectory,
                                 reliable)
        if self.use_gripper:
            self.create_subscription(Float64MultiArray, f"{spec.gripper_controller}/commands", self._on_gripper,
                                     reliable)
        self.create_service(Trigger, "~/recover", self._on_recover)
        self.create_timer(1.0, self._publish_diagnostics)
        if p["cmd_timeout"] > 0:
            self.create_timer(min(0.05, p["cmd_timeout"] / 4), self._check_timeout)

    # ---- the worker processes (robot_common.drivers.worker): "arm" and optionally "gripper" -----
    # Workers send ("connected", text) | ("error", text) once, then ("state", arm_time, host_ns, q,
    # dq, tau, q_cmd, dq_cmd), ("gripper", finger_position, grasped, host_ns), ("status", mode, text[,
    # stats]), ("recovered", ok, text), ("stats", stats) at the end; and take ("start",),
    # ("trajectory", times, positions, velocities, accelerations, start), ("target", position),
    # ("stop", reason), ("recover",), ("shutdown",).
    def start_worker(self, which: str, what: str, target, config) -> None:
        self._events[which] = threading.Event()
        self.workers[which] = Worker(what, target, (config,), lambda msg: self._on_worker(which, what, msg))

    def wait_connected(self, which: str, what: str) -> None:
        if not self._events[which].wait(self.p["connect_timeout"]):
            raise DriverError(f"no answer from {what} at {self.p['robot_ip']} within {self.p['connect_timeout']:g} s")
        kind, text = self._replies.pop(which)
        if kind == "error":
            raise DriverError(text)
        if text:
            self.get_logger().info(f"{what}: {text}")

    def _on_worker(self, which: str, what: str, msg: tuple) -> None:
        kind = msg[0]
        if kind == "state":
            self.publish_state(*msg[1:])
        elif kind == "gripper":
            self.gripper_position = msg[1]
        elif kind == "status" and which == "arm":
            if len(msg) > 3:
                self.stats = dict(msg[3])
            self.set_mode(msg[1], msg[2])
        elif kind == "status":
            self.gripper_text = f"{msg[1]}: {msg[2]}"
            if msg[1] == "fault":
                self.get_logger().error(self.gripper_text)
        elif kind in ("connected", "error"):
            self._replies[which] = (kind, msg[1])
            self._events[which].set()
        elif kind == "recovered":
            self._replies[which + "_recover"] = msg[1:]
            self._events[which].set()
        elif kind == "stats":
            self.stats = dict(msg[1])
            print(f"{self.get_name().upper()}_LOOP_STATS {json.dumps(msg[1])}", flush=True)
        elif kind == "exited":
            text = f"{what} exited (code {msg[1]})"
            if not self._events[which].is_set():
                self._replies[which] = ("error", text)
                self._events[which].set()
            if not self._closing and which == "arm" and self.mode != "stopped":
                self.set_mode("fault", text)
            elif not self._closing:
                self.gripper_text = f"fault: {text}"

    def _send_trajectory(self, traj: CheckedTrajectory, start: tuple[str, float] | None) -> None:
        """Replace the running trajectory; start: see _start_of."""
        self.workers["arm"].send("trajectory", traj.times, traj.positions, traj.velocities, traj.accelerations, start)

    def _send_gripper(self, position: float) -> None:
        worker = self.workers.get("gripper", self.workers.get("arm"))
        if worker is not None:
            worker.send("target", position)

    def _send_stop(self, reason: str) -> None:
        self.workers["arm"].send("stop", reason)

    def _recover(self) -> tuple[bool, str]:
        texts, ok = [], True
        for which, worker in self.workers.items():
            if which == "gripper" and not self.gripper_text.startswith("fault"):
                continue
            if not worker.alive:
                ok = False
                texts.append(f"{which}: its process has exited; restart the driver")
                continue
            self._events[which].clear()
            worker.send("recover")
            if not self._events[which].wait(15.0):
                ok = False
                texts.append(f"{which}: no answer to recover")
                continue
            good, text = self._replies.pop(which + "_recover")
            ok = ok and good
            texts.append(text)
        return ok, "; ".join(texts)

    def destroy_node(self) -> None:
        self._closing = True
        for which in ("gripper", "arm"):      # the arm last: it brings the arm to rest first
            if which in self.workers:
                self.workers[which].stop()
        super().destroy_node()

    # ---- inputs --------------------------------------------------------------------------------
    def _start_of(self, stamp_ns: int) -> tuple[str, float] | None:
        """Where a trajectory stamp lies: None = now; ("arm", t) = at the arm's clock t (stamp_clock
        arm, exact: the stamps are the arm's clock); ("host", ns) = at the host's clock ns (the worker,
        which reads both clocks every cycle, turns it into arm time)."""
        if stamp_ns == 0:
            return None
        if self.p["stamp_clock"] == "arm":
            if self._anchor_ns is None:
                raise TrajectoryRejected("a stamped trajectory before the first arm state")
            return ("arm", (stamp_ns - self._anchor_ns) * 1e-9)
        return ("host", stamp_ns)

    def _seconds_until(self, start: tuple[str, float]) -> float:
        if start[0] == "arm":
            return start[1] - (self.arm_time or 0.0)
        return (start[1] - self.get_clock().now().nanoseconds) * 1e-9

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        spec = self.spec
        try:
            if self.mode == "fault":
                raise TrajectoryRejected(f"the driver is in fault ({self.text}); call ~/recover first")
            if self.mode != "running":
                raise TrajectoryRejected(f"the arm is not ready ({self.mode})")
            points = list(msg.points)
            checked = check_trajectory_data(
                list(msg.joint_names), [duration_to_sec(pt.time_from_start) for pt in points],
                [list(pt.positions) for pt in points], [list(pt.velocities) for pt in points],
                [list(pt.accelerations) for pt in points], spec.joint_names, spec.lower, spec.upper,
                uniform_fields=True, allow_nonzero_velocity_at_trajectory_end=False)
            stamp = stamp_to_ns(msg.header.stamp)
            start = self._start_of(stamp)
            if start is not None and self._seconds_until(start) + checked.times[-1] < 0:
                raise TrajectoryRejected(f"trajectory ends in the past: stamp {stamp * 1e-9:.6f} + "
                                         f"{checked.times[-1]:.6g} s is {-self._seconds_until(start):.3f} s ago")
        except TrajectoryRejected as exc:
            self.counts["rejected"] += 1
            self.get_logger().error(f"trajectory rejected: {exc}")
            return
        self.counts["accepted"] += 1
        self.last_command = time.monotonic()
        self.stopped_for_timeout = False
        self._send_trajectory(checked, start)

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        g = self.spec.gripper
        values = list(msg.data)
        problem = None
        if len(values) != 1:
            problem = f"expected 1 value (the {g.joint} position), got {len(values)}"
        elif not np.isfinite(values[0]):
            problem = f"non-finite position {values[0]}"
        elif not g.lower - 1e-9 <= values[0] <= g.upper + 1e-9:
            problem = f"position {values[0]:.6g} is outside the gripper limits [{g.lower:.6g}, {g.upper:.6g}]"
        if problem:
            self.counts["gripper_rejected"] += 1
            self.get_logger().error(f"gripper command rejected: {problem}")
            return
        self.counts["gripper_commands"] += 1
        self._send_gripper(float(values[0]))

    def _check_timeout(self) -> None:
        if (not self.stopped_for_timeout and self.mode == "running"
                and time.monotonic() - self.last_command > self.p["cmd_timeout"]):
            self.stopped_for_timeout = True
            self.get_logger().warning(f"no trajectory for {self.p['cmd_timeout']:g} s (cmd_timeout): holding")
            self._send_stop("cmd_timeout")

    def _on_recover(self, request, response):
        ok, text = self._recover()
        response.success, response.message = ok, text
        if ok:   # (rclpy: one severity per logging call site)
            self.get_logger().info(f"recover: {text}")
        else:
            self.get_logger().error(f"recover: {text}")
        return response

    # ---- outputs (called from the workers' reader threads) -------------------------------------
    def publish_state(self, arm_time: float, host_ns: int, q, dq, tau, q_cmd=None, dq_cmd=None) -> None:
        if self.p["stamp_clock"] == "arm":
            if self._anchor_ns is None:
                self._anchor_ns = host_ns - int(round(arm_time * 1e9))
            stamp = self._anchor_ns + int(round(arm_time * 1e9))
        else:
            stamp = host_ns
        self.arm_time = arm_time
        msg = JointState()
        msg.header.stamp = ns_to_stamp(stamp)
        msg.name = self.state_names
        extra = len(self.state_names) - self.spec.dof
        msg.position = [float(x) for x in q] + [float(self.gripper_position)] * extra
        msg.velocity = [float(x) for x in dq] + [0.0] * extra
        msg.effort = [float(x) for x in tau] + [0.0] * extra
        self.pub_js.publish(msg)
        if q_cmd is not None:
            cmd = JointState()
            cmd.header.stamp = msg.header.stamp
            cmd.name = self.spec.joint_names
            cmd.position = [float(x) for x in q_cmd]
            if dq_cmd is not None:
                cmd.velocity = [float(x) for x in dq_cmd]
            self.pub_cmd.publish(cmd)

    def set_mode(self, mode: str, text: str) -> None:
        with self._lock:
            changed = (mode, text) != (self.mode, self.text)
            self.mode, self.text = mode, text
        if changed:
            self.pub_status.publish(String(data=f"{mode}: {text}"))
            if mode == "fault":
                self.get_logger().error(f"fault: {text}")
            else:
                self.get_logger().info(f"{mode}: {text}")
            self._publish_diagnostics()

    def _publish_diagnostics(self) -> None:
        name = self.get_fully_qualified_name()
        arm = DiagnosticStatus(name=f"{name}: arm", hardware_id=f"{self.spec.name}@{self.p['robot_ip']}")
        arm.level = {"running": DiagnosticStatus.OK, "fault": DiagnosticStatus.ERROR}.get(self.mode, DiagnosticStatus.WARN)
        arm.message = f"{self.mode}: {self.text}"
        values = {"mode": self.mode, "arm_time_s": f"{self.arm_time:.3f}" if self.arm_time is not None else "",
                  **{k: str(v) for k, v in self.counts.items()}, **{k: str(v) for k, v in self.stats.items()}}
        arm.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        statuses = [arm]
        if self.use_gripper:
            grip = DiagnosticStatus(name=f"{name}: gripper", hardware_id=arm.hardware_id)
            grip.level = DiagnosticStatus.ERROR if self.gripper_text.startswith("fault") else DiagnosticStatus.OK
            grip.message = self.gripper_text
            grip.values = [KeyValue(key="position", value=f"{self.gripper_position:.5f}")]
            statuses.append(grip)
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)
