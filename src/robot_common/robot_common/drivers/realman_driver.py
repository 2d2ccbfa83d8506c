"""`robot_common realman_driver`: a RealMan RM65 / RM75 follower on RealMan's official Python API
(Robotic_Arm), streaming joint targets with the controller's pass-through mode (movej_canfd).
It replaces realman_bridge (rm_control's FollowJointTrajectory, which cannot be streamed).

The topics are those of our ros2_control followers (follower_node); the stream runs in a worker
process (realman_loop). See docs/drivers.md.
"""
from __future__ import annotations

from robot_common.drivers.follower_node import DriverError, FollowerNode, common_params
from robot_common.drivers.realman_loop import RealmanConfig, realman_process
from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

PARAMS = ParamTable("realman_driver", common_params("rm65", 100.0) + [
    Param("port", 8080, "the controller's JSON/TCP port", bounds=(1, 65535)),
    Param("stream_rate", 200.0, "movej_canfd rate (Hz); RealMan: a steady period of at most 10 ms in high-follow "
          "mode, 2 ms at the fastest", bounds=(100.0, 500.0)),
    Param("follow", True, "RealMan's high-follow pass-through (false: low follow)"),
    Param("velocity_scale", 1.0, "fraction of the spec's joint velocity limits", bounds=(0.01, 1.0)),
    Param("acceleration_scale", 1.0, "fraction of the spec's joint acceleration limits", bounds=(0.01, 1.0)),
    Param("max_jerk", 200.0, "joint jerk limit of the stream (rad/s^3; RealMan publishes none)", bounds=(1.0, 5000.0)),
    Param("read_timeout_ms", 100, "timeout of one state read (ms)", bounds=(5, 2000)),
    Param("max_read_failures", 5, "state reads in a row without an answer before the stream stops",
          bounds=(1, 1000)),
], summary="RealMan follower on Robotic_Arm: JTC topic, gripper, joint_states, pass-through stream")


class RealmanDriver(FollowerNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("realman_driver", PARAMS, **kwargs)
        p, spec = self.p, self.spec
        if spec.dof not in (6, 7):
            raise ValueError(f"parameter 'robot': realman_driver drives 6- or 7-joint RealMan arms; {spec.name} has "
                             f"{spec.dof} joints ({spec.source})")
        g = spec.gripper
        cfg = RealmanConfig(
            robot_ip=p["robot_ip"], port=p["port"], joint_names=tuple(spec.joint_names),
            max_velocity=tuple(spec.max_velocity * p["velocity_scale"]),
            max_acceleration=tuple(spec.max_acceleration * p["acceleration_scale"]), max_jerk=p["max_jerk"],
            stream_rate=p["stream_rate"], follow=p["follow"],
            state_every=max(1, int(round(p["stream_rate"] / p["joint_state_rate"]))), gripper=self.use_gripper,
            gripper_closed=g.closed if g else 0.0, gripper_open=g.open if g else 1.0,
            read_timeout_ms=p["read_timeout_ms"], max_read_failures=p["max_read_failures"])
        try:
            self.start_worker("arm", "the RealMan stream process", realman_process, cfg)
            self.wait_connected("arm", "the RealMan controller")
            self.workers["arm"].send("start")
        except BaseException:
            self.destroy_node()
            raise
        self.get_logger().info(f"RealMan {spec.name} at {p['robot_ip']}:{p['port']}: connected; movej_canfd at "
                               f"{p['stream_rate']:g} Hz, joint_states at {p['joint_state_rate']:g} Hz")


def main(args: list[str] | None = None) -> int:
    return run_node(RealmanDriver, args, errors=(DriverError,))


if __name__ == "__main__":
    raise SystemExit(main())
