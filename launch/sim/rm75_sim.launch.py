"""The rm75 in MuJoCo: `ros2 launch sim rm75_sim.launch.py [cameras:=... real_time:=... expert:=true ...]`.

Every argument of sim.launch.py (cameras, seed, real_time, expert, expert_mode) passes through."""
from launch.actions import IncludeLaunchDescription
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    sim = PathJoinSubstitution([FindPackageShare("sim"), "launch", "sim.launch.py"])
    return LaunchDescription([IncludeLaunchDescription(sim, launch_arguments={"robot": "rm75"}.items())])
