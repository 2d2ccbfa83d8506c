"""teleop_node: reads a leader at rate_hz, publishes leader/joint_states and drives the follower.

A thin ROS shell: the leader drivers (servo_bus, leaders), the calibration and the safety gate
(safety_gate) are plain Python. The control loop runs in its own thread on absolute deadlines
(a ROS timer in Python cannot hold 500 Hz), started by the constructor and stopped by
destroy_node; subscriptions and services spin in the main thread (run_node). All names are
relative: a namespace moves the whole stack.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
from rclpy.node import Node

from robot_common.conversions import MissingJointsError, joint_state_to_arrays, ns_to_stamp, sec_to_duration
from robot_common.node_main import run_node
from robot_common.params import DOUBLE_ARRAY, INTEGER_ARRAY, Param, ParamTable
from robot_common.spec import load_robot_spec
from teleop.calibration import Calibration, CalibrationError, load_calibration
from teleop.leaders import LeaderReadError, ServoLeader, TopicLeader, follower_names
from teleop.safety_gate import ENGAGED, FAULT, WAITING, SafetyConfig, SafetyGate, Tick
from teleop.servo_bus import BUSES, ServoBusError

PARAMS = ParamTable("teleop_node", [
    Param("robot", "so101", "follower arm: config/robots/<robot>.yaml"),
    Param("rate_hz", 500.0, "leader read and command rate (Hz)", bounds=(1.0, 2000.0)),
    Param("leader.type", "topic", "gello (Dynamixel), so101 (Feetech) or topic (JointState in follower space)",
          choices=("gello", "so101", "topic")),
    Param("leader.port", "/dev/ttyUSB0", "serial port of the leader bus"),
    Param("leader.baudrate", 1000000, "leader bus baud rate", bounds=(9600, 10_000_000)),
    Param("leader.ids", INTEGER_ARRAY, "servo ids of the arm joints in follower joint order"),
    Param("leader.gripper_id", -1, "servo id of the leader's gripper (-1: none)", bounds=(-1, 253)),
    Param("leader.timeout_ms", 10.0, "reply timeout floor for one bus read (ms); grows with the USB latency timer",
          bounds=(0.1, 1000.0)),
    Param("leader.torque_off", True, "switch the leader's torque off at start (it is moved by hand)"),
    Param("leader.topic", "expert/joint_states", "JointState topic of a topic leader (relative: in the node's "
          "namespace)"),
    Param("leader.stale_after", 0.5, "a topic leader message older than this (s) is a failed read",
          bounds=(0.001, 60.0)),
    Param("calibration_file", "", "YAML with a calibration block; empty: the calibration.* parameters"),
    Param("allow_uncalibrated", False, "engage a servo leader whose calibration is the template "
          "(launch argument allow_uncalibrated:=true)"),
    Param("calibration.calibrated", False, "false: template values, not a real calibration"),
    Param("calibration.style", "gello", "how it was made", choices=("gello", "so101")),
    Param("calibration.offsets", DOUBLE_ARRAY, "raw servo angle (rad) at joint zero"),
    Param("calibration.signs", DOUBLE_ARRAY, "+1 / -1 per joint"),
    Param("calibration.lower", DOUBLE_ARRAY, "leader range, lower (rad, joint space)"),
    Param("calibration.upper", DOUBLE_ARRAY, "leader range, upper (rad, joint space)"),
    Param("calibration.gripper_open", 0.0, "raw gripper servo angle (rad) when open"),
    Param("calibration.gripper_closed", 0.0, "raw gripper servo angle (rad) when closed"),
    Param("command.mode", "trajectory", "trajectory (JTC topic) or forward (forward position controller)",
          choices=("trajectory", "forward")),
    Param("command.lookahead_periods", 3.0, "the trajectory point lies this many periods ahead", bounds=(0.0, 1000.0)),
    Param("command.forward_topic", "forward_position_controller/commands", "topic of command.mode=forward"),
    Param("realtime_priority", 0, "SCHED_FIFO priority of all the node's threads (0: normal scheduling)",
          bounds=(0, 99)),
    Param("follower_timeout", 0.5, "follower joint states older than this (s) do not count for the gate",
          bounds=(0.001, 60.0)),
    Param("safety.engage_threshold", 0.2, "max abs(leader - follower) per arm joint to engage (rad)"),
    Param("safety.ramp_in", False, "ramp in slowly from a misalignment instead of waiting for alignment"),
    Param("safety.ramp_velocity_scale", 0.1, "ramp-in speed as a fraction of the velocity limits"),
    Param("safety.velocity_scale", 1.0, "per-tick step cap = max_velocity * velocity_scale / rate_hz"),
    Param("safety.limit_margin", 0.0, "keep commands this far inside the joint limits (rad)"),
    Param("safety.max_read_failures", 25, "consecutive bad leader reads before disengaging"),
    Param("safety.range_margin", 0.35, "a leader reading beyond the limits by more is garbage (rad)"),
    Param("safety.max_leader_jump", 0.5, "a leader change larger than this in one read is garbage (rad)"),
    Param("safety.max_follower_deviation", 0.5, "follower further than this from the command (rad): hold it, "
          "re-gate (0: off)"),
], summary="a leader arm (or topic) driving the follower behind the safety gate")


class TeleopNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("teleop_node", **kwargs)
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        p = PARAMS.declare(self)
        self.log = self.get_logger()
        self.spec = load_robot_spec(p["robot"])
        self.rate = float(p["rate_hz"])
        self._running = False
        self._thread: threading.Thread | None = None
        self.leader = self._make_leader(p)
        self.names = list(self.leader.names)
        safety = SafetyConfig(**{k.split(".", 1)[1]: p[k] for k in p if k.startswith("safety.")})
        self.gate = SafetyGate(self.spec, self.names, safety)
        self.dof = self.spec.dof
        self.lookahead = float(p["command.lookahead_periods"]) / self.rate
        self.mode = p["command.mode"]
        self.follower_timeout = float(p["follower_timeout"])
        self.rt_priority = int(p["realtime_priority"])
        self._follower: tuple[float, np.ndarray] | None = None
        self._follower_names = follower_names(self.spec)

        # Reliable, depth 10 everywhere: commands and the leader stream are the action a recorder
        # keeps, and ros2_control's controllers subscribe reliable.
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_leader = self.create_publisher(JointState, "leader/joint_states", reliable)
        self.pub_traj = self.create_publisher(JointTrajectory, f"{self.spec.arm_controller}/joint_trajectory", reliable)
        self.pub_forward = self.create_publisher(Float64MultiArray, p["command.forward_topic"], reliable)
        self.pub_gripper = self.create_publisher(Float64MultiArray, f"{self.spec.gripper_controller}/commands", reliable)
        self.pub_status = self.create_publisher(String, "~/status", reliable)
        self.pub_engaged = self.create_publisher(Bool, "~/engaged", reliable)
        self.create_subscription(JointState, "joint_states", self._on_follower, reliable)
        self.leader_topic = ""
        if isinstance(self.leader, TopicLeader):
            sub = self.create_subscription(JointState, p["leader.topic"],
                                           lambda m: self.leader.feed(m.name, m.position), reliable)
            self.leader_topic = sub.topic_name
            self.log.info(f"topic leader on {self.leader_topic} (follower joint space)")
        self.create_service(Trigger, "~/ramp_in", self._on_ramp_in)
        self._msg = (JointState, JointTrajectory, JointTrajectoryPoint, Float64MultiArray, String, Bool)
        self.ticks = 0
        self.overruns = 0
        self.failed_reads = 0
        self._t_start: float | None = None
        self._last_status = ("", 0.0)
        self._last_log = 0.0
        self._last_logged = ""
        self._last_gripper: float | None = None
        self.start()

    # ---- setup ------------------------------------------------------------------------------
    def _make_leader(self, p: dict):
        kind = p["leader.type"]
        if kind == "topic":
            return TopicLeader(self.spec, stale_after=p["leader.stale_after"])
        if p["calibration_file"]:
            cal = load_calibration(p["calibration_file"])
        else:
            c = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("calibration.")}
            if not c["offsets"]:
                raise CalibrationError("no calibration: set calibration_file or the calibration.* parameters "
                                       "(run `ros2 run teleop calibrate`)")
            if p["leader.gripper_id"] < 0:
                c.pop("gripper_open"), c.pop("gripper_closed")
            cal = Calibration.from_dict(c, where="calibration parameters")
        if not cal.calibrated and not p["allow_uncalibrated"]:
            raise CalibrationError(
                f"the leader calibration ({p['calibration_file'] or 'calibration.* parameters'}) is the uncalibrated "
                "template; run `ros2 run teleop calibrate` first, or engage it anyway with the launch argument "
                "allow_uncalibrated:=true (node parameter allow_uncalibrated)")
        ids = list(p["leader.ids"] or [])
        if p["leader.gripper_id"] >= 0 and cal.has_gripper:
            ids.append(int(p["leader.gripper_id"]))
        bus = BUSES[kind](p["leader.port"], int(p["leader.baudrate"]), ids, p["leader.timeout_ms"])
        leader = ServoLeader(bus, cal, self.spec)
        leader.open()  # raises ServoBusError: a missing device is an error, never a fake
        for warning in bus.warnings:
            self.log.warning(warning)
        if p["leader.torque_off"]:
            for i in bus.ids:
                bus.write_byte(i, bus.torque_enable, 0)
        self.log.info(f"{kind} leader on {bus.port_name} at {bus.baudrate} baud, servos {bus.ids}")
        return leader

    # ---- callbacks (executor thread) --------------------------------------------------------
    def _on_follower(self, msg) -> None:
        names = [n for n in self._follower_names if n in msg.name]
        if len(names) < self.dof:
            return
        try:
            q, _ = joint_state_to_arrays(msg, names[: len(self.names)])
        except (MissingJointsError, ValueError):
            return
        if np.all(np.isfinite(q)):
            if self._follower is None:
                self.log.info(f"follower state received ({len(names)} joints)")
            self._follower = (time.monotonic(), q)

    def _on_ramp_in(self, request, response):
        self.gate.request_ramp()
        response.success, response.message = True, f"ramp-in requested (state: {self.gate.state})"
        return response

    # ---- the control loop (its own thread) --------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="teleop-loop", daemon=True)
        self._thread.start()

    def destroy_node(self) -> None:
        """Stop the control loop (it publishes) before the node and its publishers go."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.leader.close()
        if self.ticks > 1 and self._t_start is not None:
            span = time.monotonic() - self._t_start
            print(f"teleop_node: loop {self.ticks} ticks in {span:.2f} s = {self.ticks / span:.1f} Hz "
                  f"(target {self.rate:.0f}), {self.overruns} stalls skipped, {self.failed_reads} bad reads",
                  flush=True)
        super().destroy_node()

    def _set_realtime(self) -> None:
        try:  # every thread of the process: the loop, the executor (either may hold the GIL the
            # other needs) and the DDS threads that deliver the messages
            for tid in os.listdir("/proc/self/task"):
                os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(self.rt_priority))
            self.log.info(f"all threads at SCHED_FIFO priority {self.rt_priority}")
        except (PermissionError, OSError, AttributeError) as exc:
            self.log.warning(f"cannot set SCHED_FIFO priority {self.rt_priority} ({exc}); allow it with "
                             "`rtprio` in /etc/security/limits.conf or run with CAP_SYS_NICE")

    def _loop(self) -> None:
        if self.rt_priority > 0:
            self._set_realtime()
        period = 1.0 / self.rate
        self._t_start = time.monotonic()
        self.max_catch_up = max(0.02, 5 * period)  # short stalls are caught up: the rate holds
        next_t = time.monotonic()
        last_t = None
        reopen_at = 0.0
        while self._running and self.context.ok():
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -self.max_catch_up:  # far behind (machine stalled): skip, do not burst
                self.overruns += 1
                next_t = time.monotonic()
            now = time.monotonic()
            dt = min(now - last_t, 3 * period) if last_t is not None else period
            last_t = now
            try:
                self.tick(dt)
            except Exception as exc:  # noqa: BLE001 - never let the loop die silently
                if not (self._running and self.context.ok()):
                    break  # shutting down: the context is gone
                self.gate.disengage(f"internal error: {exc!r}")
                self.log.error(f"teleop tick failed, disengaged: {exc!r}", throttle_duration_sec=1.0)
            if self.gate.state == FAULT and isinstance(self.leader, ServoLeader) and now >= reopen_at:
                reopen_at = now + 1.0
                self._reopen()

    def tick(self, dt: float) -> None:
        JointState = self._msg[0]
        stamp = time.time_ns()
        if isinstance(self.leader, TopicLeader) and self.leader.waiting:
            # a software leader that has not started yet is not a fault: say what we wait for
            self.ticks += 1
            self._report(WAITING, Tick(None, WAITING, f"waiting for the leader on {self.leader_topic}", [], []))
            return
        try:
            q, err = self.leader.read(), None
        except LeaderReadError as exc:
            q, err = None, str(exc)
        follower, age = None, 0.0
        if self._follower is not None:
            age = time.monotonic() - self._follower[0]
            follower = self._follower[1] if age <= self.follower_timeout else None
        was = self.gate.state
        tick = self.gate.step(q, follower, dt, err, follower_age=age)
        if tick.command is not None:
            self._command(tick.command, follower)
        if not self.gate.reading_ok:
            self.failed_reads += 1
        else:
            msg = JointState()
            msg.header.stamp = ns_to_stamp(stamp)
            msg.name = self.names
            msg.position = q.tolist()
            self.pub_leader.publish(msg)
        self.ticks += 1
        self._report(was, tick)

    def _command(self, cmd: np.ndarray, follower: np.ndarray | None) -> None:
        _, JointTrajectory, JointTrajectoryPoint, Float64MultiArray, _, _ = self._msg
        arm = cmd[: self.dof]
        if self.mode == "trajectory":
            horizon = self.lookahead
            if follower is not None:  # never ask the JTC to outrun the velocity limits
                horizon = max(horizon, float(np.max(np.abs(arm - follower[: self.dof]) / self.spec.max_velocity)))
            msg = JointTrajectory()
            msg.joint_names = self.spec.joint_names
            point = JointTrajectoryPoint()
            point.positions = arm.tolist()
            point.time_from_start = sec_to_duration(horizon)
            msg.points = [point]
            self.pub_traj.publish(msg)
        else:
            self.pub_forward.publish(Float64MultiArray(data=arm.tolist()))
        if cmd.size > self.dof:
            g = float(cmd[self.dof])
            if self._last_gripper is None or abs(g - self._last_gripper) > 1e-4 or self.ticks % 50 == 0:
                self.pub_gripper.publish(Float64MultiArray(data=[g]))
                self._last_gripper = g

    def _report(self, was: str, tick) -> None:
        String, Bool = self._msg[4], self._msg[5]
        now = time.monotonic()
        changed = tick.state != was
        if changed or now - self._last_status[1] > 0.5:  # ~/status: on change and at 2 Hz
            self.pub_status.publish(String(data=f"{tick.state}: {tick.status}"))
            self.pub_engaged.publish(Bool(data=tick.state == ENGAGED))
            self._last_status = (tick.status, now)
        changed_text = tick.status != self._last_logged
        if changed and tick.state == FAULT:
            self.log.error(tick.status)
        elif changed and tick.state == ENGAGED:
            self.log.info(f"{tick.state}: {tick.status}")
        elif tick.state == WAITING and (changed_text or now - self._last_log > 10.0):
            self.log.info(f"{tick.state}: {tick.status}")   # start-up, not a problem: INFO, rarely
        elif tick.state not in (ENGAGED, WAITING) and (changed or now - self._last_log > 1.0):  # at 1 Hz
            self.log.warning(f"{tick.state}: {tick.status}")
        else:
            return
        self._last_log = now
        self._last_logged = tick.status

    def _reopen(self) -> None:
        try:
            self.leader.close()
            self.leader.open()
            self.log.info("leader bus reopened; re-aligning before engaging")
        except ServoBusError as exc:
            self.log.error(f"leader still unavailable: {exc}", throttle_duration_sec=5.0)


def main(args: list[str] | None = None) -> int:
    return run_node(TeleopNode, args, errors=(ServoBusError,), name="teleop_node")


if __name__ == "__main__":
    sys.exit(main())
