"""URDF descriptions: forward kinematics against the published tables, limits against config,
the ros2_control hardware chosen by the `hardware` argument, and that the committed files are
exactly what the generator makes of the specs."""
import math

import numpy as np
import pytest

from robot_common.description import generated_files
from robot_common.paths import source_root
from robot_common.spec import list_robots, load_robot_spec
from robot_common.urdf_model import UrdfModel, expand_xacro

PI = math.pi
URDF_DIR = source_root() / "urdf"
ROBOTS = list_robots()


def rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def trans(x, y, z):
    t = np.eye(4)
    t[:3, 3] = [x, y, z]
    return t


def mdh_frames(a, alpha, d, theta):
    """Modified (Craig) DH: T_i = RotX(alpha_{i-1}) TransX(a_{i-1}) RotZ(theta_i) TransZ(d_i)."""
    t, frames = np.eye(4), []
    for ai, al, di, th in zip(a, alpha, d, theta):
        t = t @ rot_x(al) @ trans(ai, 0, 0) @ rot_z(th) @ trans(0, 0, di)
        frames.append(t)
    return frames


# Tables exactly as published (docs/ROBOT_FACTS.md), written here independently of the specs.
FR3_DH = dict(a=[0, 0, 0, 0.0825, -0.0825, 0, 0.088], d=[0.333, 0, 0.316, 0, 0.384, 0, 0],
              alpha=[0, -PI / 2, PI / 2, PI / 2, -PI / 2, PI / 2, PI / 2])
RM_DH = {
    "rm65": dict(a=[0, 0, 256, 0, 0, 0], alpha=[0, 90, 0, 90, -90, 90], d=[240.5, 0, 0, 210, 0, 144], off=[0, 90, 90, 0, 0, 0]),
    "rm75": dict(a=[0] * 7, alpha=[0, -90, 90, -90, 90, -90, 90], d=[240.5, 0, 256, 0, 210, 0, 144], off=[0] * 7),
}


def rpy(r, p, y):
    def ry(b):
        c, s = math.cos(b), math.sin(b)
        return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1.0]])
    return rot_z(y) @ ry(p) @ rot_x(r)


SO101_ORIGINS = [  # (xyz, rpy) per joint as published (docs/ROBOT_FACTS.md); all axes z
    ((0.0388, 0, 0.0624), (PI, 0, -PI)),
    ((-0.0304, -0.0183, -0.0542), (-PI / 2, -PI / 2, 0)),
    ((-0.1126, -0.028, 0), (0, 0, PI / 2)),
    ((-0.1349, 0.0052, 0), (0, 0, -PI / 2)),
    ((0, -0.0611, 0.0181), (PI / 2, 0.0487, PI)),
]


@pytest.fixture(scope="module")
def models():
    return {r: UrdfModel(expand_xacro(URDF_DIR / f"{r}.urdf.xacro")) for r in ROBOTS}


def random_configs(spec, n=100, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(spec.lower, spec.upper, size=(n, spec.dof))


def assert_pose_close(a, b, what):
    assert np.max(np.abs(a[:3, 3] - b[:3, 3])) < 1e-6, f"{what}: position off by {a[:3, 3] - b[:3, 3]}"
    assert np.max(np.abs(a[:3, :3] - b[:3, :3])) < 1e-6, f"{what}: orientation differs"


def test_fr3_fk_matches_dh(models):
    spec, model = load_robot_spec("fr3"), models["fr3"]
    for q in random_configs(spec):
        frames = mdh_frames(FR3_DH["a"], FR3_DH["alpha"], FR3_DH["d"], q)
        poses = model.fk_all(dict(zip(spec.joint_names, q)))
        for i, frame in enumerate(frames, start=1):
            assert_pose_close(poses[f"fr3_link{i}"], frame, f"fr3_link{i} at q={q}")
        flange = frames[-1] @ trans(0, 0, 0.107)
        assert_pose_close(poses["fr3_link8"], flange, "flange")
        assert_pose_close(poses["fr3_hand_tcp"], flange @ rot_z(-PI / 4) @ trans(0, 0, 0.1034), "TCP")


@pytest.mark.parametrize("robot", ["rm65", "rm75"])
def test_realman_fk_matches_dh(models, robot):
    spec, model, t = load_robot_spec(robot), models[robot], RM_DH[robot]
    a = [x / 1000 for x in t["a"]]
    d = [x / 1000 for x in t["d"]]
    alpha = [math.radians(x) for x in t["alpha"]]
    for q in random_configs(spec):
        frames = mdh_frames(a, alpha, d, q + np.radians(t["off"]))
        poses = model.fk_all(dict(zip(spec.joint_names, q)))
        for i, frame in enumerate(frames[:-1], start=1):
            assert_pose_close(poses[f"{robot}_link{i}"], frame, f"{robot}_link{i}")
        # the last d (flange distance) sits in the fixed flange joint
        assert_pose_close(poses[f"{robot}_flange"], frames[-1], f"{robot} flange")


def test_so101_fk_matches_published_origins(models):
    spec, model = load_robot_spec("so101"), models["so101"]
    links = ["so101_shoulder_link", "so101_upper_arm_link", "so101_lower_arm_link", "so101_wrist_link", "so101_gripper_link"]
    for q in random_configs(spec):
        poses = model.fk_all(dict(zip(spec.joint_names, q)))
        t = np.eye(4)
        for link, (xyz, r), qi in zip(links, SO101_ORIGINS, q):
            t = t @ trans(*xyz) @ rpy(*r) @ rot_z(qi)
            assert_pose_close(poses[link], t, link)


@pytest.mark.parametrize("robot", ROBOTS)
def test_urdf_limits_match_config(models, robot):
    spec, model = load_robot_spec(robot), models[robot]
    for j in spec.joints:
        uj = model.joints[j.name]
        assert (uj.lower, uj.upper, uj.velocity) == pytest.approx((j.lower, j.upper, j.max_velocity))
    g = model.joints[spec.gripper.joint]
    assert (g.lower, g.upper) == pytest.approx((spec.gripper.lower, spec.gripper.upper))
    for link in (spec.base_link, spec.flange_link, spec.tcp_link):
        assert link in model.links, f"{robot}: link {link} named in config is not in the URDF"
    masses = [link.mass for link in model.links.values() if link.mass > 0]
    assert all(np.all(np.linalg.eigvalsh(lk.inertia) > 0) for lk in model.links.values() if lk.mass > 0)
    assert len(masses) >= spec.dof


@pytest.mark.parametrize("robot", ROBOTS)
def test_hardware_argument_selects_plugin(robot):
    spec = load_robot_spec(robot)
    mock = UrdfModel(expand_xacro(URDF_DIR / f"{robot}.urdf.xacro", hardware="mock"))
    plugins = [p.text for p in mock.root_element.iter("plugin")]
    assert plugins == ["mock_components/GenericSystem"]
    rc_joints = [j.get("name") for j in mock.root_element.find("ros2_control").findall("joint")]
    assert rc_joints == spec.joint_names + [spec.gripper.joint]
    gz = UrdfModel(expand_xacro(URDF_DIR / f"{robot}.urdf.xacro", hardware="gazebo", controllers_file="/c.yaml"))
    gz_plugins = {p.get("filename") or p.text for p in gz.root_element.iter("plugin")}
    assert gz_plugins == {"gz_ros2_control/GazeboSimSystem", "gz_ros2_control-system"}
    real = UrdfModel(expand_xacro(URDF_DIR / f"{robot}.urdf.xacro", hardware="real"))
    real_plugins = [p.text for p in real.root_element.iter("plugin")]
    assert real_plugins == ([spec.hardware.real_plugin] if spec.hardware.real_plugin else [])
    real_joints = [j.get("name") for rc in real.root_element.iter("ros2_control") for j in rc.findall("joint")]
    if spec.hardware.real_plugin:   # the gripper joint only where ros2_control drives the real gripper
        assert real_joints == spec.joint_names + ([spec.gripper.joint] * spec.hardware.gripper_in_ros2_control_real)
    else:
        assert real_joints == []


def test_unknown_hardware_is_an_error():
    with pytest.raises(Exception, match="hardware must be one of"):
        expand_xacro(URDF_DIR / "fr3.urdf.xacro", hardware="simulation")


def test_xacro_command_line_expands():
    """The `xacro` executable that robot_state_publisher launches expands every description."""
    import shutil
    import subprocess

    exe = shutil.which("xacro")
    assert exe, "the xacro executable is not on PATH (make setup installs it)"
    for robot in ROBOTS:
        out = subprocess.run([exe, str(URDF_DIR / f"{robot}.urdf.xacro"), "hardware:=mock"],
                             capture_output=True, text=True, check=True).stdout
        assert UrdfModel(out).root == load_robot_spec(robot).base_link


@pytest.mark.parametrize("robot", ROBOTS)
def test_committed_description_and_controllers_are_generated_from_the_spec(robot):
    """Regenerating changes nothing: every urdf/ and config/controllers/ file is the generator's output."""
    spec = load_robot_spec(robot)
    for path, text in generated_files(spec, source_root()).items():
        assert path.read_text() == text, f"{path} differs from its spec: run `ros2 run robot_common gen_descriptions {robot}`"


def test_real_plugin_parameters_come_from_the_spec():
    real = UrdfModel(expand_xacro(URDF_DIR / "fr3.urdf.xacro", hardware="real", robot_ip="10.0.0.9"))
    params = {p.get("name"): p.text or "" for p in real.root_element.find("ros2_control/hardware").findall("param")}
    assert params == {"robot_ip": "10.0.0.9", "robot_type": "fr3", "arm_prefix": ""}
    so = UrdfModel(expand_xacro(URDF_DIR / "so101.urdf.xacro", hardware="real", usb_port="/dev/ttyUSB3"))
    ids = {j.get("name"): j.find("param[@name='id']").text for j in so.root_element.find("ros2_control").findall("joint")}
    assert ids == {"shoulder_pan": "1", "shoulder_lift": "2", "elbow_flex": "3", "wrist_flex": "4", "wrist_roll": "5",
                   "gripper": "6"}
