"""Generate urdf/<robot>.urdf.xacro from the published kinematics (shared/docs/ROBOT_FACTS.md).

Run `python tools/gen_descriptions.py` after changing a table below; the output is committed so
that users and ROS tools read plain xacro. Geometry is primitive (cylinders between joints, boxes
for hands); inertias are those of solid cylinders/boxes of the stated masses. Limits come from
config/robots/<robot>.yaml, the single source of truth.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src" / "robot_common"))
from robot_common.urdf_model import rpy_to_matrix  # noqa: E402

PI = math.pi


def mdh_origin(a: float, alpha: float, d: float, offset: float) -> tuple[list[float], list[float]]:
    """URDF joint origin equal to modified-DH RotX(alpha) TransX(a) RotZ(offset) TransZ(d).

    RotX(alpha)TransX(a)RotZ(q+off)TransZ(d) = [TransX(a)RotX(alpha)TransZ(d)RotZ(off)] RotZ(q)."""
    t = np.eye(4)
    t[:3, :3] = rpy_to_matrix((alpha, 0, 0)) @ rpy_to_matrix((0, 0, offset))
    t[:3, 3] = [a, -d * math.sin(alpha), d * math.cos(alpha)]
    return t[:3, 3].tolist(), matrix_to_rpy(t[:3, :3])


def matrix_to_rpy(r: np.ndarray) -> list[float]:
    """Inverse of rpy_to_matrix (R = Rz(y) Ry(p) Rx(r))."""
    pitch = math.atan2(-r[2, 0], math.hypot(r[0, 0], r[1, 0]))
    if abs(math.cos(pitch)) < 1e-9:  # gimbal lock: put everything in yaw
        return [0.0, pitch, math.atan2(-r[0, 1], r[1, 1])]
    return [math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])]


def z_to(v: np.ndarray) -> list[float]:
    """rpy of a rotation taking +z onto v."""
    v = v / np.linalg.norm(v)
    z = np.array([0.0, 0.0, 1.0])
    c = float(np.dot(z, v))
    if c > 1 - 1e-12:
        return [0.0, 0.0, 0.0]
    if c < -1 + 1e-12:
        return [PI, 0.0, 0.0]
    axis = np.cross(z, v)
    axis /= np.linalg.norm(axis)
    ang = math.acos(c)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return matrix_to_rpy(np.eye(3) + math.sin(ang) * k + (1 - math.cos(ang)) * k @ k)


def f(x: float) -> str:
    s = f"{x:.9f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def vec(v) -> str:
    return " ".join(f(x) for x in v)


def cylinder_between(p: np.ndarray, radius: float, mass: float, min_len: float) -> tuple[str, str]:
    """(inertial, visual+collision) XML of a solid cylinder from the link origin to point p."""
    length = float(np.linalg.norm(p))
    if length < min_len:  # joint housing only: a short cylinder about the joint axis
        centre, rpy, length = np.zeros(3), [0.0, 0.0, 0.0], 2 * radius
    else:
        centre, rpy = p / 2, z_to(p)
    ixx = mass * (3 * radius**2 + length**2) / 12
    izz = mass * radius**2 / 2
    inertial = (
        f'    <inertial>\n      <origin xyz="{vec(centre)}" rpy="{vec(rpy)}"/>\n      <mass value="{f(mass)}"/>\n'
        f'      <inertia ixx="{f(ixx)}" ixy="0" ixz="0" iyy="{f(ixx)}" iyz="0" izz="{f(izz)}"/>\n    </inertial>\n'
    )
    geom = ""
    for tag in ("visual", "collision"):
        mat = '\n      <material name="grey"/>' if tag == "visual" else ""
        geom += (
            f'    <{tag}>\n      <origin xyz="{vec(centre)}" rpy="{vec(rpy)}"/>\n'
            f'      <geometry><cylinder radius="{f(radius)}" length="{f(length)}"/></geometry>{mat}\n    </{tag}>\n'
        )
    return inertial, geom


def box_link(name: str, size, xyz, mass: float, material: str = "dark") -> str:
    x, y, z = size
    ix, iy, iz = mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12
    geom = ""
    for tag in ("visual", "collision"):
        mat = f'\n      <material name="{material}"/>' if tag == "visual" else ""
        geom += (
            f'    <{tag}>\n      <origin xyz="{vec(xyz)}" rpy="0 0 0"/>\n'
            f'      <geometry><box size="{vec(size)}"/></geometry>{mat}\n    </{tag}>\n'
        )
    return (
        f'  <link name="{name}">\n    <inertial>\n      <origin xyz="{vec(xyz)}" rpy="0 0 0"/>\n'
        f'      <mass value="{f(mass)}"/>\n      <inertia ixx="{f(ix)}" ixy="0" ixz="0" iyy="{f(iy)}" iyz="0" izz="{f(iz)}"/>\n'
        f"    </inertial>\n{geom}  </link>\n"
    )


def joint_xml(name, jtype, parent, child, xyz, rpy, axis=(0, 0, 1), limit=None, mimic=None) -> str:
    s = f'  <joint name="{name}" type="{jtype}">\n    <parent link="{parent}"/>\n    <child link="{child}"/>\n'
    s += f'    <origin xyz="{vec(xyz)}" rpy="{vec(rpy)}"/>\n'
    if jtype != "fixed":
        s += f'    <axis xyz="{vec(axis)}"/>\n'
    if limit:
        lo, hi, vel, eff = limit
        s += f'    <limit lower="{f(lo)}" upper="{f(hi)}" velocity="{f(vel)}" effort="{f(eff)}"/>\n'
    if mimic:
        s += f'    <mimic joint="{mimic}" multiplier="1" offset="0"/>\n'
    return s + "  </joint>\n"


# Per robot: arm joints as (xyz, rpy) of each joint origin in its parent link; links named
# <prefix>link0..N; a fixed flange joint; link masses; link radius.
FR3 = dict(
    origins=[
        ([0, 0, 0.333], [0, 0, 0]),
        ([0, 0, 0], [-PI / 2, 0, 0]),
        ([0, -0.316, 0], [PI / 2, 0, 0]),
        ([0.0825, 0, 0], [PI / 2, 0, 0]),
        ([-0.0825, 0.384, 0], [-PI / 2, 0, 0]),
        ([0, 0, 0], [PI / 2, 0, 0]),
        ([0.088, 0, 0], [PI / 2, 0, 0]),
    ],
    flange=([0, 0, 0.107], [0, 0, 0]),
    masses=[2.9, 2.7, 2.7, 2.4, 2.4, 2.7, 1.5, 0.5],
    radius=0.06,
)


def realman(a, alpha_deg, d, offset_deg):
    origins = [
        mdh_origin(a[i] / 1000, math.radians(alpha_deg[i]), 0.0 if i == len(a) - 1 else d[i] / 1000, math.radians(offset_deg[i]))
        for i in range(len(a))
    ]
    # the last d (flange distance) becomes the fixed flange joint so that link N sits at joint N
    return origins, ([0, 0, d[-1] / 1000], [0, 0, 0])


RM65_ORIGINS, RM65_FLANGE = realman([0, 0, 256, 0, 0, 0], [0, 90, 0, 90, -90, 90],
                                    [240.5, 0, 0, 210, 0, 144], [0, 90, 90, 0, 0, 0])
RM75_ORIGINS, RM75_FLANGE = realman([0] * 7, [0, -90, 90, -90, 90, -90, 90], [240.5, 0, 256, 0, 210, 0, 144], [0] * 7)

SO101 = dict(
    links=["so101_base_link", "so101_shoulder_link", "so101_upper_arm_link",
           "so101_lower_arm_link", "so101_wrist_link", "so101_gripper_link"],
    origins=[
        ([0.0388, 0, 0.0624], [PI, 0, -PI]),
        ([-0.0304, -0.0183, -0.0542], [-PI / 2, -PI / 2, 0]),
        ([-0.1126, -0.028, 0], [0, 0, PI / 2]),
        ([-0.1349, 0.0052, 0], [0, 0, -PI / 2]),
        ([0, -0.0611, 0.0181], [PI / 2, 0.0487, PI]),
    ],
    masses=[0.15, 0.1, 0.1, 0.1, 0.06, 0.09],
    radius=0.018,
)


def header(robot: str, extra_args: str) -> str:
    return f"""<?xml version="1.0"?>
<!-- GENERATED by tools/gen_descriptions.py from shared/docs/ROBOT_FACTS.md and
     config/robots/{robot}.yaml: edit those, then regenerate. -->
<robot xmlns:xacro="http://www.ros.org/wiki/xacro" name="{robot}">
  <!-- hardware: mock (mock_components/GenericSystem), gazebo (gz_ros2_control), real -->
  <xacro:arg name="hardware" default="mock"/>
  <xacro:arg name="controllers_file" default=""/>
{extra_args}  <xacro:property name="hw" value="$(arg hardware)"/>
  <xacro:unless value="${{hw in ['mock', 'gazebo', 'real']}}">
    ${{xacro.fatal("hardware must be one of mock, gazebo, real; got '" + hw + "'")}}
  </xacro:unless>
  <material name="grey"><color rgba="0.75 0.75 0.78 1"/></material>
  <material name="dark"><color rgba="0.2 0.2 0.22 1"/></material>
  <material name="white"><color rgba="0.95 0.95 0.95 1"/></material>
"""


def ros2_control(robot: str, spec: dict, real_hw: str, real_has_gripper: bool) -> str:
    joints = spec["joints"]
    home = spec["home"]
    s = f'  <ros2_control name="{robot}_system" type="system">\n    <hardware>\n'
    s += "      <xacro:if value=\"${hw == 'mock'}\">\n        <plugin>mock_components/GenericSystem</plugin>\n"
    s += ('        <param name="calculate_dynamics">false</param>\n'
          '        <param name="mock_sensor_commands">false</param>\n      </xacro:if>\n')
    s += ("      <xacro:if value=\"${hw == 'gazebo'}\">\n"
          "        <plugin>gz_ros2_control/GazeboSimSystem</plugin>\n      </xacro:if>\n")
    s += f"      <xacro:if value=\"${{hw == 'real'}}\">\n{real_hw}      </xacro:if>\n    </hardware>\n"
    ids = (spec.get("servo") or {}).get("ids", {})

    def joint_block(name, lo, hi, init):
        b = f'    <joint name="{name}">\n'
        if name in ids:
            b += f'      <param name="id">{ids[name]}</param>\n      <param name="offset">0</param>\n'
        b += (f'      <command_interface name="position">\n        <param name="min">{f(lo)}</param>\n'
              f'        <param name="max">{f(hi)}</param>\n      </command_interface>\n')
        b += (f'      <state_interface name="position">\n'
              f'        <param name="initial_value">{f(init)}</param>\n      </state_interface>\n')
        return b + '      <state_interface name="velocity"/>\n    </joint>\n'

    for j, h in zip(joints, home):
        s += joint_block(j["name"], j["lower"], j["upper"], h)
    g = spec["gripper"]
    gblock = joint_block(g["joint"], g["lower"], g["upper"], g["open"])
    if real_has_gripper:
        s += gblock
    else:
        s += f"    <xacro:unless value=\"${{hw == 'real'}}\">\n{gblock}    </xacro:unless>\n"
    s += "  </ros2_control>\n"
    s += """  <xacro:if value="${hw == 'gazebo'}">
    <gazebo>
      <plugin filename="gz_ros2_control-system" name="gz_ros2_control::GazeboSimROS2ControlPlugin">
        <parameters>$(arg controllers_file)</parameters>
      </plugin>
    </gazebo>
  </xacro:if>
"""
    return s


def arm_chain(links, origins, flange, masses, radius, spec, min_len) -> str:
    """Links link0..N, each with a cylinder toward the next joint (or the flange), and revolute joints."""
    out = ""
    pts = [np.array(o[0], dtype=float) for o in origins[1:]] + [np.array(flange[0], dtype=float)]
    first = np.array(origins[0][0], dtype=float)
    for i, link in enumerate(links):
        nxt = first if i == 0 else pts[i - 1]
        inertial, geom = cylinder_between(nxt, radius, masses[i], min_len)
        out += f'  <link name="{link}">\n{inertial}{geom}  </link>\n'
    for i, j in enumerate(spec["joints"]):
        xyz, rpy = origins[i]
        out += joint_xml(j["name"], "revolute", links[i], links[i + 1], xyz, rpy,
                         limit=(j["lower"], j["upper"], j["max_velocity"], j["max_effort"]))
    return out


def parallel_hand(prefix: str, parent: str, mount_rpy, finger_joint: str, finger2: str, g: dict,
                  palm_size, palm_z: float, finger_z: float, tcp_z: float, tcp_link: str, hand_link: str) -> str:
    """A two-finger parallel gripper: palm box, two prismatic fingers along +-y, a TCP frame."""
    out = joint_xml(f"{hand_link}_joint", "fixed", parent, hand_link, [0, 0, 0], mount_rpy)
    out += box_link(hand_link, palm_size, [0, 0, palm_z], 0.73, "white")
    fl, fr = f"{prefix}leftfinger", f"{prefix}rightfinger"
    finger_len = tcp_z - finger_z + 0.012
    for link, sign in ((fl, 1), (fr, -1)):
        out += box_link(link, [0.02, 0.012, finger_len], [0, sign * 0.006, finger_len / 2], 0.015, "dark")
    lim = (g["lower"], g["upper"], g["max_velocity"], g["max_effort"])
    out += joint_xml(finger_joint, "prismatic", hand_link, fl, [0, 0, finger_z], [0, 0, 0], (0, 1, 0), lim)
    out += joint_xml(finger2, "prismatic", hand_link, fr, [0, 0, finger_z], [0, 0, 0], (0, -1, 0), lim, mimic=finger_joint)
    out += f'  <link name="{tcp_link}"/>\n'
    out += joint_xml(f"{tcp_link}_joint", "fixed", hand_link, tcp_link, [0, 0, tcp_z], [0, 0, 0])
    return out


def load(robot: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "robots" / f"{robot}.yaml").read_text())


def gen_fr3() -> str:
    spec = load("fr3")
    links = [f"fr3_link{i}" for i in range(8)]
    s = header("fr3", '  <xacro:arg name="robot_ip" default="172.16.0.2"/>\n')
    s += arm_chain(links, FR3["origins"], FR3["flange"], FR3["masses"], FR3["radius"], spec, 0.05)
    s += box_link("fr3_link8", [0.02, 0.02, 0.02], [0, 0, 0], 0.01, "dark")
    s += joint_xml("fr3_joint8", "fixed", "fr3_link7", "fr3_link8", *FR3["flange"])
    # Franka Hand on the flange, rotated -pi/4; fingers 0.0584 above the palm; TCP 0.1034.
    s += parallel_hand("fr3_", "fr3_link8", [0, 0, -PI / 4], "fr3_finger_joint1", "fr3_finger_joint2", spec["gripper"],
                       [0.04, 0.2, 0.06], 0.03, 0.0584, 0.1034, "fr3_hand_tcp", "fr3_hand")
    real = ("        <plugin>franka_hardware/FrankaHardwareInterface</plugin>\n"
            '        <param name="robot_ip">$(arg robot_ip)</param>\n        <param name="robot_type">fr3</param>\n'
            '        <param name="arm_prefix"></param>\n')
    s += ros2_control("fr3", spec, real, real_has_gripper=False)
    return s + "</robot>\n"


def gen_rm(robot: str, origins, flange) -> str:
    spec = load(robot)
    n = len(spec["joints"])
    links = [f"{robot}_base_link"] + [f"{robot}_link{i}" for i in range(1, n + 1)]
    s = header(robot, "")
    masses = [1.2] + [1.0] * (n - 2) + [0.4, 0.3]
    s += arm_chain(links, origins, flange, masses[: n + 1], 0.045, spec, 0.05)
    s += box_link(f"{robot}_flange", [0.02, 0.02, 0.02], [0, 0, 0], 0.01, "dark")
    s += joint_xml(f"{robot}_flange_joint", "fixed", links[-1], f"{robot}_flange", *flange)
    s += parallel_hand("gripper_", f"{robot}_flange", [0, 0, 0], "gripper_finger_joint1", "gripper_finger_joint2",
                       spec["gripper"], [0.04, 0.16, 0.06], 0.03, 0.06, 0.12, f"{robot}_tcp", f"{robot}_hand")
    # No ros2_control plugin exists for the real RealMan arm: hardware:=real leaves the block out
    # and the bringup bridges to RealMan's own driver instead (README, "RealMan").
    rc = ros2_control(robot, spec, "", real_has_gripper=True)
    s += "  <xacro:unless value=\"${hw == 'real'}\">\n" + rc + "  </xacro:unless>\n"
    return s + "</robot>\n"


def gen_so101() -> str:
    spec = load("so101")
    s = header("so101", '  <xacro:arg name="usb_port" default="/dev/ttyACM0"/>\n')
    links = SO101["links"]
    origins = SO101["origins"]
    pts = [np.array(o[0], dtype=float) for o in origins[1:]] + [np.array([0.0, 0.0, -0.06])]
    first = np.array(origins[0][0], dtype=float)
    for i, link in enumerate(links):
        inertial, geom = cylinder_between(first if i == 0 else pts[i - 1], SO101["radius"], SO101["masses"][i], 0.02)
        s += f'  <link name="{link}">\n{inertial}{geom}  </link>\n'
    for i, j in enumerate(spec["joints"]):
        s += joint_xml(j["name"], "revolute", links[i], links[i + 1], *origins[i],
                       limit=(j["lower"], j["upper"], j["max_velocity"], j["max_effort"]))
    # Jaws built to grasp: a fixed jaw plate and a moving jaw plate facing each other across the
    # gripper link's x axis (the moving jaw swings about the published 'gripper' joint, opening
    # toward +x), both centred on the joint's y so that they meet an object squarely. At q = 0 the
    # inner faces are 0.02 m apart; closing to q < 0 presses the tip toward the fixed jaw.
    s += box_link("so101_fixed_jaw", [0.01, 0.02, 0.07], [0.0, 0.0, -0.035], 0.02, "dark")
    s += joint_xml("so101_fixed_jaw_joint", "fixed", "so101_gripper_link", "so101_fixed_jaw", [-0.01, 0.0188, -0.035], [0, 0, 0])
    g = spec["gripper"]
    s += box_link("so101_moving_jaw", [0.01, 0.085, 0.02], [0.0, -0.0425, 0.0], 0.02, "dark")
    s += joint_xml("gripper", "revolute", "so101_gripper_link", "so101_moving_jaw", [0.0202, 0.0188, -0.0234], [PI / 2, 0, 0],
                   limit=(g["lower"], g["upper"], g["max_velocity"], g["max_effort"]))
    s += '  <link name="so101_tcp"/>\n'
    s += joint_xml("so101_tcp_joint", "fixed", "so101_gripper_link", "so101_tcp", [0, 0, -0.098], [0, 0, 0])
    real = ("        <plugin>feetech_ros2_driver/FeetechHardwareInterface</plugin>\n"
            '        <param name="usb_port">$(arg usb_port)</param>\n')
    s += ros2_control("so101", spec, real, real_has_gripper=True)
    return s + "</robot>\n"


def main() -> None:
    out = ROOT / "urdf"
    out.mkdir(exist_ok=True)
    files = {
        "fr3": gen_fr3(),
        "rm65": gen_rm("rm65", RM65_ORIGINS, RM65_FLANGE),
        "rm75": gen_rm("rm75", RM75_ORIGINS, RM75_FLANGE),
        "so101": gen_so101(),
    }
    for robot, text in files.items():
        (out / f"{robot}.urdf.xacro").write_text(text)
        print(f"wrote urdf/{robot}.urdf.xacro")


if __name__ == "__main__":
    main()
