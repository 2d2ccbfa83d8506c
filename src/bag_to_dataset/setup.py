"""Installs the bag_to_dataset package; launch/ and config/ files come from the workspace's top level."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "bag_to_dataset"
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
data_files += share_tree("config/dataset", "config/dataset")

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=data_files,
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="robot-learning workspace maintainers",
    maintainer_email="maintainers@example.com",
    description="rosbag2 -> LeRobot v3.0 dataset converter, bag inspection and dataset validation.",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "convert = bag_to_dataset.convert_cli:main",
        "inspect = bag_to_dataset.inspect_cli:main",
        "validate = bag_to_dataset.validate_cli:main",
        "edit = bag_to_dataset.edit_cli:main",
        "view = bag_to_dataset.view_cli:main",
    ]},
)
