"""An arm in MuJoCo behind ros2_control's topic interfaces (+ optionally the scripted expert).

    ros2 launch sim sim.launch.py robot:=fr3 cameras:="[front]" real_time:=false
    ros2 launch sim sim.launch.py robot:=so101 expert:=true expert.mode:=direct episodes:=5

<robot>_sim.launch.py include this file with robot set. Node parameters: config/sim/sim_node.yaml
and config/sim/expert.yaml; an empty argument leaves the parameter to those files / the node.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from robot_common.launch_support import (
    BOOL_OR_UNSET,
    config_file,
    declare_namespace,
    declare_robot,
    expert_node,
    given,
    in_namespace,
    required,
    value,
)

SIM_PARAMS = {"cameras": list[str], "seed": int, "real_time": bool}   # list[str]: launch_ros takes it as List[str]


def _nodes(context):
    robot = value(context, "robot")
    nodes = [Node(package="sim", executable="sim_node", output="screen", on_exit=required("sim_node"),
                  parameters=[config_file("sim", "sim_node"), {"robot": robot, **given(context, SIM_PARAMS)}])]
    if value(context, "expert") == "true":
        nodes.append(expert_node(context, robot, value(context, "expert.mode")))
    return [in_namespace(nodes)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        declare_robot("so101"),
        DeclareLaunchArgument("cameras", default_value="",
                              description="cameras to render, e.g. \"[front]\" (\"['']\": none); empty: sim_node.yaml"),
        DeclareLaunchArgument("seed", default_value="", description="seed of the episode sequence; empty: sim_node.yaml"),
        DeclareLaunchArgument("real_time", default_value="", choices=BOOL_OR_UNSET,
                              description="false: as fast as possible, with /clock; empty: sim_node.yaml (true)"),
        DeclareLaunchArgument("expert", default_value="false", choices=["true", "false"],
                              description="also start the scripted expert (sim expert)"),
        DeclareLaunchArgument("expert.mode", default_value="direct", choices=["direct", "leader"],
                              description="the expert's mode: direct commands the arm; leader streams "
                                          "expert/joint_states for a teleop node"),
        DeclareLaunchArgument("episodes", default_value="",
                              description="the expert runs this many episodes, then the launch ends; "
                                          "empty: it serves expert/run_episode"),
        OpaqueFunction(function=_nodes),
    ])
