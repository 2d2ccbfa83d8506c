"""The shipped parameter files name only parameters the nodes declare, and what they point at exists."""
from pathlib import Path

import pytest
import yaml

from robot_common.paths import source_root
from sensors.calibration import load_calibration

ROOT = source_root()


def declared(module: str) -> set[str]:
    import importlib

    return set(importlib.import_module(f"sensors.{module}").PARAMS.names())


def ros_params(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert list(doc) == ["/**"] and list(doc["/**"]) == ["ros__parameters"], f"{path}: not a ROS 2 params file"
    return doc["/**"]["ros__parameters"]


@pytest.mark.parametrize("path", sorted((ROOT / "config/cameras").glob("uvc_*.yaml")), ids=lambda p: p.name)
def test_camera_configs(path):
    params = ros_params(path)
    assert set(params) <= declared("camera_node"), set(params) - declared("camera_node")
    cal = load_calibration(params["camera_info_url"])
    assert cal.calibrated and cal.camera_name == params["camera_name"]


@pytest.mark.parametrize("path", sorted((ROOT / "config/tactile").glob("*.yaml")), ids=lambda p: p.name)
def test_tactile_configs(path):
    params = ros_params(path)
    assert set(params) <= declared("tactile_node"), set(params) - declared("tactile_node")


def test_realsense_configs():
    common = ros_params(ROOT / "config/cameras/realsense.yaml")
    assert common["align_depth.enable"] is True and common["rgb_camera.color_profile"] == "640x480x30"
    fixed = ros_params(ROOT / "config/cameras/realsense_exposure_fixed.yaml")
    auto = ros_params(ROOT / "config/cameras/realsense_exposure_auto.yaml")
    assert fixed["rgb_camera.enable_auto_exposure"] is False and auto["rgb_camera.enable_auto_exposure"] is True
    launch = (ROOT / "launch/sensors/realsense.launch.py").read_text()
    assert '"~/aligned_depth_to_color/image_raw", "depth/image_raw"' in launch


def test_fastdds_profile_is_valid_xml():
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "config/dds/fastdds_localhost.xml").getroot()
    ns = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    assert root.find(".//f:segment_size", ns).text == "16777216"
    assert root.find(".//f:interfaceWhiteList/f:address", ns).text == "127.0.0.1"
