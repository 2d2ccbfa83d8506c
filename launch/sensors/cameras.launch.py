"""Both UVC cameras of the default setup (front scene camera, wrist camera) from config/cameras/."""
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    front = PathJoinSubstitution([FindPackageShare("sensors"), "config", "cameras", "uvc_front.yaml"])
    wrist = PathJoinSubstitution([FindPackageShare("sensors"), "config", "cameras", "uvc_wrist.yaml"])
    return LaunchDescription([
        Node(package="sensors", executable="camera_node", name="camera_front", parameters=[front], output="screen"),
        Node(package="sensors", executable="camera_node", name="camera_wrist", parameters=[wrist], output="screen"),
    ])
