"""An arm in MuJoCo behind ros2_control's topic interfaces (+ optionally the scripted expert).

    ros2 launch sim sim.launch.py robot:=fr3 cameras:="[front]" real_time:=false expert:=true expert_mode:=leader

<robot>_sim.launch.py include this file with robot set.
"""
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ROBOTS = ["fr3", "rm65", "rm75", "so101"]


def generate_launch_description():
    sim_params = PathJoinSubstitution([FindPackageShare("sim"), "config", "sim", "sim_node.yaml"])
    expert_params = PathJoinSubstitution([FindPackageShare("sim"), "config", "sim", "expert.yaml"])
    real_time = ParameterValue(LaunchConfiguration("real_time"), value_type=bool)
    robot = LaunchConfiguration("robot")
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="so101", choices=ROBOTS, description="arm in config/robots"),
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
                "robot": robot,
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
            parameters=[expert_params, {"robot": robot, "mode": LaunchConfiguration("expert_mode")}],
            condition=IfCondition(LaunchConfiguration("expert")),
            output="screen",
        ),
    ])
