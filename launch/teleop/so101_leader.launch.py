"""SO-101 leader arm (Feetech STS3215, torque off) teleoperating an SO-101 follower.

    ros2 launch teleop so101_leader.launch.py hardware:=real leader.port:=/dev/ttyACM0 usb_port:=/dev/ttyACM1
    ros2 launch teleop so101_leader.launch.py hardware:=sim leader:=expert

Includes teleop.launch.py with robot:=so101 (leader_config default so101_leader); its other arguments pass
through. Two buses: the leader's (leader.port) and the follower's (usb_port).
"""
from launch.actions import DeclareLaunchArgument

from launch import LaunchDescription
from robot_common.launch_support import declare_fixed_robot, include, passed
from robot_common.paths import list_configs

ROBOT = "so101"


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_fixed_robot(ROBOT),
        DeclareLaunchArgument("leader", default_value="so101", choices=["so101", "topic", "expert"],
                              description="so101: the leader arm on leader.port; topic: a JointState topic; "
                                          "expert: the scripted expert in the sim (hardware:=sim)"),
        DeclareLaunchArgument("leader.port", default_value="/dev/ttyACM0", description="the leader arm's Feetech bus"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM1",
                              description="the follower arm's Feetech bus (hardware:=real)"),
        DeclareLaunchArgument("leader_config", default_value="so101_leader", choices=list_configs("teleop"),
                              description="teleop parameters and leader calibration: config/teleop/<name>.yaml"),
        include("teleop", "teleop.launch.py", passed("robot", "leader", "leader_config", "leader.port", "usb_port")),
    ])
