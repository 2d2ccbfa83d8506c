"""colcon builds the whole workspace and installs what a full ROS 2 install needs:
launch files, configs and URDFs in share/<pkg>, console scripts in lib/<pkg>."""
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from robot_common.spec import list_robots

from .launch_check import ROOT, console_scripts, our_packages

PACKAGES = ["robot_common", "sim", "teleop", "sensors", "recorder", "bag_to_dataset", "policy"]


def test_seven_packages_with_format3_manifests():
    pkgs = our_packages()
    assert sorted(pkgs) == sorted(PACKAGES)
    for name, path in pkgs.items():
        root = ET.parse(path / "package.xml").getroot()
        assert root.get("format") == "3" and root.findtext("name") == name
        assert root.find("export/build_type").text == "ament_python"
        assert (path / "resource" / name).exists()
        assert "install_scripts=$base/lib/" + name in (path / "setup.cfg").read_text()


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    colcon = shutil.which("colcon")
    assert colcon, "colcon is not installed (make setup installs colcon-common-extensions)"
    base = tmp_path_factory.mktemp("colcon")
    cmd = [colcon, "--log-base", str(base / "log"), "build", "--base-paths", str(ROOT / "src"),
           "--build-base", str(base / "build"), "--install-base", str(base / "install"),
           "--event-handlers", "console_direct-"]
    res = subprocess.run(cmd, cwd=base, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return base / "install"


def test_entry_launch_files_installed(install):
    for pkg, names in (("teleop", ["gello_franka", "teleop"]), ("policy", ["act_franka", "policy"])):
        for name in names:   # the per-robot file and the parameterised one it includes
            assert (install / f"{pkg}/share/{pkg}/launch/{name}.launch.py").is_file()
    assert (install / "robot_common/share/robot_common/launch/bringup.launch.py").is_file()
    robots = list_robots()
    assert robots
    for robot in robots:
        assert (install / f"robot_common/share/robot_common/config/robots/{robot}.yaml").is_file()
        assert (install / f"robot_common/share/robot_common/config/controllers/{robot}.yaml").is_file()
        assert (install / f"robot_common/share/robot_common/urdf/{robot}.urdf.xacro").is_file()


def test_console_scripts_installed_in_lib(install):
    for pkg in PACKAGES:
        for exe in console_scripts(ROOT / "src" / pkg):
            path = install / pkg / "lib" / pkg / exe
            assert path.is_file() and os.access(path, os.X_OK), f"missing {path}"


def test_installed_package_resolves_its_share(install):
    """The ament index finds the installed packages once install/ is on AMENT_PREFIX_PATH."""
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(str(install / p) for p in PACKAGES)
    code = ("from ament_index_python.packages import get_package_share_directory as g;"
            "print(g('teleop'))")
    out = subprocess.run([shutil.which("python") or "python3", "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(install / "teleop/share/teleop")


def test_colcon_meta_covers_every_package():
    """colcon.meta (read by colcon from the workspace root) names exactly our packages."""
    import yaml

    meta = yaml.safe_load((ROOT / "colcon.meta").read_text())
    assert sorted(meta["names"]) == sorted(PACKAGES)
    for name, settings in meta["names"].items():
        assert "--import-mode=importlib" in settings["pytest-args"], name
