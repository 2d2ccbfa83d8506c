"""Run a trained policy on a RealMan arm (robot:=rm65|rm75, every arm of the realman family).

    ros2 launch policy act_realman.launch.py robot:=rm75 checkpoint:=<dir> hardware:=sim

Includes policy.launch.py; its other arguments pass through (`--show-args` lists them).
"""
from launch.actions import DeclareLaunchArgument

from launch import LaunchDescription
from robot_common.launch_support import declare_robot, include, passed


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_robot("rm65", family="realman", what="RealMan model"),
        DeclareLaunchArgument("checkpoint", description="checkpoint folder (ours, or LeRobot's pretrained_model)"),
        include("policy", "policy.launch.py", passed("robot", "checkpoint")),
    ])
