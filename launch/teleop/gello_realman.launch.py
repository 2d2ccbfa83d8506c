"""GELLO leader (Dynamixel) teleoperating a RealMan RM65 or RM75 follower.

    ros2 launch teleop gello_realman.launch.py robot:=rm75 robot_ip:=192.168.1.18
    ros2 launch teleop gello_realman.launch.py robot:=rm65 sim:=true

Includes teleop.launch.py with leader_config:=gello_<robot>.
Needs a full ROS 2 install (launch, launch_ros); the teleop node itself runs anywhere.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    robot = LaunchConfiguration("robot")
    args = [
        DeclareLaunchArgument("robot", default_value="rm75", choices=["rm65", "rm75"],
                              description="RealMan model (the GELLO must have the same number of joints)"),
        DeclareLaunchArgument("sim", default_value="false", choices=["true", "false"],
                              description="true: MuJoCo follower from the sim package instead of hardware"),
        DeclareLaunchArgument("use_fake_hardware", default_value="false", choices=["true", "false"],
                              description="ros2_control mock hardware instead of the real arm (sim:=false only)"),
        DeclareLaunchArgument("robot_ip", default_value="192.168.1.18", description="RealMan controller address"),
        DeclareLaunchArgument("leader_type", default_value="gello", choices=["gello", "topic"],
                              description="gello: Dynamixel bus; topic: a JointState topic in follower space"),
        DeclareLaunchArgument("leader_port", default_value="/dev/ttyUSB0",
                              description="GELLO U2D2 serial port (prefer /dev/serial/by-id/...)"),
        DeclareLaunchArgument("leader_baudrate", default_value="1000000",
                              description="Dynamixel bus baud rate (servos must be set to the same)"),
        DeclareLaunchArgument("rate", default_value="500.0", description="leader read / command rate, Hz"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="calibration YAML written by `ros2 run teleop calibrate`; "
                                          "empty: the calibration in config/teleop/gello_<robot>.yaml"),
    ]
    teleop = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("teleop"), "launch", "teleop.launch.py"])),
        launch_arguments={
            "robot": robot,
            "leader_config": ["gello_", robot],
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
