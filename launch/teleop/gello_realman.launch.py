"""GELLO leader (Dynamixel) teleoperating a RealMan follower (robot:=rm65|rm75, every arm of the
realman family in config/robots).

    ros2 launch teleop gello_realman.launch.py robot:=rm75 hardware:=real
    ros2 launch teleop gello_realman.launch.py robot:=rm65 hardware:=sim leader:=expert

Includes teleop.launch.py (leader_config default gello_<robot>); its other arguments pass through.
"""
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription
from robot_common.launch_support import declare_robot, include, passed


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_robot("rm75", family="realman", what="RealMan model (the GELLO must have as many joints)"),
        DeclareLaunchArgument("leader", default_value="gello", choices=["gello", "topic", "expert"],
                              description="gello: the GELLO on its U2D2 (leader.port); topic: a JointState topic; "
                                          "expert: the scripted expert in the sim (hardware:=sim)"),
        DeclareLaunchArgument("leader_config", default_value=["gello_", LaunchConfiguration("robot")],
                              description="teleop parameters and GELLO calibration: config/teleop/<name>.yaml"),
        include("teleop", "teleop.launch.py", passed("robot", "leader", "leader_config")),
    ])
