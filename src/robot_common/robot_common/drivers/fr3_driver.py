"""`robot_common fr3_driver`: a Franka Research 3 + Franka Hand follower on pylibfranka, no ros2_control.

The topics are those of our ros2_control followers (follower_node). The 1 kHz loop (fr3_loop) and
the hand (fr3_gripper) run in worker processes of their own; this node checks the inputs, hands
them over and publishes what comes back. See docs/drivers.md.
"""
from __future__ import annotations

from robot_common.drivers.follower_node import DriverError, FollowerNode, common_params
from robot_common.drivers.fr3_gripper import GripperConfig, gripper_process
from robot_common.drivers.fr3_limits import MAX_LOST_IN_A_ROW
from robot_common.drivers.fr3_loop import ArmConfig, arm_process
from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

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
            self.start_worker("arm", "the FR3 control process", arm_process, cfg)
            if self.use_gripper:
                gcfg = GripperConfig(robot_ip=p["robot_ip"], speed=p["gripper_speed"], force=p["gripper_force"],
                                     deadband=p["gripper_deadband"], homing=p["gripper_homing"])
                self.start_worker("gripper", "the Franka Hand process", gripper_process, gcfg)
            self.wait_connected("arm", "the FR3")
            if self.use_gripper:
                self.wait_connected("gripper", "the Franka Hand")
            self.workers["arm"].send("start")
        except BaseException:
            self.destroy_node()   # run_node never gets the node: stop what was started
            raise
        self.get_logger().info(
            f"FR3 at {p['robot_ip']}: connected; Franka Hand {'on' if self.use_gripper else 'off'}; "
            f"joint_states at {p['joint_state_rate']:g} Hz ({p['stamp_clock']} clock)")


def main(args: list[str] | None = None) -> int:
    return run_node(Fr3Driver, args, errors=(DriverError,))


if __name__ == "__main__":
    raise SystemExit(main())
