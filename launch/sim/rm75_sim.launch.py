"""The rm75 in MuJoCo: `ros2 launch sim rm75_sim.launch.py [cameras:=... real_time:=... expert:=true ...]`.

Includes sim.launch.py with robot:=rm75; its other arguments (namespace, cameras, seed, real_time,
expert, expert.mode, episodes) pass through (`--show-args` lists them)."""
from launch import LaunchDescription
from robot_common.launch_support import declare_fixed_robot, include, passed


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_fixed_robot("rm75"),
        include("sim", "sim.launch.py", passed("robot")),
    ])
