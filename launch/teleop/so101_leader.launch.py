"""SO-101 leader arm (Feetech STS3215, torque off) teleoperating an SO-101 follower.

    ros2 launch teleop so101_leader.launch.py leader_port:=/dev/ttyACM0 usb_port:=/dev/ttyACM1
    ros2 launch teleop so101_leader.launch.py sim:=true

Includes teleop.launch.py with robot:=so101 leader_config:=so101_leader.
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
                              description="ros2_control mock hardware instead of the real follower (sim:=false only)"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM1", description="follower arm's Feetech bus"),
        DeclareLaunchArgument("robot_ip", default_value="", description="unused by the SO-101 (kept for symmetry)"),
        DeclareLaunchArgument("leader_type", default_value="so101", choices=["so101", "topic"],
                              description="so101: Feetech bus; topic: a JointState topic in follower space"),
        DeclareLaunchArgument("leader_port", default_value="/dev/ttyACM0", description="leader arm's Feetech bus"),
        DeclareLaunchArgument("leader_baudrate", default_value="1000000", description="Feetech bus baud rate"),
        DeclareLaunchArgument("rate", default_value="500.0", description="leader read / command rate, Hz"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="calibration YAML written by `ros2 run teleop calibrate`; "
                                          "empty: the calibration in config/teleop/so101_leader.yaml"),
    ]
    teleop = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("teleop"), "launch", "teleop.launch.py"])),
        launch_arguments={
            "robot": "so101",
            "leader_config": "so101_leader",
            "sim": LaunchConfiguration("sim"),
            "use_fake_hardware": LaunchConfiguration("use_fake_hardware"),
            "usb_port": LaunchConfiguration("usb_port"),
            "robot_ip": LaunchConfiguration("robot_ip"),
            "leader_type": LaunchConfiguration("leader_type"),
            "leader_port": LaunchConfiguration("leader_port"),
            "leader_baudrate": LaunchConfiguration("leader_baudrate"),
            "rate": LaunchConfiguration("rate"),
            "calibration_file": LaunchConfiguration("calibration_file"),
        }.items(),
    )
    return LaunchDescription(args + [teleop])
