"""The episode recorder (recorder_node) for one setup: config/recorder/<setup>.yaml.

    ros2 launch recorder record.launch.py robot:=so101 task:="pick the cube and place it on the target"
    ros2 launch recorder record.launch.py hardware:=real robot:=fr3
    ros2 launch recorder record.launch.py robot:=so101 display:=true         # + a live rerun view
    ros2 run recorder record --episodes 50 --episode-time 30 --reset-time 10     # in a terminal

Setups are robot-agnostic: `sim` (any arm in the MuJoCo sim) and `real` (follower, leader, cameras
and tactile on hardware); `setup` defaults to the one matching `hardware`. Topics in a setup are
relative, so they are recorded in this launch's namespace. An empty argument leaves the
parameter to the node's default.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from robot_common.launch_support import (
    declare_display,
    declare_hardware,
    declare_namespace,
    declare_robot,
    given,
    in_namespace,
    live_view_nodes,
    required,
    value,
)
from robot_common.paths import list_configs

SETUPS = list_configs("recorder")   # config/recorder/<setup>.yaml: sim, real, real_compressed, a user's own
RECORDER_PARAMS = {"session_dir": str, "output_root": str, "task": str, "operator": str, "max_episode_s": float,
                   "min_free_disk_gb": float}


def _recorder(context):
    setup = value(context, "setup") or ("sim" if value(context, "hardware") == "sim" else "real")
    params = {"setup": setup, "robot": value(context, "robot"), **given(context, RECORDER_PARAMS)}
    return [in_namespace([Node(package="recorder", executable="recorder_node", output="screen",
                               on_exit=required("recorder_node"), parameters=[params]),
                          *live_view_nodes(context, setup)])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        declare_namespace(),
        declare_hardware(),
        declare_robot("so101", what="arm being recorded (stored with every episode)"),
        DeclareLaunchArgument("setup", default_value="", choices=["", *SETUPS],
                              description="topic set to record, config/recorder/<setup>.yaml; "
                                          "empty: sim for hardware:=sim, real otherwise"),
        DeclareLaunchArgument("session_dir", default_value="",
                              description="session folder (an existing one is resumed); empty: a new dated one"),
        DeclareLaunchArgument("output_root", default_value="", description="where new session folders are created"),
        DeclareLaunchArgument("task", default_value="", description="task text stored with every episode"),
        DeclareLaunchArgument("operator", default_value="", description="who records"),
        DeclareLaunchArgument("max_episode_s", default_value="",
                              description="save automatically after this many seconds (0: no limit)"),
        DeclareLaunchArgument("min_free_disk_gb", default_value="",
                              description="refuse to start an episode below this much free disk"),
        declare_display(),
        OpaqueFunction(function=_recorder),
    ])
