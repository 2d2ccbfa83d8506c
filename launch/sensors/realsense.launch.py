"""An Intel RealSense (D4xx) through realsense2_camera with our parameters (config/cameras/realsense*.yaml),
its topics remapped to the workspace's names:

    /cameras/<name>/image_raw, /cameras/<name>/camera_info              colour (rgb8)
    /cameras/<name>/depth/image_raw, /cameras/<name>/depth/camera_info  depth aligned to colour (16UC1, mm)

    ros2 launch sensors realsense.launch.py name:=front serial_no:="'123456789012'" exposure:=fixed
"""
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

EXPOSURES = ["auto", "fixed"]

# realsense2_camera 4.x publishes node-private topics (~/color/...); ours are relative to /cameras/<name>.
REMAPS = [
    ("~/color/image_raw", "image_raw"),
    ("~/color/camera_info", "camera_info"),
    ("~/color/image_raw/compressed", "image_raw/compressed"),
    ("~/aligned_depth_to_color/image_raw", "depth/image_raw"),
    ("~/aligned_depth_to_color/camera_info", "depth/camera_info"),
    ("~/depth/image_rect_raw", "depth_unaligned/image_raw"),
    ("~/depth/camera_info", "depth_unaligned/camera_info"),
]


def generate_launch_description():
    name = LaunchConfiguration("name")
    common = PathJoinSubstitution([FindPackageShare("sensors"), "config", "cameras", "realsense.yaml"])
    exposure = PathJoinSubstitution([FindPackageShare("sensors"), "config", "cameras",
                                     ["realsense_exposure_", LaunchConfiguration("exposure"), ".yaml"]])
    return LaunchDescription([
        DeclareLaunchArgument("name", default_value="front", description="camera name: topics /cameras/<name>/..."),
        DeclareLaunchArgument("serial_no", default_value="''",
                              description="the camera's serial number (quoted) when several are connected"),
        DeclareLaunchArgument("exposure", default_value="auto", choices=EXPOSURES,
                              description="auto, or fixed exposure/gain/white balance from "
                                          "config/cameras/realsense_exposure_fixed.yaml"),
        Node(
            package="realsense2_camera",
            executable="realsense2_camera_node",
            namespace=["cameras/", name],
            name="realsense",
            parameters=[common, exposure, {"camera_name": name, "serial_no": LaunchConfiguration("serial_no")}],
            remappings=REMAPS,
            output="screen",
            emulate_tty=True,
        ),
    ])
