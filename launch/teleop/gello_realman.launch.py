"""GELLO leader (Dynamixel) teleoperating a RealMan RM65 or RM75 follower.

    ros2 launch teleop gello_realman.launch.py robot:=rm75 robot_ip:=192.168.1.18
    ros2 launch teleop gello_realman.launch.py robot:=rm65 sim:=true

Needs a full ROS 2 install (launch, launch_ros); the teleop node itself runs anywhere.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    robot = LaunchConfiguration("robot")
    sim = LaunchConfiguration("sim")
    use_fake_hardware = LaunchConfiguration("use_fake_hardware")
    hardware = PythonExpression(["'mock' if '", use_fake_hardware, "'.lower() == 'true' else 'real'"])
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
    follower_hw = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"])),
        launch_arguments={"robot": robot, "hardware": hardware,
                          "robot_ip": LaunchConfiguration("robot_ip")}.items(),
        condition=UnlessCondition(sim),
    )
    follower_sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("sim"), "launch", [robot, "_sim.launch.py"]])),
        condition=IfCondition(sim),
    )
    teleop = Node(
        package="teleop",
        executable="teleop_node",
        name="teleop_node",
        output="screen",
        parameters=[
            PathJoinSubstitution([FindPackageShare("teleop"), "config", "teleop", ["gello_", robot, ".yaml"]]),
            {
                "robot": robot,
                "leader.type": ParameterValue(LaunchConfiguration("leader_type"), value_type=str),
                "leader.port": ParameterValue(LaunchConfiguration("leader_port"), value_type=str),
                "leader.baudrate": ParameterValue(LaunchConfiguration("leader_baudrate"), value_type=int),
                "rate_hz": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                "calibration_file": ParameterValue(LaunchConfiguration("calibration_file"), value_type=str),
            },
        ],
    )
    return LaunchDescription(args + [follower_hw, follower_sim, teleop])
