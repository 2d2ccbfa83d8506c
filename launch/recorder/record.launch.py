"""Episode recorder for one setup (config/recorder/<setup>.yaml) and one robot.

    ros2 launch recorder record.launch.py setup:=sim robot:=so101 task:="pick the cube and place it in the target"
    ros2 run recorder record --episodes 50 --episode-time 30 --reset-time 10     # in a terminal

Needs a full ROS 2 install (launch, launch_ros); the recorder node itself runs anywhere.
"""
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

SETUPS = ["sim", "real"]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("setup", default_value="sim", choices=SETUPS,
                              description="topic set to record: config/recorder/<setup>.yaml"),
        DeclareLaunchArgument("robot", default_value="so101",
                              description="follower arm, stored with every episode: config/robots/<robot>.yaml"),
        DeclareLaunchArgument("session_dir", default_value="",
                              description="session folder (an existing one is resumed); empty: a new dated one"),
        DeclareLaunchArgument("output_root", default_value="~/robot_data/recordings",
                              description="where new session folders are created (~ is expanded)"),
        DeclareLaunchArgument("task", default_value="", description="task text stored with every episode"),
        DeclareLaunchArgument("operator", default_value="", description="who records"),
        DeclareLaunchArgument("max_episode_s", default_value="0.0",
                              description="save automatically after this many seconds (0: no limit)"),
        DeclareLaunchArgument("min_free_disk_gb", default_value="2.0",
                              description="refuse to start an episode below this much free disk"),
    ]
    recorder = Node(
        package="recorder",
        executable="recorder_node",
        name="recorder",
        output="screen",
        parameters=[{
            "setup": LaunchConfiguration("setup"),     # the node finds config/recorder/<setup>.yaml itself
            "robot": LaunchConfiguration("robot"),
            "session_dir": LaunchConfiguration("session_dir"),
            "output_root": LaunchConfiguration("output_root"),
            "task": ParameterValue(LaunchConfiguration("task"), value_type=str),
            "operator": ParameterValue(LaunchConfiguration("operator"), value_type=str),
            "max_episode_s": ParameterValue(LaunchConfiguration("max_episode_s"), value_type=float),
            "min_free_disk_gb": ParameterValue(LaunchConfiguration("min_free_disk_gb"), value_type=float),
        }],
    )
    return LaunchDescription(args + [recorder])
