"""docker/ cannot be built here (no Docker engine): check what can be checked statically."""
import ast

import yaml

from .launch_check import ROOT


def test_dockerfile_installs_the_full_ros_stack():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM ros:${ROS_DISTRO}-ros-base" in text and "ARG ROS_DISTRO=jazzy" in text
    for pkg in ("ros2-control", "ros2-controllers", "gz-ros2-control", "ros-gz", "realsense2-camera",
                "moveit-py", "cv-bridge", "rosbag2"):
        assert f"ros-${{ROS_DISTRO}}-{pkg}" in text, f"Dockerfile does not install {pkg}"
    assert "scripts/setup.sh" in text and "colcon build" in text
    for line in text.splitlines():
        if line.startswith("COPY "):
            src = line.split()[1]
            assert src == "." or (ROOT / src).exists(), f"COPY source {src} missing"


def test_compose_runs_the_gazebo_check():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    check = compose["services"]["gazebo-check"]
    assert check["build"]["dockerfile"] == "docker/Dockerfile"
    script = check["command"][1]
    assert check["command"] == ["python3", "docker/gazebo_check.py"], "the check takes its arms from config/robots"
    assert (ROOT / script).exists()
    tree = ast.parse((ROOT / script).read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
    assert "hardware:=gazebo" in (ROOT / script).read_text()
