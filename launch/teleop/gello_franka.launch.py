"""GELLO leader (Dynamixel) teleoperating a Franka FR3 follower.

    ros2 launch teleop gello_franka.launch.py                       # real FR3 at robot_ip
    ros2 launch teleop gello_franka.launch.py use_fake_hardware:=true
    ros2 launch teleop gello_franka.launch.py sim:=true             # MuJoCo follower (sim package)

Includes teleop.launch.py with robot:=fr3 leader_config:=gello_franka.
Needs a full ROS 2 install (launch, launch_ros); the teleop node itself runs anywhere.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("sim", default_value="false", choices=["true", "false"],
                              description="true: MuJoCo follower from the sim package instead of hardware"),
        DeclareLaunchArgument("use_fake_hardware", default_value="false", choices=["true", "false"],
                              description="ros2_control mock hardware instead of the real FR3 (sim:=false only)"),
        DeclareLaunchArgument("robot_ip", default_value="172.16.0.2", description="FR3 control box address"),
        DeclareLaunchArgument("leader_type", default_value="gello", choices=["gello", "topic"],
                              description="gello: Dynamixel bus; topic: a JointState topic in follower space"),
        DeclareLaunchArgument("leader_port", default_value="/dev/ttyUSB0",
                              description="GELLO U2D2 serial port (prefer /dev/serial/by-id/...)"),
        DeclareLaunchArgument("leader_baudrate", default_value="1000000",
                              description="Dynamixel bus baud rate (servos must be set to the same)"),
        DeclareLaunchArgument("rate", default_value="500.0", description="leader read / command rate, Hz"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="calibration YAML written by `ros2 run teleop calibrate`; "
                                          "empty: the calibration in config/teleop/gello_franka.yaml"),
    ]
    teleop = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("teleop"), "launch", "teleop.launch.py"])),
        launch_arguments={
            "robot": "fr3",
            "leader_config": "gello_franka",
            "sim": LaunchConfiguration("sim"),
            "use_fake_hardware": LaunchConfiguration("use_fake_hardware"),
            "robot_ip": LaunchConfiguration("robot_ip"),
            "leader_type": LaunchConfiguration("leader_type"),
            "leader_port": LaunchConfiguration("leader_port"),
            "leader_baudrate": LaunchConfiguration("leader_baudrate"),
            "rate": LaunchConfiguration("rate"),
            "calibration_file": LaunchConfiguration("calibration_file"),
        }.items(),
    )
    return LaunchDescription(args + [teleop])
