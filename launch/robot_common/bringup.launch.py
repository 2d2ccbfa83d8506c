"""Bring up one arm behind ros2_control (full ROS 2 install).

    ros2 launch robot_common bringup.launch.py robot:=fr3 hardware:=mock
    ros2 launch robot_common bringup.launch.py robot:=so101 hardware:=real usb_port:=/dev/ttyACM0
    ros2 launch robot_common bringup.launch.py robot:=fr3 hardware:=gazebo

hardware:=mock    robot_state_publisher + ros2_control_node with mock_components/GenericSystem
hardware:=gazebo  Gazebo Sim (ros_gz_sim) + gz_ros2_control, robot spawned from robot_description
hardware:=real    the arm's own ros2_control plugin (FR3: franka_hardware, SO-101: feetech);
                  RealMan has none: robot_common realman_driver (docs/drivers.md) serves the
                  same topics on RealMan's own API.
Spawns joint_state_broadcaster, arm_controller (JTC) and gripper_controller (forward position).
On the real FR3 the Franka Hand is driven by franka_gripper, not by ros2_control.
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.substitutions import (
    Command,
    FindExecutable,
    LaunchConfiguration,
    PathJoinSubstitution,
    PythonExpression,
)
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ROBOTS = ["fr3", "rm65", "rm75", "so101"]


def generate_launch_description() -> LaunchDescription:
    robot = LaunchConfiguration("robot")
    hardware = LaunchConfiguration("hardware")
    args = [
        DeclareLaunchArgument("robot", default_value="fr3", choices=ROBOTS, description="arm to bring up"),
        DeclareLaunchArgument("hardware", default_value="mock", choices=["mock", "gazebo", "real"],
                              description="ros2_control hardware: mock, gazebo or real"),
        DeclareLaunchArgument("robot_ip", default_value="172.16.0.2", description="FR3 / RealMan controller IP"),
        DeclareLaunchArgument("usb_port", default_value="/dev/ttyACM0", description="SO-101 servo bus"),
        DeclareLaunchArgument("gz_world", default_value="empty.sdf", description="Gazebo world"),
        DeclareLaunchArgument("gz_headless", default_value="true", description="run Gazebo without GUI"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="start RViz"),
    ]
    controllers = PathJoinSubstitution([FindPackageShare("robot_common"), "config", "controllers", [robot, ".yaml"]])
    description = ParameterValue(
        Command([
            FindExecutable(name="xacro"), " ",
            PathJoinSubstitution([FindPackageShare("robot_common"), "urdf", [robot, ".urdf.xacro"]]),
            " hardware:=", hardware, " robot_ip:=", LaunchConfiguration("robot_ip"),
            " usb_port:=", LaunchConfiguration("usb_port"), " controllers_file:=", controllers,
        ]),
        value_type=str,
    )
    is_gazebo = IfCondition(PythonExpression(["'", hardware, "' == 'gazebo'"]))
    is_realman_real = PythonExpression(["'", hardware, "' == 'real' and '", robot, "' in ('rm65', 'rm75')"])
    uses_control_node = IfCondition(PythonExpression(
        ["'", hardware, "' != 'gazebo' and not (", is_realman_real, ")"]))
    uses_controllers = IfCondition(PythonExpression(["not (", is_realman_real, ")"]))
    # the real Franka Hand is not a ros2_control joint (franka_gripper drives it)
    gripper_in_control = IfCondition(PythonExpression(
        ["not (", is_realman_real, ") and not ('", hardware, "' == 'real' and '", robot, "' == 'fr3')"]))
    gz_server_only = PythonExpression(["'-s ' if '", LaunchConfiguration("gz_headless"), "' == 'true' else ''"])
    spawner_args = ["--controller-manager", "/controller_manager"]

    return LaunchDescription(args + [
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": description,
                          "use_sim_time": PythonExpression(["'", hardware, "' == 'gazebo'"])}]),
        Node(package="controller_manager", executable="ros2_control_node", output="screen",
             parameters=[controllers], remappings=[("~/robot_description", "/robot_description")],
             condition=uses_control_node),
        IncludeLaunchDescription(
            PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"]),
            launch_arguments={"gz_args": [gz_server_only, "-r ", LaunchConfiguration("gz_world")]}.items(),
            condition=is_gazebo),
        Node(package="ros_gz_sim", executable="create", output="screen",
             arguments=["-topic", "robot_description", "-name", robot, "-z", "0.0"], condition=is_gazebo),
        Node(package="ros_gz_bridge", executable="parameter_bridge", output="screen",
             arguments=["/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock"], condition=is_gazebo),
        Node(package="controller_manager", executable="spawner", output="screen",
             arguments=["joint_state_broadcaster", "arm_controller", *spawner_args], condition=uses_controllers),
        Node(package="controller_manager", executable="spawner", output="screen",
             arguments=["gripper_controller", *spawner_args], condition=gripper_in_control),
        # RealMan: no ros2_control plugin; our direct driver on RealMan's Robotic_Arm API
        Node(package="robot_common", executable="realman_driver", output="screen",
             parameters=[{"robot": robot, "robot_ip": LaunchConfiguration("robot_ip")}],
             condition=IfCondition(is_realman_real)),
        Node(package="rviz2", executable="rviz2", output="screen",
             condition=IfCondition(LaunchConfiguration("use_rviz"))),
    ])
