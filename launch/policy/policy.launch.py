"""Run a trained ACT policy on one arm: the arm (ros2_control bringup or the MuJoCo sim) + policy_node.

    ros2 launch policy policy.launch.py robot:=fr3 checkpoint:=<dir> sim:=true

act_franka.launch.py, act_realman.launch.py and act_so101.launch.py include this file with robot
set and their own defaults for the rest; prefer those.
sim:=true starts the MuJoCo sim (the sim package's <robot>_sim.launch.py); otherwise the
robot_common bringup starts ros2_control with mock (use_fake_hardware:=true) or real hardware
(robot_ip:=... for FR3 / RealMan, usb_port:=... for SO-101). policy_node reads
config/policy/node_<robot>.yaml.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ROBOTS = ["fr3", "rm65", "rm75", "so101"]


def generate_launch_description() -> LaunchDescription:
    robot = LaunchConfiguration("robot")
    sim = LaunchConfiguration("sim")
    args = [
        DeclareLaunchArgument("robot", choices=ROBOTS, description="arm (config/policy/node_<robot>.yaml)"),
        DeclareLaunchArgument("checkpoint", description="checkpoint folder (ours or LeRobot's pretrained_model)"),
        DeclareLaunchArgument("sim", default_value="false", choices=["true", "false"],
                              description="run against the MuJoCo sim instead of ros2_control"),
        DeclareLaunchArgument("use_fake_hardware", default_value="true", choices=["true", "false"],
                              description="ros2_control mock hardware (true) or the real arm (false)"),
        # defaults as in bringup.launch.py, for the arms whose launch file does not set them
        DeclareLaunchArgument("robot_ip", default_value="172.16.0.2", description="FR3 / RealMan controller address"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM0", description="SO-101 Feetech bus serial port"),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device: cpu, cuda, cuda:1"),
        DeclareLaunchArgument("control_rate", default_value="30.0", description="command rate (Hz)"),
        DeclareLaunchArgument("execution", default_value="ensemble", choices=["ensemble", "chunk"],
                              description="temporal ensembling or chunk-by-chunk with overlap blend"),
        DeclareLaunchArgument("ensemble_coeff", default_value="0.01", description="k in weights exp(-k i)"),
        DeclareLaunchArgument("autostart", default_value="false", choices=["true", "false"],
                              description="start acting without a /policy/start call"),
    ]
    hardware = PythonExpression(["'mock' if '", LaunchConfiguration("use_fake_hardware"), "' == 'true' else 'real'"])
    bringup = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"])
        ),
        launch_arguments={
            "robot": robot,
            "hardware": hardware,
            "robot_ip": LaunchConfiguration("robot_ip"),
            "usb_port": LaunchConfiguration("usb_port"),
        }.items(),
        condition=UnlessCondition(sim),
    )
    sim_arm = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("sim"), "launch", [robot, "_sim.launch.py"]])),
        condition=IfCondition(sim),
    )
    policy = Node(
        package="policy",
        executable="policy_node",
        name="policy_node",
        output="screen",
        parameters=[
            PathJoinSubstitution([FindPackageShare("policy"), "config", "policy", ["node_", robot, ".yaml"]]),
            {
                "checkpoint": LaunchConfiguration("checkpoint"),
                "device": LaunchConfiguration("device"),
                "control_rate_hz": LaunchConfiguration("control_rate"),
                "execution": LaunchConfiguration("execution"),
                "ensemble_coeff": LaunchConfiguration("ensemble_coeff"),
                "autostart": LaunchConfiguration("autostart"),
            },
        ],
    )
    return LaunchDescription(args + [bringup, sim_arm, policy])
