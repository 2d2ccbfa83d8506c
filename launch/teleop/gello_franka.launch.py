"""GELLO leader (Dynamixel) teleoperating a Franka FR3 follower.

    ros2 launch teleop gello_franka.launch.py hardware:=sim leader:=expert    # no hardware: the scripted expert leads
    ros2 launch teleop gello_franka.launch.py hardware:=sim                   # your GELLO, the MuJoCo FR3
    ros2 launch teleop gello_franka.launch.py hardware:=real robot_ip:=172.16.0.2

Includes teleop.launch.py with robot:=fr3 (leader_config default gello_franka); its other arguments
(namespace, leader.port, rate_hz, calibration_file, allow_uncalibrated, ...) pass through.
"""
from launch.actions import DeclareLaunchArgument

from launch import LaunchDescription
from robot_common.launch_support import declare_fixed_robot, declare_hardware_arguments, include, passed
from robot_common.paths import list_configs

ROBOT = "fr3"


def generate_launch_description() -> LaunchDescription:
    hardware_args = declare_hardware_arguments(ROBOT)
    return LaunchDescription([
        declare_fixed_robot(ROBOT),
        DeclareLaunchArgument("leader", default_value="gello", choices=["gello", "topic", "expert"],
                              description="gello: the GELLO on its U2D2 (leader.port); topic: a JointState topic; "
                                          "expert: the scripted expert in the sim (hardware:=sim)"),
        DeclareLaunchArgument("leader_config", default_value="gello_franka", choices=list_configs("teleop"),
                              description="teleop parameters and GELLO calibration: config/teleop/<name>.yaml"),
        *hardware_args,
        include("teleop", "teleop.launch.py", passed("robot", "leader", "leader_config", *(a.name for a in hardware_args))),
    ])
