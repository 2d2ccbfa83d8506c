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
