"""Small pieces every launch file of the workspace uses (imported by launch/*/*.launch.py only).

Conventions they implement (README, "Launch files"):
- one `hardware:=sim|mock|gazebo|real|direct` argument, default sim (nothing moves a real arm
  unless asked); `namespace:=` on every top-level file, applied with a scoped PushRosNamespace;
- launch arguments named as the node parameters they set; an empty value means "not given":
  the node's parameter file or its own default decides, so a default lives in one place;
- the per-arm hardware arguments (robot_ip, usb_port, ...) come from the specs'
  `hardware.launch_arguments`, so a new arm brings its own;
- every node we start is required: when it exits, the launch says so and shuts down;
- every process runs in the workspace's DDS environment (robot_common.dds, docs/dds.md): with
  ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, the Fast DDS profile that binds every socket to
  loopback; with ROBOT_WS_DDS_INTERFACES, loopback plus those interfaces; a profile the user set
  (FASTRTPS_DEFAULT_PROFILES_FILE) is kept. in_namespace() applies it to the nodes it groups,
  with_dds_environment() to other actions (another package's launch file).
Only constructs that both Humble and Jazzy launch/launch_ros offer are used here.
"""
from __future__ import annotations

from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    LogInfo,
    SetEnvironmentVariable,
    Shutdown,
)
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from robot_common import dds
from robot_common.paths import find_config
from robot_common.spec import RobotSpec, list_robots, load_robot_spec

HARDWARE = ("sim", "mock", "gazebo", "real", "direct")
HARDWARE_HELP = ("sim: MuJoCo sim_node; mock: ros2_control GenericSystem; gazebo: Gazebo Sim + gz_ros2_control; "
                 "real: the arm's real ros2_control plugin, else its direct driver (config/robots/<robot>.yaml "
                 "hardware:); direct: the direct driver, no ros2_control")
BOOL_OR_UNSET = ["", "true", "false"]


class LaunchConfigError(RuntimeError):
    """Launch arguments that cannot run together; the message says which and why."""


def value(context, name: str) -> str:
    """The performed launch configuration `name`."""
    return LaunchConfiguration(name).perform(context)


def declare_namespace() -> DeclareLaunchArgument:
    return DeclareLaunchArgument("namespace", default_value="",
                                 description="ROS namespace of every node started (e.g. left): topics become "
                                             "<namespace>/joint_states, ...; empty: the root namespace")


def declare_hardware(default: str = "sim") -> DeclareLaunchArgument:
    return DeclareLaunchArgument("hardware", default_value=default, choices=list(HARDWARE), description=HARDWARE_HELP)


def declare_robot(default: str | None = None, family: str | None = None, what: str = "arm") -> DeclareLaunchArgument:
    choices = list_robots(family)
    kwargs = {} if default is None else {"default_value": default}
    return DeclareLaunchArgument("robot", choices=choices, description=f"{what}: config/robots/<robot>.yaml", **kwargs)


def declare_fixed_robot(robot: str) -> DeclareLaunchArgument:
    """A per-arm wrapper's `robot`: shown with its own value, and no other accepted."""
    load_robot_spec(robot)   # a wrapper for an arm without a spec fails here, clearly
    return DeclareLaunchArgument("robot", default_value=robot, choices=[robot],
                                 description=f"fixed by this file: config/robots/{robot}.yaml")


def hardware_argument_defaults(robots: list[str] | None = None) -> dict[str, dict[str, str]]:
    """launch argument -> {robot: default} over the given arms' hardware.launch_arguments."""
    out: dict[str, dict[str, str]] = {}
    for robot in list_robots() if robots is None else robots:
        for name, default in load_robot_spec(robot).hardware.launch_arguments.items():
            out.setdefault(name, {})[robot] = default
    return out


def declare_hardware_arguments(robot: str | None = None, robots: list[str] | None = None) -> list[DeclareLaunchArgument]:
    """robot_ip, usb_port, ... For one fixed arm with its spec's defaults; else empty = the arm's default."""
    if robot is not None:
        spec = load_robot_spec(robot)
        return [DeclareLaunchArgument(name, default_value=default,
                                      description=f"{robot} on real hardware: {name} (hardware:=real|direct)")
                for name, default in spec.hardware.launch_arguments.items()]
    out = []
    for name, per_robot in sorted(hardware_argument_defaults(robots).items()):
        defaults = ", ".join(f"{r} {d}" for r, d in sorted(per_robot.items()))
        out.append(DeclareLaunchArgument(name, default_value="", description=(
            f"real hardware (hardware:=real|direct): {name}; empty: the arm's default ({defaults})")))
    return out


def hardware_values(context, spec: RobotSpec) -> dict[str, str]:
    """The hardware launch arguments of this arm, each given or its spec default; a value given for
    an argument the arm does not take is an error (it would be ignored silently otherwise)."""
    out = dict(spec.hardware.launch_arguments)
    for name in hardware_argument_defaults():
        given = value(context, name) if name in context.launch_configurations else ""
        if not given:
            continue
        if name not in out:
            raise LaunchConfigError(f"{name}:={given} means nothing for {spec.name} (config/robots/{spec.name}.yaml "
                                    f"hardware.launch_arguments: {sorted(out) or 'none'})")
        out[name] = given
    return out


def config_file(kind: str, name: str) -> str:
    """config/<kind>/<name>.yaml wherever robot_common.paths finds it (overlay, checkout or share/)."""
    return str(find_config(kind, name))


def include(package: str, launch_file: str, arguments: dict) -> IncludeLaunchDescription:
    """One of our launch files (share/<package>/launch/<file>) with the given arguments."""
    return IncludeLaunchDescription(PathJoinSubstitution([FindPackageShare(package), "launch", launch_file]),
                                    launch_arguments=list(arguments.items()))


def passed(*names: str) -> dict:
    """{name: LaunchConfiguration(name)}: arguments an include receives unchanged."""
    return {n: LaunchConfiguration(n) for n in names}


def dds_environment() -> list[SetEnvironmentVariable]:
    """The workspace's DDS variables (robot_common.dds) as actions, computed from the launch's own
    environment when the description is built; none where it holds them already, or the user set
    a Fast DDS profile of their own."""
    try:
        changes = dds.dds_environment()
    except dds.DdsConfigError as exc:
        raise LaunchConfigError(str(exc)) from None
    return [SetEnvironmentVariable(name, value) for name, value in sorted(changes.items())]


def with_dds_environment(actions: list) -> GroupAction:
    """The actions (another package's launch file, ...) in the workspace's DDS environment (scoped)."""
    return GroupAction([*dds_environment(), *actions])


def in_namespace(actions: list) -> GroupAction:
    """The actions under the `namespace` argument, in the workspace's DDS environment (scoped: neither
    leaks into other actions)."""
    return GroupAction([*dds_environment(), PushRosNamespace(LaunchConfiguration("namespace")), *actions])


def given(context, types: dict) -> dict:
    """{parameter: ParameterValue} for every launch argument in `types` (name -> str|int|float|bool)
    whose value is not empty: the node's parameter file or default decides the others."""
    return {name: ParameterValue(LaunchConfiguration(name), value_type=value_type)
            for name, value_type in types.items() if value(context, name) != ""}


def expert_node(context, robot: str, mode: str):
    """`sim expert`, the scripted demonstrator, for `robot` in `mode` (direct: it commands the arm;
    leader: it streams expert/joint_states for a teleop node). Reads the `episodes` argument."""
    params = {"robot": robot, "mode": mode, **given(context, {"episodes": int})}
    return Node(package="sim", executable="expert", output="screen", on_exit=required("expert"),
                parameters=[config_file("sim", "expert"), params])


def required(label: str):
    """A Node's on_exit: log who stopped and with which code, then shut the launch down."""
    def on_exit(event, context):
        if context.is_shutdown:
            return None
        code = event.returncode
        reason = f"{label} exited with code {code}" + ("" if code == 0 else " (its error is printed above)")
        return [LogInfo(msg=f"{reason}: stopping the launch"), Shutdown(reason=reason)]
    on_exit.ends_launch = True
    return on_exit


def declare_display() -> DeclareLaunchArgument:
    """`display:=true`: a live rerun view of the cameras, tactile, joints and commands (recorder live_view)."""
    return DeclareLaunchArgument("display", default_value="false", choices=["true", "false"],
                                 description="true: stream cameras, tactile, leader/follower joints and commands "
                                             "to a rerun viewer (spawned, or a local web port when headless)")


def live_view_nodes(context, setup: str) -> list:
    """The live_view node for `setup` (config/recorder/<setup>.yaml) when display:=true, else nothing."""
    if value(context, "display") != "true":
        return []
    return [Node(package="recorder", executable="live_view", output="screen", on_exit=required("live_view"),
                 parameters=[{"setup": setup}])]
