"""Bring up the fr3: `ros2 launch robot_common fr3_bringup.launch.py hardware:=sim|mock|gazebo|real|direct`.

Includes bringup.launch.py with robot:=fr3; its other arguments (namespace, hardware, gz_world,
use_rviz, ...) pass through (`--show-args` lists them)."""
from launch import LaunchDescription
from robot_common.launch_support import declare_fixed_robot, declare_hardware_arguments, include, passed
from robot_common.spec import load_robot_spec

ROBOT = "fr3"


def generate_launch_description() -> LaunchDescription:
    hardware_args = list(load_robot_spec(ROBOT).hardware.launch_arguments)
    return LaunchDescription([
        declare_fixed_robot(ROBOT),
        *declare_hardware_arguments(ROBOT),
        include("robot_common", "bringup.launch.py", passed("robot", *hardware_args)),
    ])
