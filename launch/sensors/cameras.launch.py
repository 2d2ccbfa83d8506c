"""Every UVC camera of the setup (config/cameras/uvc_*.yaml: the front scene camera and the wrist
camera), each as camera.launch.py runs it.

    ros2 launch sensors cameras.launch.py
"""
from launch.actions import GroupAction

from launch import LaunchDescription
from robot_common.launch_support import declare_namespace, include, passed
from robot_common.paths import list_configs

CAMERAS = [name.removeprefix("uvc_") for name in list_configs("cameras") if name.startswith("uvc_")]


def generate_launch_description() -> LaunchDescription:
    # one scoped group per camera: each include's arguments stay within it
    return LaunchDescription([declare_namespace()] + [
        GroupAction([include("sensors", "camera.launch.py", {"camera": camera, **passed("namespace")})])
        for camera in CAMERAS])
