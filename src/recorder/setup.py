"""Installs the recorder package; launch/ and config/ files come from the workspace's top level."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "recorder"
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
data_files += share_tree("launch/recorder", "launch")
data_files += share_tree("config/recorder", "config/recorder")

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=data_files,
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="robot-learning workspace maintainers",
    maintainer_email="maintainers@example.com",
    description="Episode-aware recorder writing rosbag2 (MCAP) bags with services and a keyboard front end.",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "recorder_node = recorder.recorder_node:main",
        "record = recorder.record_cli:main",
        "repair = recorder.repair:main",
        "live_view = recorder.live_view:main",
    ]},
)
