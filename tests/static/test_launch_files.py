"""Every launch file runs under the launch model (tests/static/launch_model.py: what Humble and
Jazzy launch/launch_ros both do) with every argument set, names only executables and files that
exist, and breaks none of the rules of launch_check.py; each rule is shown to catch its bad form."""
import textwrap

import pytest

from robot_common.spec import list_robots

from . import launch_model as lm
from .launch_check import (
    ROOT,
    all_launch_files,
    check_command,
    check_launch_file,
    evaluate,
    key_matches,
    load_file,
    our_packages,
    readme_launch_lines,
    show_arguments,
)

LAUNCH_FILES = all_launch_files()
# one parameterised launch file per package; the per-arm/per-leader files only include it
BASES = {"robot_common": "bringup.launch.py", "sim": "sim.launch.py", "teleop": "teleop.launch.py",
         "policy": "policy.launch.py"}
WRAPPERS = [p for p in LAUNCH_FILES if p.parent.name in BASES and p.name != BASES[p.parent.name]]
TOP_LEVEL_WITH_HARDWARE = ["robot_common/bringup.launch.py", "teleop/teleop.launch.py", "policy/policy.launch.py",
                           "recorder/record.launch.py"]


def test_launch_folders_belong_to_packages():
    pkgs = our_packages()
    for folder in (ROOT / "launch").iterdir():
        assert folder.name in pkgs, f"launch/{folder.name} does not match a package in src/"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_launch_file_references_exist(path):
    report = check_launch_file(path)
    assert not report.errors, "\n".join(report.errors)
    assert report.nodes or report.files, f"{path} names no node and no file"
    assert report.evaluations >= 2


def test_required_entry_points_exist():
    names = {f"{p.parent.name}/{p.name}" for p in LAUNCH_FILES}
    assert {"robot_common/bringup.launch.py", "robot_common/fr3_bringup.launch.py"} <= names
    for user_facing in ("teleop/gello_franka", "teleop/gello_realman", "teleop/so101_leader", "policy/act_franka",
                        "policy/act_realman", "policy/act_so101", "recorder/record", "sensors/camera",
                        "sensors/cameras", "sensors/realsense", "sensors/tactile"):
        assert f"{user_facing}.launch.py" in names


@pytest.mark.parametrize("path", WRAPPERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_per_robot_launch_files_include_the_parameterised_one(path):
    base = BASES[path.parent.name]
    report = check_launch_file(path)
    assert not report.nodes, f"{path.name} starts nodes itself instead of through {base}"
    assert report.files == [(path.parent.name, ["launch", base])], f"{path.name} should include only {base}"
    robot_wrapper = path.name.split("_")[0]
    if path.parent.name in ("robot_common", "sim"):
        assert robot_wrapper in list_robots(), f"{path.name} is for an arm without config/robots/{robot_wrapper}.yaml"


@pytest.mark.parametrize("path", WRAPPERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_wrappers_show_their_own_defaults(path):
    """--show-args of a per-arm file shows its arm, never the parameterised file's default."""
    with lm.installed():
        lm.RECORD = lm.Record()
        lm.LOADER["load"] = None
        shown = {a.name: a for a in show_arguments(load_file(path))}
    robot = shown["robot"]
    fixed = path.name.split("_")[0]
    if fixed in list_robots():
        assert [lm.perform(lm.LaunchContext(), robot.default_value)] == robot.choices == [fixed]
    assert "namespace" in shown and "hardware" in shown or path.parent.name == "sim"


@pytest.mark.parametrize("relative", TOP_LEVEL_WITH_HARDWARE)
def test_one_hardware_argument_default_sim(relative):
    with lm.installed():
        lm.RECORD = lm.Record()
        shown = {a.name: a for a in show_arguments(load_file(ROOT / "launch" / relative))}
    hw = shown["hardware"]
    assert hw.choices == ["sim", "mock", "gazebo", "real", "direct"]
    assert lm.perform(lm.LaunchContext(), hw.default_value) == "sim"
    assert "use_fake_hardware" not in shown and "sim" not in shown


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_top_level_file_has_a_namespace_argument_that_moves_every_node(path):
    with lm.installed():
        args = {"checkpoint": "/tmp/x"} if path.parent.name == "policy" else {}
        if path.name == "teleop.launch.py":
            args.update(robot="so101", leader_config="so101_leader", leader="expert")
        if path.name == "policy.launch.py":
            args.update(robot="so101")
        ev = evaluate(path, {**args, "namespace": "left"})
    assert ev.failure is None and ev.refused is None, ev.failure or ev.refused
    assert ev.record.processes
    assert all(p.namespace.startswith("/left") for p in ev.record.processes), \
        [(p.executable, p.namespace) for p in ev.record.processes]


def test_readme_launch_lines_run_as_written():
    lines = readme_launch_lines()
    assert len(lines) >= 6, lines
    assert "ros2 launch teleop gello_franka.launch.py hardware:=sim leader:=expert" in lines
    errors = [e for line in lines for e in check_command(line)]
    assert not errors, "\n".join(errors)


def test_no_hardware_teleop_command_starts_sim_teleop_and_expert():
    with lm.installed():
        ev = evaluate(ROOT / "launch/teleop/gello_franka.launch.py", {"hardware": "sim", "leader": "expert"})
    procs = {(p.package, p.executable): p for p in ev.record.processes}
    assert set(procs) == {("sim", "sim_node"), ("teleop", "teleop_node"), ("sim", "expert")}
    teleop = {k: v for d in procs[("teleop", "teleop_node")].parameters if isinstance(d, dict) for k, v in d.items()}
    assert teleop["leader.type"] == "topic" and teleop["leader.topic"] == "expert/joint_states"
    expert = {k: v for d in procs[("sim", "expert")].parameters if isinstance(d, dict) for k, v in d.items()}
    assert expert == {"robot": "fr3", "mode": "leader"}
    assert procs[("sim", "expert")].name is None, "name= would rename every node of the expert's process"


def test_bringup_is_driven_by_the_spec():
    """The real FR3 leaves its hand to franka_gripper; the real SO-101 has its gripper in ros2_control;
    RealMan has no plugin and gets its direct driver; an arm without a direct driver refuses direct."""
    def spawned(robot, hardware):
        with lm.installed():
            ev = evaluate(ROOT / "launch/robot_common/bringup.launch.py", {"robot": robot, "hardware": hardware})
        assert ev.failure is None, ev.failure
        return ev, sorted(p.arguments[0] for p in ev.record.processes if p.executable == "spawner")
    assert spawned("fr3", "real")[1] == ["arm_controller", "joint_state_broadcaster"]
    assert spawned("fr3", "mock")[1] == ["arm_controller", "gripper_controller", "joint_state_broadcaster"]
    assert spawned("so101", "real")[1] == ["arm_controller", "gripper_controller", "joint_state_broadcaster"]
    ev, spawners = spawned("rm65", "real")
    assert spawners == [] and [p.executable for p in ev.record.processes if p.package == "robot_common"] == ["realman_driver"]
    ev, spawners = spawned("fr3", "direct")
    assert spawners == [] and [p.executable for p in ev.record.processes if p.package == "robot_common"] == ["fr3_driver"]
    ev, _ = spawned("so101", "direct")
    assert ev.refused and "so101 has no direct driver" in ev.refused
    with lm.installed():
        ev = evaluate(ROOT / "launch/robot_common/bringup.launch.py", {"robot": "fr3", "hardware": "real",
                                                                       "usb_port": "/dev/ttyUSB0"})
    assert ev.refused and "usb_port:=/dev/ttyUSB0 means nothing for fr3" in ev.refused


def test_rcl_parameter_key_matching():
    """As rclpy applies --params-file keys (checked against rclpy 7.1 by hand: see the docstring)."""
    assert key_matches("/**", "/left/sim_node") and key_matches("sim_node", "/sim_node")
    assert not key_matches("sim_node", "/left/sim_node") and not key_matches("/sim_node", "/left/sim_node")
    assert key_matches("/**/sim_node", "/sim_node") and key_matches("/**/sim_node", "/a/b/sim_node")
    assert key_matches("/*/sim_node", "/left/sim_node") and not key_matches("/*/sim_node", "/sim_node")
    assert key_matches("left/sim_node", "/left/sim_node")


# ---- each rule catches its bad form ----------------------------------------------------------------

def bad_file(tmp_path, pkg: str, body: str):
    path = tmp_path / pkg / "bad.launch.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


HEADER = """
    from typing import List
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction, Shutdown
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
    from launch_ros.actions import Node
    from launch_ros.parameter_descriptions import ParameterValue
    from launch_ros.substitutions import FindPackageShare
"""


def errors_of(path) -> str:
    return "\n".join(check_launch_file(path).errors)


def test_checker_catches_bad_references(tmp_path):
    """The checker itself must fail on a missing executable, file, or undeclared package."""
    bad = bad_file(tmp_path, "robot_common", HEADER + '''
    ROBOTS = ["fr3", "nope"]
    def generate_launch_description():
        name = PythonExpression(["'", LaunchConfiguration("robot"), "' + '.yaml'"])
        return LaunchDescription([
            DeclareLaunchArgument("robot", choices=ROBOTS),
            Node(package="sim", executable="no_such_exe", on_exit=Shutdown()),
            Node(package="unknown_pkg", executable="x"),
            Node(package="controller_manager", executable="ros2_control_node",
                 parameters=[PathJoinSubstitution([FindPackageShare("robot_common"), "config", "controllers", name])]),
        ])
    ''')
    errors = errors_of(bad)
    assert "'sim no_such_exe' is not a console script" in errors
    assert "'unknown_pkg' is not declared" in errors
    assert "config/controllers/nope.yaml does not exist" in errors
    assert "controllers/fr3.yaml" not in errors


def test_checker_catches_bad_include_arguments(tmp_path):
    """Includes of our launch files: undeclared argument, value outside the choices, required argument missing."""
    bad = bad_file(tmp_path, "policy", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            DeclareLaunchArgument("arm", choices=["fr3", "ur5"]),
            IncludeLaunchDescription(
                PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"]),
                launch_arguments={"robot": LaunchConfiguration("arm"), "no_such_arg": "x"}.items()),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare("policy"), "launch", "policy.launch.py"])),
                launch_arguments={"robot": "so101", "hardware": "maybe"}.items()),
        ])
    ''')
    errors = errors_of(bad)
    assert "passes 'no_such_arg', which it does not declare" in errors
    assert "passes robot=['ur5'], outside its choices" in errors
    assert "passes hardware=['maybe'], outside its choices" in errors
    assert "does not pass its required argument(s) ['checkpoint']" in errors
    assert "robot=['fr3']" not in errors and "robot=['so101']" not in errors


def test_nested_list_in_path_join_is_rejected(tmp_path):
    bad = bad_file(tmp_path, "robot_common", HEADER + '''
    def generate_launch_description():
        robot = LaunchConfiguration("robot")
        path = PathJoinSubstitution([FindPackageShare("robot_common"), "config", "controllers", [robot, ".yaml"]])
        return LaunchDescription([DeclareLaunchArgument("robot", default_value="fr3"),
                                  Node(package="robot_state_publisher", executable="robot_state_publisher",
                                       parameters=[path])])
    ''')
    errors = errors_of(bad)
    assert "a nested list in PathJoinSubstitution" in errors                 # found in the source
    assert "TypeError: Failed to normalize given item of type '<class 'list'>'" in errors   # and as launch raises it


def test_parameter_value_with_builtin_list_is_rejected(tmp_path):
    bad = bad_file(tmp_path, "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            DeclareLaunchArgument("cameras", default_value="[front]"),
            Node(package="sim", executable="sim_node", on_exit=Shutdown(),
                 parameters=[{"cameras": ParameterValue(LaunchConfiguration("cameras"), value_type=list)}])])
    ''')
    errors = errors_of(bad)
    assert "ParameterValue(value_type=list)" in errors
    assert "ValueError: Unrecognized data type: <class 'list'>" in errors
    good = bad_file(tmp_path / "g", "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            DeclareLaunchArgument("cameras", default_value="[front]"),
            Node(package="sim", executable="sim_node", on_exit=Shutdown(),
                 parameters=[{"cameras": ParameterValue(LaunchConfiguration("cameras"), value_type=List[str])}])])
    ''')
    assert errors_of(good) == ""


def test_undeclared_launch_configuration_and_unused_argument_are_rejected(tmp_path):
    bad = bad_file(tmp_path, "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            DeclareLaunchArgument("seed", default_value="3"),
            DeclareLaunchArgument("robot_ip", default_value="1.2.3.4"),
            Node(package="sim", executable="sim_node", on_exit=Shutdown(),
                 parameters=[{"seed": ParameterValue(LaunchConfiguration("seed"), value_type=int),
                              "robot": ParameterValue(LaunchConfiguration("robot", default="x"), value_type=str),
                              "scene": ParameterValue(LaunchConfiguration("scene"), value_type=str)}])])
    ''')
    errors = errors_of(bad)
    assert "LaunchConfiguration('scene') is not declared in this file" in errors
    assert "launch configuration 'scene' does not exist" in errors
    assert "declares 'robot_ip' but no argument set ever reads it" in errors
    assert "LaunchConfiguration('robot')" not in errors and "'seed' but" not in errors


def test_name_on_a_multi_node_process_and_duplicate_names_are_rejected(tmp_path):
    facts_names = __import__("tests.static.launch_check", fromlist=["node_facts"]).node_facts("sim", "expert").names
    bad = bad_file(tmp_path, "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            Node(package="sim", executable="expert", name="expert", on_exit=Shutdown()),
            Node(package="sensors", executable="camera_node", name="cam", on_exit=Shutdown()),
            Node(package="sensors", executable="tactile_node", name="cam", on_exit=Shutdown()),
        ])
    ''')
    errors = errors_of(bad)
    if len(facts_names) > 1:   # the expert's process has a second node until the nodes branch merges
        assert "name='expert' renames every node of the process" in errors
    assert "a second node named /cam" in errors
    single = bad_file(tmp_path / "s", "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([Node(package="sim", executable="sim_node", name="sim2", on_exit=Shutdown())])
    ''')
    assert "renames every node" not in errors_of(single)


def test_parameter_file_keyed_by_another_node_is_rejected(tmp_path):
    params = tmp_path / "keyed.yaml"
    params.write_text("camera_wrist:\n  ros__parameters:\n    fps: 10.0\n/**:\n  ros__parameters:\n    width: 320\n")
    bad = bad_file(tmp_path, "sensors", HEADER + f'''
    def generate_launch_description():
        return LaunchDescription([Node(package="sensors", executable="camera_node", name="camera_front",
                                       on_exit=Shutdown(), parameters=["{params}"])])
    ''')
    errors = errors_of(bad)
    assert "top-level key 'camera_wrist' matches no node of this process (['/camera_front'])" in errors
    assert "'/**'" not in errors


def test_undeclared_parameter_wrong_type_and_bare_substitution_are_rejected(tmp_path):
    bad = bad_file(tmp_path, "teleop", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            DeclareLaunchArgument("rate", default_value="500.0"),
            Node(package="teleop", executable="teleop_node", on_exit=Shutdown(),
                 parameters=[{"rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                              "rate_hz": 500, "leader.port": LaunchConfiguration("rate")}])])
    ''')
    errors = errors_of(bad)
    assert "parameter 'rate' is not declared by src/teleop/teleop/teleop_node.py" in errors
    assert "parameter rate_hz=500 is a int, the node declares a float" in errors
    assert "parameter 'leader.port' is a bare substitution" in errors


def test_node_that_does_not_end_the_launch_is_rejected(tmp_path):
    bad = bad_file(tmp_path, "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([Node(package="sim", executable="sim_node")])
    ''')
    assert "sim sim_node: exiting does not end the launch" in errors_of(bad)


def test_absolute_names_are_rejected(tmp_path):
    bad = bad_file(tmp_path, "teleop", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([
            Node(package="teleop", executable="teleop_node", namespace="/arm", on_exit=Shutdown(),
                 parameters=[{"leader.topic": "/expert/joint_states"}],
                 remappings=[("joint_states", "/joint_states"), ("clock", "/clock")],
                 arguments=["--controller-manager", "/controller_manager"])])
    ''')
    errors = errors_of(bad)
    assert "namespace '/arm' is absolute" in errors
    assert "remapping joint_states -> /joint_states targets an absolute name" in errors
    assert "parameter leader.topic=/expert/joint_states is an absolute topic name" in errors
    assert "argument '/controller_manager' is an absolute ROS name" in errors
    assert "/clock" not in errors


def test_construct_missing_from_humble_is_rejected(tmp_path):
    bad = bad_file(tmp_path, "sim", '''
    from launch import LaunchDescription
    from launch.substitutions import EqualsSubstitution   # Jazzy only
    def generate_launch_description():
        return LaunchDescription([])
    ''')
    assert "launch.substitutions.EqualsSubstitution is not in the launch model" in errors_of(bad)


def test_wrapper_fixing_a_value_the_show_args_hide_is_rejected(tmp_path):
    bad = bad_file(tmp_path, "sim", HEADER + '''
    def generate_launch_description():
        return LaunchDescription([IncludeLaunchDescription(
            PathJoinSubstitution([FindPackageShare("sim"), "launch", "sim.launch.py"]),
            launch_arguments=[("robot", "fr3")])])
    ''')
    assert "fixes robot:=fr3 for an include, but --show-args shows robot with default 'so101'" in errors_of(bad)


def test_command_line_argument_not_shown_by_show_args_is_rejected():
    errors = "\n".join(check_command("ros2 launch teleop gello_franka.launch.py hardware:=sim leader:=expert rate:=50"))
    assert "the command line passes 'rate', which it does not declare" in errors
    assert check_command("ros2 launch teleop gello_franka.launch.py hardware:=sim leader:=expert rate_hz:=50") == []
