"""Run a trained policy on the SO-101: `ros2 launch policy act_so101.launch.py checkpoint:=<dir> [hardware:=sim|mock|real]`.

Includes policy.launch.py with robot:=so101; its other arguments (namespace, hardware, device,
control_rate_hz, execution, ensemble_coeff, autostart) pass through (`--show-args` lists them).
"""
from launch.actions import DeclareLaunchArgument

from launch import LaunchDescription
from robot_common.launch_support import declare_fixed_robot, declare_hardware_arguments, include, passed

ROBOT = "so101"


def generate_launch_description() -> LaunchDescription:
    hardware_args = declare_hardware_arguments(ROBOT)
    return LaunchDescription([
        declare_fixed_robot(ROBOT),
        *hardware_args,
        DeclareLaunchArgument("checkpoint", description="checkpoint folder (ours, or LeRobot's pretrained_model)"),
        include("policy", "policy.launch.py", passed("robot", "checkpoint", *(a.name for a in hardware_args))),
    ])
