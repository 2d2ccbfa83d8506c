"""Run a trained policy on one arm: the arm (robot_common bringup.launch.py, default the MuJoCo sim)
+ policy_node.

    ros2 launch policy policy.launch.py robot:=fr3 checkpoint:=<dir> hardware:=sim

act_franka.launch.py, act_realman.launch.py and act_so101.launch.py include this file with robot
set; prefer those. policy_node reads config/policy/policy_node.yaml (robot-agnostic) and gets
robot from this launch; an empty argument leaves the parameter to that file or the node's default.
The policy waits for a policy/start call (ros2 service call /policy/start std_srvs/srv/Trigger)
unless autostart:=true.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from robot_common.launch_support import (
    BOOL_OR_UNSET,
    config_file,
    declare_hardware,
    declare_hardware_arguments,
    declare_namespace,
    declare_robot,
    given,
    hardware_argument_defaults,
    in_namespace,
    include,
    passed,
    required,
    value,
)

POLICY_PARAMS = {"checkpoint": str, "device": str, "control_rate_hz": float, "execution": str,
                 "ensemble_coeff": float, "autostart": bool}


def _policy(context):
    params = {"robot": value(context, "robot"), **given(context, POLICY_PARAMS)}
    return [in_namespace([Node(package="policy", executable="policy_node", output="screen",
                               on_exit=required("policy_node"),
                               parameters=[config_file("policy", "policy_node"), params])])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        declare_robot(what="arm the policy drives"),
        DeclareLaunchArgument("checkpoint", description="checkpoint folder (ours, or LeRobot's pretrained_model)"),
        declare_hardware(),
        *declare_hardware_arguments(),
        DeclareLaunchArgument("device", default_value="", description="torch device: cpu, cuda, cuda:1; empty: the config's"),
        DeclareLaunchArgument("control_rate_hz", default_value="", description="command rate, Hz; empty: the config's"),
        DeclareLaunchArgument("execution", default_value="", choices=["", "ensemble", "chunk"],
                              description="ensemble: temporal ensembling; chunk: chunk by chunk with an overlap "
                                          "blend; empty: the config's"),
        DeclareLaunchArgument("ensemble_coeff", default_value="",
                              description="temporal ensembling k in weights exp(-k i); empty: the config's"),
        DeclareLaunchArgument("autostart", default_value="", choices=BOOL_OR_UNSET,
                              description="true: act as soon as every input is there, without a policy/start call"),
        include("robot_common", "bringup.launch.py",
                passed("namespace", "robot", "hardware", *hardware_argument_defaults())),
        OpaqueFunction(function=_policy),
    ])
