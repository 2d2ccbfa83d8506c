"""Bring up rm75: `ros2 launch robot_common rm75_bringup.launch.py hardware:=mock|gazebo|real`.

Every argument of bringup.launch.py (hardware, robot_ip, usb_port, gz_world, ...) passes through."""
from launch.actions import IncludeLaunchDescription
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    bringup = PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"])
    return LaunchDescription([IncludeLaunchDescription(bringup, launch_arguments={"robot": "rm75"}.items())])
