"""One UVC/V4L2 camera (or a video file replayed as one) as cameras/<camera>/image_raw + camera_info.

    ros2 launch sensors camera.launch.py camera:=front
    ros2 launch sensors camera.launch.py camera:=wrist source:=/dev/v4l/by-id/usb-...-video-index0
    ros2 launch sensors camera.launch.py camera:=front source:=demo.mp4 loop:=true

Parameters: config/cameras/uvc_<camera>.yaml; source and loop given here win over it.
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

CAMERAS = [name.removeprefix("uvc_") for name in list_configs("cameras") if name.startswith("uvc_")]


def _camera(context):
    camera = value(context, "camera")
    overrides = given(context, {"source": str, "loop": bool})
    return [in_namespace([Node(package="sensors", executable="camera_node", name=f"camera_{camera}", output="screen",
                               on_exit=required(f"camera_{camera}"),
                               parameters=[config_file("cameras", f"uvc_{camera}"), overrides])])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        DeclareLaunchArgument("camera", default_value="front", choices=CAMERAS,
                              description="which config/cameras/uvc_<camera>.yaml to run"),
        DeclareLaunchArgument("source", default_value="",
                              description="V4L2 index/path, video file or URL; empty: the YAML's source"),
        DeclareLaunchArgument("loop", default_value="", choices=BOOL_OR_UNSET,
                              description="video files: true replays in a loop; empty: the YAML's"),
        OpaqueFunction(function=_camera),
    ])
