"""A GelSight-type tactile sensor as tactile/<sensor>/{image_raw, contact_mask, wrench, contact_area, ...}.

    ros2 launch sensors tactile.launch.py sensor:=left_finger source:=/dev/video4
    ros2 launch sensors tactile.launch.py sensor:=left_finger source:=gel.mp4 loop:=true
    ros2 service call /tactile/left_finger/reset_reference std_srvs/srv/Trigger

Parameters: config/tactile/<model>.yaml; sensor, source and loop given here win over it.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from robot_common.launch_support import (
    BOOL_OR_UNSET,
    config_file,
    declare_namespace,
    given,
    in_namespace,
    required,
    value,
)
from robot_common.paths import list_configs


def _tactile(context):
    sensor = value(context, "sensor")
    params = {"sensor_name": sensor, **given(context, {"source": str, "loop": bool})}
    return [in_namespace([Node(package="sensors", executable="tactile_node", name=f"tactile_{sensor}", output="screen",
                               on_exit=required(f"tactile_{sensor}"),
                               parameters=[config_file("tactile", value(context, "model")), params])])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        DeclareLaunchArgument("sensor", default_value="left_finger", description="sensor name: topics tactile/<sensor>/..."),
        DeclareLaunchArgument("model", default_value="gelsight_mini", choices=list_configs("tactile"),
                              description="config/tactile/<model>.yaml"),
        DeclareLaunchArgument("source", default_value="",
                              description="V4L2 device or video file; empty: the YAML's source"),
        DeclareLaunchArgument("loop", default_value="", choices=BOOL_OR_UNSET,
                              description="video files: true replays in a loop; empty: the YAML's"),
        OpaqueFunction(function=_tactile),
    ])
