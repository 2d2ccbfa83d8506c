"""Every launch file parses and names only executables and files that exist (checked without
`launch`, which a full ROS 2 install has and this environment lacks)."""
import ast
import textwrap

import pytest

from .launch_check import ROOT, all_launch_files, check_launch_file, our_packages

LAUNCH_FILES = all_launch_files()


def test_launch_folders_belong_to_packages():
    pkgs = our_packages()
    for folder in (ROOT / "launch").iterdir():
        assert folder.name in pkgs, f"launch/{folder.name} does not match a package in src/"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_launch_file_references_exist(path):
    report = check_launch_file(path)
    assert not report.errors, "\n".join(report.errors)
    assert report.nodes or report.files, f"{path} names no node and no file"


def test_required_entry_points_exist():
    names = {f"{p.parent.name}/{p.name}" for p in LAUNCH_FILES}
    assert {"robot_common/bringup.launch.py", "robot_common/fr3_bringup.launch.py"} <= names


# one parameterised launch file per package; the per-robot files only include it with fixed arguments
PER_ROBOT = {
    ("robot_common", "bringup.launch.py"): ["fr3_bringup", "rm65_bringup", "rm75_bringup", "so101_bringup"],
    ("sim", "sim.launch.py"): ["fr3_sim", "rm65_sim", "rm75_sim", "so101_sim"],
    ("teleop", "teleop.launch.py"): ["gello_franka", "gello_realman", "so101_leader"],
    ("policy", "policy.launch.py"): ["act_franka", "act_realman", "act_so101"],
}


@pytest.mark.parametrize(("pkg", "base"), PER_ROBOT, ids=lambda v: v)
def test_per_robot_launch_files_include_the_parameterised_one(pkg, base):
    for name in PER_ROBOT[(pkg, base)]:
        report = check_launch_file(ROOT / "launch" / pkg / f"{name}.launch.py")
        assert not report.nodes, f"{name}.launch.py starts nodes itself instead of through {base}"
        assert report.files == [(pkg, ["launch", base])], f"{name}.launch.py should include only {base}"


def test_checker_catches_bad_references(tmp_path):
    """The checker itself must fail on a missing executable, file, or undeclared package."""
    bad = tmp_path / "robot_common" / "bad.launch.py"
    bad.parent.mkdir()
    bad.write_text(textwrap.dedent('''
        from launch_ros.actions import Node
        ROBOTS = ["fr3", "nope"]
        def generate_launch_description():
            DeclareLaunchArgument("robot", choices=ROBOTS)
            Node(package="sim", executable="no_such_exe")
            Node(package="unknown_pkg", executable="x")
            name = [LaunchConfiguration("robot"), ".yaml"]
            PathJoinSubstitution([FindPackageShare("robot_common"), "config", "controllers", name])
    '''))
    ast.parse(bad.read_text())
    errors = "\n".join(check_launch_file(bad).errors)
    assert "'sim no_such_exe' is not a console script" in errors
    assert "'unknown_pkg' is not declared" in errors
    assert "config/controllers/nope.yaml does not exist" in errors
    assert "controllers/fr3.yaml" not in errors


def test_checker_catches_bad_include_arguments(tmp_path):
    """Includes of our launch files: undeclared argument, value outside the choices, required argument missing."""
    bad = tmp_path / "policy" / "bad.launch.py"
    bad.parent.mkdir()
    bad.write_text(textwrap.dedent('''
        def generate_launch_description():
            DeclareLaunchArgument("arm", choices=["fr3", "ur5"])
            IncludeLaunchDescription(
                PathJoinSubstitution([FindPackageShare("robot_common"), "launch", "bringup.launch.py"]),
                launch_arguments={"robot": LaunchConfiguration("arm"), "no_such_arg": "x"}.items())
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare("policy"), "launch", "policy.launch.py"])),
                launch_arguments={"robot": "so101", "sim": "maybe"}.items())
    '''))
    errors = "\n".join(check_launch_file(bad).errors)
    assert "passes 'no_such_arg', which it does not declare" in errors
    assert "passes robot=['ur5'], outside its choices" in errors
    assert "passes sim=['maybe'], outside its choices" in errors
    assert "does not pass its required argument(s) ['checkpoint']" in errors
    assert "robot=['fr3']" not in errors and "robot=['so101']" not in errors
