"""The rm65 in MuJoCo behind ros2_control's topic interfaces (+ optionally the scripted expert).

    ros2 launch sim rm65_sim.launch.py cameras:="[front]" real_time:=false expert:=true expert_mode:=leader
"""
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ROBOT = "rm65"


def generate_launch_description():
    sim_params = PathJoinSubstitution([FindPackageShare("sim"), "config", "sim", "sim_node.yaml"])
    expert_params = PathJoinSubstitution([FindPackageShare("sim"), "config", "sim", "expert.yaml"])
    real_time = ParameterValue(LaunchConfiguration("real_time"), value_type=bool)
    return LaunchDescription([
        DeclareLaunchArgument("cameras", default_value="[front, wrist]", description="cameras to render"),
        DeclareLaunchArgument("seed", default_value="0", description="seed of the episode sequence"),
        DeclareLaunchArgument("real_time", default_value="true", choices=["true", "false"],
                              description="false: as fast as possible, with /clock"),
        DeclareLaunchArgument("expert", default_value="false", choices=["true", "false"],
                              description="also start the scripted expert"),
        DeclareLaunchArgument("expert_mode", default_value="direct", choices=["direct", "leader"],
                              description="direct: command the arm; leader: stream /expert/joint_states"),
        Node(
            package="sim",
            executable="sim_node",
            name="sim_node",
            parameters=[sim_params, {
                "robot": ROBOT,
                "cameras": ParameterValue(LaunchConfiguration("cameras"), value_type=list),
                "seed": ParameterValue(LaunchConfiguration("seed"), value_type=int),
                "real_time": real_time,
            }],
            output="screen",
        ),
        Node(
            package="sim",
            executable="expert",
            name="expert",
            parameters=[expert_params, {"robot": ROBOT, "mode": LaunchConfiguration("expert_mode")}],
            condition=IfCondition(LaunchConfiguration("expert")),
            output="screen",
        ),
    ])
