"""Bring up one follower arm on the hardware you choose (default: the MuJoCo sim).

    ros2 launch robot_common bringup.launch.py robot:=fr3 hardware:=mock
    ros2 launch robot_common bringup.launch.py robot:=so101 hardware:=real usb_port:=/dev/ttyACM0
    ros2 launch robot_common bringup.launch.py robot:=fr3 hardware:=gazebo

hardware:=sim     the sim package's MuJoCo sim_node (same topics as ros2_control)
hardware:=mock    robot_state_publisher + ros2_control_node with mock_components/GenericSystem
hardware:=gazebo  Gazebo Sim (ros_gz_sim) + gz_ros2_control, robot spawned from robot_description
hardware:=real    the arm's real ros2_control plugin (hardware.real_plugin in its spec), else its
                  direct driver (hardware.direct_driver, with any vendor launch files it needs)
hardware:=direct  robot_state_publisher + the arm's direct driver, no ros2_control
Everything comes from config/robots/<robot>.yaml: the generated urdf/ and config/controllers/,
the controller names, whether ros2_control drives the real gripper, the hardware arguments.
ros2_control spawns the joint state broadcaster, the arm's JTC and (if any) its gripper controller.
"""
import os
import shlex

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from robot_common.launch_support import (
    LaunchConfigError,
    declare_hardware,
    declare_hardware_arguments,
    declare_namespace,
    declare_robot,
    hardware_values,
    in_namespace,
    include,
    passed,
    required,
    value,
    with_dds_environment,
)
from robot_common.spec import RobotSpecError, load_robot_spec

XACRO_HARDWARE = {"mock": "mock", "gazebo": "gazebo", "real": "real", "direct": "real"}


def _mode(spec, hardware: str) -> str:
    """'ros2_control' or 'direct' for this arm on this hardware."""
    if hardware == "direct":
        if not spec.hardware.direct_driver:
            raise LaunchConfigError(f"hardware:=direct: {spec.name} has no direct driver "
                                    f"(config/robots/{spec.name}.yaml hardware.direct_driver)")
        return "direct"
    if hardware == "real":
        try:
            return spec.hardware.real_mode()
        except RobotSpecError as e:
            raise LaunchConfigError(f"hardware:=real: config/robots/{spec.name}.yaml: {e}") from None
    return "ros2_control"


def _description(spec, hardware: str, hw_args: dict) -> ParameterValue:
    args = [f"hardware:={XACRO_HARDWARE[hardware]}", f"controllers_file:={spec.controllers_path()}"]
    args += [f"{k}:={v}" for k, v in hw_args.items()]
    command = " ".join(shlex.quote(a) for a in [str(spec.urdf_path()), *args])
    return ParameterValue(Command([FindExecutable(name="xacro"), " ", command]), value_type=str)


def _spawner(controller: str, extra: list) -> Node:
    # one controller per spawner (Humble's spawner takes one); it finds the relative controller_manager
    return Node(package="controller_manager", executable="spawner", output="screen", arguments=[controller, *extra])


def _follower(context):
    robot, hardware = value(context, "robot"), value(context, "hardware")
    spec = load_robot_spec(robot)
    hw_args = hardware_values(context, spec)
    if hardware == "sim":
        return [include("sim", "sim.launch.py", passed("robot", "namespace"))]
    mode = _mode(spec, hardware)
    description = _description(spec, hardware, hw_args)
    gazebo = hardware == "gazebo"
    nodes = [Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
                  on_exit=required("robot_state_publisher"),
                  parameters=[{"robot_description": description, "use_sim_time": gazebo}])]
    outside = []
    if mode == "direct":
        nodes.append(Node(package="robot_common", executable=spec.hardware.direct_driver, output="screen",
                          on_exit=required(spec.hardware.direct_driver), parameters=[{"robot": robot, **hw_args}]))
        outside += [IncludeLaunchDescription(PathJoinSubstitution([FindPackageShare(pkg), "launch", file]))
                    for pkg, file in spec.hardware.vendor_launch]
        return [in_namespace(nodes), with_dds_environment(outside)]
    controllers = str(spec.controllers_path())
    if gazebo:
        gz_args = ("-s " if value(context, "gz_headless") == "true" else "") + "-r " + value(context, "gz_world")
        outside.append(IncludeLaunchDescription(
            PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"]),
            launch_arguments=[("gz_args", gz_args)]))
        nodes += [Node(package="ros_gz_sim", executable="create", output="screen",
                       arguments=["-topic", "robot_description", "-name", robot, "-z", "0.0"]),
                  Node(package="ros_gz_bridge", executable="parameter_bridge", output="screen",
                       arguments=["/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock"])]
    else:
        params = [controllers]
        if os.environ.get("ROS_DISTRO") == "humble":   # Humble's controller manager reads the parameter
            params.insert(0, {"robot_description": description})
        nodes.append(Node(package="controller_manager", executable="ros2_control_node", output="screen",
                          on_exit=required("ros2_control_node"), parameters=params,
                          remappings=[("~/robot_description", "robot_description")]))
    extra = ["--controller-manager-timeout", "60"] if gazebo else []
    nodes += [_spawner(spec.joint_state_broadcaster, extra), _spawner(spec.arm_controller, extra)]
    if spec.gripper and (hardware != "real" or spec.hardware.gripper_in_ros2_control_real):
        nodes.append(_spawner(spec.gripper_controller, extra))
    nodes.append(Node(package="rviz2", executable="rviz2", output="screen",
                      condition=IfCondition(LaunchConfiguration("use_rviz"))))
    return [in_namespace(nodes), with_dds_environment(outside)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        declare_robot("so101", what="follower arm"),
        declare_hardware(),
        *declare_hardware_arguments(),
        DeclareLaunchArgument("gz_world", default_value="empty.sdf", description="hardware:=gazebo: Gazebo world"),
        DeclareLaunchArgument("gz_headless", default_value="true", choices=["true", "false"],
                              description="hardware:=gazebo: run Gazebo without its GUI"),
        DeclareLaunchArgument("use_rviz", default_value="false", choices=["true", "false"], description="start RViz"),
        OpaqueFunction(function=_follower),
    ])
