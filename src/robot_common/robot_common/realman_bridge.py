"""`robot_common realman_bridge`: the arm_controller topic interface for a real RealMan arm.

RealMan's ROS 2 driver has no ros2_control plugin; its rm_control node accepts
control_msgs/FollowJointTrajectory on /rm_group_controller/follow_joint_trajectory and streams
to rm_driver. This node gives teleop and policy the same JTC topic they use everywhere:
each /arm_controller/joint_trajectory message is checked (limits, NaN, times) and sent as a goal
that replaces the running one. Needs control_msgs (full ROS 2 install; not on PyPI).
"""
from __future__ import annotations

import sys

from robot_common.spec import load_robot_spec
from robot_common.trajectory_check import TrajectoryRejected, check_trajectory


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.action import ActionClient
    from rclpy.node import Node
    from trajectory_msgs.msg import JointTrajectory

    try:
        from control_msgs.action import FollowJointTrajectory
    except ImportError:
        print("realman_bridge needs control_msgs (apt install ros-$ROS_DISTRO-control-msgs); "
              "it is part of a full ROS 2 install, not of the PyPI wheels", file=sys.stderr)
        return 2

    class RealmanBridge(Node):
        def __init__(self) -> None:
            super().__init__("realman_bridge")
            robot = self.declare_parameter("robot", "rm65", ParameterDescriptor(description="rm65 or rm75")).value
            action = self.declare_parameter(
                "action", "/rm_group_controller/follow_joint_trajectory",
                ParameterDescriptor(description="rm_control's FollowJointTrajectory action")).value
            self.spec = load_robot_spec(robot)
            self.client = ActionClient(self, FollowJointTrajectory, action)
            self.goal_handle = None
            self.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self.on_trajectory, 10)

        def on_trajectory(self, msg: JointTrajectory) -> None:
            try:
                check_trajectory(msg, self.spec)
            except TrajectoryRejected as e:
                self.get_logger().error(f"trajectory rejected, arm holds: {e}")
                return
            if not self.client.server_is_ready():
                self.get_logger().error("rm_control's action server is not available; is rm_control running?")
                return
            if self.goal_handle is not None:  # JTC topic semantics: the new trajectory replaces
                self.goal_handle.cancel_goal_async()
            goal = FollowJointTrajectory.Goal(trajectory=msg)
            self.client.send_goal_async(goal).add_done_callback(self._accepted)

        def _accepted(self, future) -> None:
            handle = future.result()
            self.goal_handle = handle if handle.accepted else None
            if not handle.accepted:
                self.get_logger().error("rm_control rejected the trajectory")

    rclpy.init(args=argv)
    node = RealmanBridge()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
