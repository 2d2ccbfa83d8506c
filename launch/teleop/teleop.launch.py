r"""A leader teleoperating a follower arm: the follower (robot_common bringup.launch.py, default the
MuJoCo sim) + teleop_node (+ the scripted expert as a software leader with leader:=expert).

    ros2 launch teleop teleop.launch.py robot:=fr3 leader_config:=gello_franka leader:=expert
    ros2 launch teleop teleop.launch.py robot:=fr3 leader_config:=gello_franka leader:=gello \
        hardware:=real leader.port:=/dev/serial/by-id/usb-FTDI-if00-port0

gello_franka.launch.py, gello_realman.launch.py and so101_leader.launch.py include this file with
robot, leader_config and their own defaults; prefer those.
leader:=gello|so101  the leader arm on its serial bus (calibration from config/teleop/<leader_config>.yaml
                     or calibration_file:=...; allow_uncalibrated:=true engages a template one)
leader:=topic        a JointState topic in follower space (leader.topic in the leader config)
leader:=expert       the scripted expert (`sim expert`, leader mode) on expert/joint_states: no
                     hardware at all, needs hardware:=sim
display:=true        a live rerun view of cameras, tactile, leader/follower joints and commands (docs/view.md)
An empty argument leaves the parameter to config/teleop/<leader_config>.yaml or the node's default.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from robot_common.launch_support import (
    BOOL_OR_UNSET,
    LaunchConfigError,
    config_file,
    declare_display,
    declare_hardware,
    declare_hardware_arguments,
    declare_namespace,
    declare_robot,
    expert_node,
    given,
    hardware_argument_defaults,
    in_namespace,
    include,
    live_view_nodes,
    passed,
    required,
    value,
)
from robot_common.paths import list_configs

LEADERS = ["gello", "so101", "topic", "expert"]
TELEOP_PARAMS = {"leader.port": str, "leader.baudrate": int, "rate_hz": float, "calibration_file": str,
                 "allow_uncalibrated": bool}
EXPERT_LEADER_TOPIC = "expert/joint_states"     # relative: resolved in the launch's namespace


def _nodes(context):
    robot, leader, hardware = value(context, "robot"), value(context, "leader"), value(context, "hardware")
    if leader == "expert" and hardware != "sim":
        raise LaunchConfigError(f"leader:=expert needs hardware:=sim (the scripted expert plans from the sim's "
                                f"object pose), got hardware:={hardware}")
    params = {"robot": robot, "leader.type": "topic" if leader == "expert" else leader, **given(context, TELEOP_PARAMS)}
    if leader == "expert":
        params["leader.topic"] = EXPERT_LEADER_TOPIC
    nodes = [Node(package="teleop", executable="teleop_node", output="screen", on_exit=required("teleop_node"),
                  parameters=[config_file("teleop", value(context, "leader_config")), params])]
    if leader == "expert":
        nodes.append(expert_node(context, robot, "leader"))
    nodes += live_view_nodes(context, "sim" if hardware == "sim" else "real")
    return [in_namespace(nodes)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        declare_robot(what="follower arm"),
        DeclareLaunchArgument("leader_config", choices=list_configs("teleop"),
                              description="teleop parameters and leader calibration: config/teleop/<name>.yaml"),
        DeclareLaunchArgument("leader", choices=LEADERS,
                              description="gello: Dynamixel bus; so101: Feetech bus; topic: a JointState topic in "
                                          "follower space; expert: the scripted expert in the sim (no hardware)"),
        declare_hardware(),
        *declare_hardware_arguments(),
        DeclareLaunchArgument("leader.port", default_value="",
                              description="leader arm's serial port (prefer /dev/serial/by-id/...); empty: the config's"),
        DeclareLaunchArgument("leader.baudrate", default_value="",
                              description="leader bus baud rate (servos must be set to the same); empty: the config's"),
        DeclareLaunchArgument("rate_hz", default_value="", description="leader read / command rate, Hz; empty: the config's"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="calibration YAML written by `ros2 run teleop calibrate`; "
                                          "empty: the calibration in config/teleop/<leader_config>.yaml"),
        DeclareLaunchArgument("allow_uncalibrated", default_value="", choices=BOOL_OR_UNSET,
                              description="true: engage a servo leader whose calibration is the uncalibrated "
                                          "template (it refuses otherwise); empty: the config's"),
        DeclareLaunchArgument("episodes", default_value="",
                              description="leader:=expert: run this many demonstrations, then end the launch; "
                                          "empty: the expert serves expert/run_episode"),
        declare_display(),
        include("robot_common", "bringup.launch.py",
                passed("namespace", "robot", "hardware", *hardware_argument_defaults())),
        OpaqueFunction(function=_nodes),
    ])
