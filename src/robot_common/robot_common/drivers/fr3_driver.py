"""`robot_common fr3_driver`: a Franka Research 3 + Franka Hand follower on pylibfranka, no ros2_control.

The topics are those of our ros2_control followers (follower_node). The 1 kHz loop (fr3_loop) and
the hand (fr3_gripper) run in worker processes of their own; this node checks the inputs, hands
them over and publishes what comes back. See docs/drivers.md.
"""
from __future__ import annotations

import threading

from robot_common.drivers.follower_node import DriverError, FollowerNode, common_params
from robot_common.drivers.fr3_gripper import GripperConfig, gripper_process
from robot_common.drivers.fr3_limits import MAX_LOST_IN_A_ROW
from robot_common.drivers.fr3_loop import ArmConfig, arm_process
from robot_common.drivers.worker import Worker
from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable
from robot_common.trajectory_check import CheckedTrajectory

PARAMS = ParamTable("fr3_driver", common_params("fr3", 100.0) + [
    Param("velocity_scale", 1.0, "fraction of the FR3's (position-dependent) joint velocity limits the "
          "driver moves at", bounds=(0.01, 1.0)),
    Param("acceleration_scale", 1.0, "fraction of the 10 rad/s^2 joint acceleration limit", bounds=(0.01, 1.0)),
    Param("jerk_scale", 1.0, "fraction of the 5000 rad/s^3 joint jerk limit", bounds=(0.01, 1.0)),
    Param("max_lost_cycles", MAX_LOST_IN_A_ROW, "command packets lost in a row that end the motion "
          "(the FR3 aborts at 20 with communication_constraints_violation)", bounds=(1, MAX_LOST_IN_A_ROW)),
    Param("lost_packet_tolerance", 2, "lost packets in a row the generator leaves velocity room for (the robot "
          "extrapolates lost commands at constant acceleration; libfranka's kTolNumberPacketsLost): "
          "n x 1 ms x 10 rad/s^2 below each velocity limit", bounds=(0, MAX_LOST_IN_A_ROW)),
    Param("realtime_config", "enforce", "libfranka's RealtimeConfig: enforce (needs a PREEMPT_RT kernel) or "
          "ignore (simulators, tests)", choices=("enforce", "ignore")),
    Param("realtime_priority", 80, "SCHED_FIFO priority of the control loop process (0: normal scheduling)",
          bounds=(0, 99)),
    Param("realtime_cpu", -1, "pin the control loop process to this CPU (-1: any)", bounds=(-1, 1023)),
    Param("lock_memory", True, "mlockall the control loop process (no page faults in the loop)"),
    Param("gripper_speed", 0.05, "Franka Hand speed (m/s of the width)", bounds=(0.001, 0.1)),
    Param("gripper_force", 20.0, "Franka Hand grasp force when closing (N)", bounds=(1.0, 70.0)),
    Param("gripper_deadband", 0.001, "changes of the commanded width (m) smaller than this are not sent",
          bounds=(0.0, 0.02)),
    Param("gripper_homing", False, "home the Franka Hand after connecting (calibrates its width)"),
], summary="FR3 follower on pylibfranka: JTC topic, Franka Hand, joint_states, 1 kHz jerk-limited loop")


class Fr3Driver(FollowerNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("fr3_driver", PARAMS, **kwargs)
        p, spec = self.p, self.spec
        if spec.dof != 7:
            raise ValueError(f"parameter 'robot': fr3_driver drives a 7-joint Franka arm; {spec.name} has {spec.dof} "
                             f"joints ({spec.source})")
        self._events = {"arm": threading.Event(), "gripper": threading.Event()}
        self._replies: dict[str, tuple] = {}
        self.arm = self.gripper_worker = None
        cfg = ArmConfig(
            robot_ip=p["robot_ip"], joint_names=tuple(spec.joint_names), realtime_config=p["realtime_config"],
            realtime_priority=p["realtime_priority"], cpu=p["realtime_cpu"], lock_memory=p["lock_memory"],
            velocity_scale=p["velocity_scale"], acceleration_scale=p["acceleration_scale"],
            jerk_scale=p["jerk_scale"], max_lost_in_a_row=p["max_lost_cycles"],
            lost_packet_tolerance=p["lost_packet_tolerance"],
            state_period_ms=max(1, int(round(1000.0 / p["joint_state_rate"]))))
        try:
            # both processes start together (starting one costs CPU a running 1 kHz loop would
            # miss); the arm's loop begins once the hand is up
            self.arm = Worker("fr3-arm", arm_process, (cfg,), self._on_arm)
            if self.use_gripper:
                gcfg = GripperConfig(robot_ip=p["robot_ip"], speed=p["gripper_speed"], force=p["gripper_force"],
                                     deadband=p["gripper_deadband"], homing=p["gripper_homing"])
                self.gripper_worker = Worker("fr3-hand", gripper_process, (gcfg,), self._on_gripper_msg)
            self._wait("arm", "the FR3")
            if self.use_gripper:
                self._wait("gripper", "the Franka Hand")
            self.arm.send("start")
        except BaseException:
            self.destroy_node()   # run_node never gets the node: stop what was started
            raise
        self.get_logger().info(
            f"FR3 at {p['robot_ip']}: connected; Franka Hand {'on' if self.use_gripper else 'off'}; "
            f"joint_states at {p['joint_state_rate']:g} Hz ({p['stamp_clock']} clock)")

    def _wait(self, which: str, what: str) -> None:
        event = self._events[which]
        if not event.wait(self.p["connect_timeout"]):
            raise DriverError(f"no answer from {what} at {self.p['robot_ip']} within {self.p['connect_timeout']:g} s")
        kind, text = self._replies.pop(which)
        if kind == "error":
            raise DriverError(text)
        if text:
            self.get_logger().warning(text)

    # ---- messages from the workers (reader threads) --------------------------------------------
    def _on_arm(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "state":
            _, t, host_ns, q, dq, tau, q_cmd, dq_cmd = msg
            self.publish_state(t, host_ns, q, dq, tau, q_cmd, dq_cmd)
        elif kind == "status":
            self.stats = {k: v for k, v in msg[3].items()}
            self.set_mode(msg[1], msg[2])
        elif kind in ("connected", "error"):
            self._replies["arm"] = (kind, msg[1])
            self._events["arm"].set()
        elif kind == "recovered":
            self._replies["arm_recover"] = msg[1:]
            self._events["arm"].set()
        elif kind == "stats":
            self.stats = dict(msg[1])
            print(f"FR3_LOOP_STATS {msg[1]}", flush=True)
        elif kind == "exited":
            if not self._events["arm"].is_set():
                self._replies["arm"] = ("error", f"the FR3 control process exited (code {msg[1]})")
                self._events["arm"].set()
            if self.mode != "stopped" and not getattr(self, "_closing", False):
                self.set_mode("fault", f"the FR3 control process exited (code {msg[1]})")

    def _on_gripper_msg(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "gripper":
            self.gripper_position = msg[1]
        elif kind == "status":
            self.gripper_text = f"{msg[1]}: {msg[2]}"
            if msg[1] == "fault":
                self.get_logger().error(self.gripper_text)
        elif kind in ("connected", "error"):
            self._replies["gripper"] = (kind, "" if kind == "connected" else msg[1])
            self._events["gripper"].set()
        elif kind == "recovered":
            self._replies["gripper_recover"] = msg[1:]
            self._events["gripper"].set()
        elif kind == "exited" and not getattr(self, "_closing", False):
            self.gripper_text = f"fault: the Franka Hand process exited (code {msg[1]})"

    # ---- hooks ---------------------------------------------------------------------------------
    def _send_trajectory(self, traj: CheckedTrajectory, start: tuple[str, float] | None) -> None:
        self.arm.send("trajectory", traj.times, traj.positions, traj.velocities, traj.accelerations, start)

    def _send_gripper(self, position: float) -> None:
        if self.gripper_worker is not None:
            self.gripper_worker.send("target", position)

    def _send_stop(self, reason: str) -> None:
        self.arm.send("stop", reason)

    def _recover(self) -> tuple[bool, str]:
        texts, ok = [], True
        for which, worker, key in (("arm", self.arm, "arm_recover"), ("gripper", self.gripper_worker, "gripper_recover")):
            if worker is None:
                continue
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
            good, text = self._replies.pop(key)
            ok = ok and good
            texts.append(text)
        return ok, "; ".join(texts)

    def destroy_node(self) -> None:
        self._closing = True
        for worker in (self.gripper_worker, self.arm):
            if worker is not None:
                worker.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(Fr3Driver, args, errors=(DriverError,))


if __name__ == "__main__":
    raise SystemExit(main())
