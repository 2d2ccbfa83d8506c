r"""A leader arm teleoperating a follower: the follower (ros2_control bringup or the MuJoCo sim) + teleop_node.

    ros2 launch teleop teleop.launch.py robot:=fr3 leader_config:=gello_franka leader_type:=gello \
        leader_port:=/dev/ttyUSB0 sim:=true

gello_franka.launch.py, gello_realman.launch.py and so101_leader.launch.py include this file with
robot and leader_config set and their own defaults for the rest; prefer those.
sim:=false: robot_common bringup.launch.py (hardware mock with use_fake_hardware:=true, else real);
sim:=true: the sim package's <robot>_sim.launch.py.

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

ROBOTS = ["fr3", "rm65", "rm75", "so101"]
LEADER_CONFIGS = ["gello_franka", "gello_rm65", "gello_rm75", "so101_leader"]  # config/teleop/<name>.yaml


def generate_launch_description() -> LaunchDescription:
    robot = LaunchConfiguration("robot")
    sim = LaunchConfiguration("sim")
    use_fake_hardware = LaunchConfiguration("use_fake_hardware")
    hardware = PythonExpression(["'mock' if '", use_fake_hardware, "'.lower() == 'true' else 'real'"])
    args = [
        DeclareLaunchArgument("robot", choices=ROBOTS, description="follower arm (config/robots/<robot>.yaml)"),
        DeclareLaunchArgument("leader_config", choices=LEADER_CONFIGS,
                              description="teleop parameters and default calibration: config/teleop/<name>.yaml"),
        DeclareLaunchArgument("leader_type", choices=["gello", "so101", "topic"],
                              description="gello: Dynamixel bus; so101: Feetech bus; "
                                          "topic: a JointState topic in follower space"),
        DeclareLaunchArgument("leader_port", description="leader arm's serial port (prefer /dev/serial/by-id/...)"),
        DeclareLaunchArgument("leader_baudrate", default_value="1000000",
                              description="leader bus baud rate (servos must be set to the same)"),
        DeclareLaunchArgument("rate", default_value="500.0", description="leader read / command rate, Hz"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="calibration YAML written by `ros2 run teleop calibrate`; "
                                          "empty: the calibration in config/teleop/<leader_config>.yaml"),
        DeclareLaunchArgument("sim", default_value="false", choices=["true", "false"],
                              description="true: MuJoCo follower from the sim package instead of hardware"),
        DeclareLaunchArgument("use_fake_hardware", default_value="false", choices=["true", "false"],
                              description="ros2_control mock hardware instead of the real follower (sim:=false only)"),
        # defaults as in bringup.launch.py, for the followers whose launch file does not set them
        DeclareLaunchArgument("robot_ip", default_value="172.16.0.2", description="FR3 / RealMan controller address"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM0", description="SO-101 follower's Feetech bus"),
    ]
    follower_hw = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"])),
        launch_arguments={"robot": robot, "hardware": hardware,
                          "robot_ip": LaunchConfiguration("robot_ip"),
                          "usb_port": LaunchConfiguration("usb_port")}.items(),
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
            PathJoinSubstitution([FindPackageShare("teleop"), "config", "teleop",
                                  [LaunchConfiguration("leader_config"), ".yaml"]]),
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
