"""Run a trained ACT policy on a SO-101: `ros2 launch policy act_so101.launch.py checkpoint:=<dir>`.

sim:=true starts the MuJoCo sim (package sim); otherwise the robot_common bringup starts
ros2_control with mock (use_fake_hardware:=true) or real hardware (usb_port:=...).
Includes policy.launch.py with robot:=so101.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("checkpoint", description="checkpoint folder (ours or LeRobot's pretrained_model)"),
        DeclareLaunchArgument("sim", default_value="false", choices=["true", "false"],
                              description="run against the MuJoCo sim instead of ros2_control"),
        DeclareLaunchArgument("use_fake_hardware", default_value="true", choices=["true", "false"],
                              description="ros2_control mock hardware (true) or the real arm (false)"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM0", description="Feetech bus serial port"),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device: cpu, cuda, cuda:1"),
        DeclareLaunchArgument("control_rate", default_value="30.0", description="command rate (Hz)"),
        DeclareLaunchArgument("execution", default_value="ensemble", choices=["ensemble", "chunk"],
                              description="temporal ensembling or chunk-by-chunk with overlap blend"),
        DeclareLaunchArgument("ensemble_coeff", default_value="0.01", description="k in weights exp(-k i)"),
        DeclareLaunchArgument("autostart", default_value="false", choices=["true", "false"],
                              description="start acting without a /policy/start call"),
    ]
    policy = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("policy"), "launch", "policy.launch.py"])),
        launch_arguments={
            "robot": "so101",
            "checkpoint": LaunchConfiguration("checkpoint"),
            "sim": LaunchConfiguration("sim"),
            "use_fake_hardware": LaunchConfiguration("use_fake_hardware"),
            "usb_port": LaunchConfiguration("usb_port"),
            "device": LaunchConfiguration("device"),
            "control_rate": LaunchConfiguration("control_rate"),
            "execution": LaunchConfiguration("execution"),
            "ensemble_coeff": LaunchConfiguration("ensemble_coeff"),
            "autostart": LaunchConfiguration("autostart"),
        }.items(),
    )
    return LaunchDescription(args + [policy])
