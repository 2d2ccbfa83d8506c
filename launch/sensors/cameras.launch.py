"""Every UVC camera of the setup (config/cameras/uvc_*.yaml: the front scene camera and the wrist
camera), each as camera.launch.py runs it.

    ros2 launch sensors cameras.launch.py
"""
from launch.actions import GroupAction, OpaqueFunction

from launch import LaunchDescription
from robot_common.launch_support import declare_namespace, include, passed
from robot_common.paths import list_configs


def _cameras(context):
    # one scoped group per camera, so that each include's arguments stay within it; built at run
    # time so that --show-args lists this file's arguments, not camera.launch.py's
    cameras = [name.removeprefix("uvc_") for name in list_configs("cameras") if name.startswith("uvc_")]
    return [GroupAction([include("sensors", "camera.launch.py", {"camera": c, **passed("namespace")})]) for c in cameras]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([declare_namespace(), OpaqueFunction(function=_cameras)])
