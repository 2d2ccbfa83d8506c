"""Installs the robot_common package; launch/ and config/ files come from the workspace's top level."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_common"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.relpath(os.path.join(HERE, "..", ".."), HERE)


def share_tree(top_dir: str, dest: str) -> list:
    """(install dir, files) pairs for every file below TOP/top_dir, keeping sub-folders."""
    pairs = {}
    root = os.path.join(TOP, top_dir)
    for path in glob(os.path.join(root, "**", "*"), recursive=True):
        if os.path.isfile(path) and "__pycache__" not in path:
            sub = os.path.relpath(os.path.dirname(path), root)
            target = os.path.normpath(os.path.join("share", PACKAGE, dest, sub))
            pairs.setdefault(target, []).append(path)
    return sorted(pairs.items())


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
    ("share/" + PACKAGE, ["package.xml"]),
]
data_files += share_tree("launch/robot_common", "launch")
data_files += share_tree("config/robots", "config/robots")
data_files += share_tree("config/controllers", "config/controllers")
data_files += share_tree("config/dds", "config/dds")
data_files += share_tree("urdf", "urdf")

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=data_files,
    install_requires=["setuptools"],
    extras_require={"test": ["pytest"]},     # `colcon test` runs pytest (with colcon.meta's arguments)
    zip_safe=True,
    maintainer="robot-learning workspace maintainers",
    maintainer_email="maintainers@example.com",
    description="Robot specs from config/robots, joint safety filter, message <-> numpy conversion, URDF kinematics and time alignment shared by every node; per-arm bringup launch files.",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "gen_descriptions = robot_common.description:main",
        "dds = robot_common.dds:main",
        "fr3_driver = robot_common.drivers.fr3_driver:main",
        "realman_driver = robot_common.drivers.realman_driver:main",
    ]},
)
