"""An Intel RealSense (D4xx) through realsense2_camera with our parameters (config/cameras/realsense*.yaml),
its topics remapped to the workspace's names (relative, under the launch's namespace):

    cameras/<name>/image_raw, cameras/<name>/camera_info              colour (rgb8)
    cameras/<name>/depth/image_raw, cameras/<name>/depth/camera_info  depth aligned to colour (16UC1, mm)

    ros2 launch sensors realsense.launch.py name:=front serial_no:=123456789012 exposure:=fixed
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription
from robot_common.launch_support import config_file, declare_namespace, in_namespace, required, value

EXPOSURES = ["auto", "fixed"]

# realsense2_camera 4.x publishes node-private topics (~/color/...); ours are relative to cameras/<name>.
REMAPS = [
    ("~/color/image_raw", "image_raw"),
    ("~/color/camera_info", "camera_info"),
    ("~/color/image_raw/compressed", "image_raw/compressed"),
    ("~/aligned_depth_to_color/image_raw", "depth/image_raw"),
    ("~/aligned_depth_to_color/camera_info", "depth/camera_info"),
    ("~/depth/image_rect_raw", "depth_unaligned/image_raw"),
    ("~/depth/camera_info", "depth_unaligned/camera_info"),
]


def _camera(context):
    name = value(context, "name")
    params = [config_file("cameras", "realsense"), config_file("cameras", f"realsense_exposure_{value(context, 'exposure')}"),
              {"camera_name": name, "serial_no": ParameterValue(LaunchConfiguration("serial_no"), value_type=str)}]
    return [in_namespace([Node(package="realsense2_camera", executable="realsense2_camera_node", namespace=f"cameras/{name}",
                               name="realsense", parameters=params, remappings=REMAPS, output="screen",
                               emulate_tty=True, on_exit=required(f"realsense {name}"))])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        DeclareLaunchArgument("name", default_value="front", description="camera name: topics cameras/<name>/..."),
        DeclareLaunchArgument("serial_no", default_value="",
                              description="the camera's serial number when several are connected; empty: any"),
        DeclareLaunchArgument("exposure", default_value="auto", choices=EXPOSURES,
                              description="auto, or fixed exposure/gain/white balance from "
                                          "config/cameras/realsense_exposure_fixed.yaml"),
        OpaqueFunction(function=_camera),
    ])
