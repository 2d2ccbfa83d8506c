"""A GelSight-type tactile sensor as /tactile/<sensor>/{image_raw, contact_mask, wrench, contact_area, ...}.

    ros2 launch sensors tactile.launch.py sensor:=left_finger source:=/dev/video4
    ros2 service call /tactile/left_finger/reset_reference std_srvs/srv/Trigger
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

MODELS = ["gelsight_mini"]


def _tactile_node(context):
    params = PathJoinSubstitution([FindPackageShare("sensors"), "config", "tactile",
                                   [LaunchConfiguration("model"), ".yaml"]])
    overrides = {"sensor_name": LaunchConfiguration("sensor").perform(context)}
    source = LaunchConfiguration("source").perform(context)
    if source:
        overrides["source"] = source
    return [Node(
        package="sensors",
        executable="tactile_node",
        name=["tactile_", LaunchConfiguration("sensor")],
        parameters=[params, overrides],
        output="screen",
    )]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("sensor", default_value="left_finger",
                              description="sensor name: topics /tactile/<sensor>/..."),
        DeclareLaunchArgument("model", default_value="gelsight_mini", choices=MODELS,
                              description="config/tactile/<model>.yaml"),
        DeclareLaunchArgument("source", default_value="", description="override the YAML's V4L2 device / video file"),
        OpaqueFunction(function=_tactile_node),
    ])
