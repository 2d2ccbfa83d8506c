"""One UVC/V4L2 camera (or a video file replayed as one) as /cameras/<camera>/image_raw + camera_info.

    ros2 launch sensors camera.launch.py camera:=front
    ros2 launch sensors camera.launch.py camera:=wrist source:=/dev/v4l/by-id/usb-...-video-index0
    ros2 launch sensors camera.launch.py camera:=front source:=demo.mp4 loop:=true
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

CAMERAS = ["front", "wrist"]


def _overrides(context) -> dict:
    """Launch arguments given on the command line win over config/cameras/uvc_<camera>.yaml."""
    out = {}
    source = LaunchConfiguration("source").perform(context)
    if source:
        out["source"] = source
    loop = LaunchConfiguration("loop").perform(context)
    if loop:
        out["loop"] = loop.lower() == "true"
    return out


def _camera_node(context):
    params = PathJoinSubstitution([FindPackageShare("sensors"), "config", "cameras",
                                   ["uvc_", LaunchConfiguration("camera"), ".yaml"]])
    return [Node(
        package="sensors",
        executable="camera_node",
        name=["camera_", LaunchConfiguration("camera")],
        parameters=[params, _overrides(context)],
        output="screen",
    )]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("camera", default_value="front", choices=CAMERAS,
                              description="which config/cameras/uvc_<camera>.yaml to run"),
        DeclareLaunchArgument("source", default_value="",
                              description="override the YAML's source: V4L2 index/path, video file or URL"),
        DeclareLaunchArgument("loop", default_value="", description="video files: true replays in a loop"),
        OpaqueFunction(function=_camera_node),
    ])
