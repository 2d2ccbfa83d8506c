"""Generate an arm's robot description and controllers from its spec (config/robots/<robot>.yaml).

    ros2 run robot_common gen_descriptions            # every arm found by list_robots()
    ros2 run robot_common gen_descriptions my_arm     # one arm (its spec may live under ROBOT_WS_PATH)
    ros2 run robot_common gen_descriptions --check    # exit 1 when a committed file is stale

Writes urdf/<robot>.urdf.xacro and config/controllers/<robot>.yaml beside the spec's config/ folder
(the checkout, or the overlay folder that holds the spec). The output is committed, so users and
ROS tools read plain xacro/YAML. Geometry is primitive: a solid cylinder from each joint to the
next, boxes for the hand, inertias of those solids with the spec's masses. The xacro takes
`hardware:=mock|gazebo|real` and picks the ros2_control hardware: mock_components/GenericSystem,
gz_ros2_control, or the spec's real plugin (none when the arm is driven by a direct driver).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from robot_common.spec import RobotSpec, RobotSpecError, list_robots, load_robot_spec, parse_angle
from robot_common.urdf_model import matrix_to_rpy

HARDWARE = ("mock", "gazebo", "real")
PALM_MASS, FINGER_MASS, FLANGE_MASS = 0.73, 0.015, 0.01
# joint_trajectory_controller settings shared by every arm (constraints in rad, times in s)
JTC = {"state_publish_rate": 100.0, "action_monitor_rate": 20.0, "trajectory": 0.3, "goal": 0.02,
       "goal_time": 0.5, "stopped_velocity_tolerance": 0.02}


def f(x: float) -> str:
    s = f"{x:.9f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def vec(v) -> str:
    return " ".join(f(x) for x in v)


def z_to(v: np.ndarray) -> list[float]:
    """rpy of a rotation taking +z onto v."""
    v = v / np.linalg.norm(v)
    c = float(v[2])
    if c > 1 - 1e-12:
        return [0.0, 0.0, 0.0]
    if c < -1 + 1e-12:
        return [np.pi, 0.0, 0.0]
    axis = np.cross([0.0, 0.0, 1.0], v)
    axis /= np.linalg.norm(axis)
    ang = np.arccos(c)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return matrix_to_rpy(np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k)


def cylinder_link(name: str, p: np.ndarray, radius: float, mass: float, min_len: float) -> str:
    """A link holding a solid cylinder from its origin to point p (a joint housing when p is close)."""
    length = float(np.linalg.norm(p))
    if length < min_len:
        centre, rpy, length = np.zeros(3), [0.0, 0.0, 0.0], 2 * radius
    else:
        centre, rpy = p / 2, z_to(p)
    ixx, izz = mass * (3 * radius**2 + length**2) / 12, mass * radius**2 / 2
    s = (f'  <link name="{name}">\n    <inertial>\n      <origin xyz="{vec(centre)}" rpy="{vec(rpy)}"/>\n'
         f'      <mass value="{f(mass)}"/>\n'
         f'      <inertia ixx="{f(ixx)}" ixy="0" ixz="0" iyy="{f(ixx)}" iyz="0" izz="{f(izz)}"/>\n    </inertial>\n')
    for tag in ("visual", "collision"):
        mat = '\n      <material name="grey"/>' if tag == "visual" else ""
        s += (f'    <{tag}>\n      <origin xyz="{vec(centre)}" rpy="{vec(rpy)}"/>\n'
              f'      <geometry><cylinder radius="{f(radius)}" length="{f(length)}"/></geometry>{mat}\n    </{tag}>\n')
    return s + "  </link>\n"


def box_link(name: str, size, xyz, mass: float, material: str = "dark") -> str:
    x, y, z = size
    ix, iy, iz = mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12
    geom = ""
    for tag in ("visual", "collision"):
        mat = f'\n      <material name="{material}"/>' if tag == "visual" else ""
        geom += (f'    <{tag}>\n      <origin xyz="{vec(xyz)}" rpy="0 0 0"/>\n'
                 f'      <geometry><box size="{vec(size)}"/></geometry>{mat}\n    </{tag}>\n')
    return (f'  <link name="{name}">\n    <inertial>\n      <origin xyz="{vec(xyz)}" rpy="0 0 0"/>\n'
            f'      <mass value="{f(mass)}"/>\n      <inertia ixx="{f(ix)}" ixy="0" ixz="0" iyy="{f(iy)}" iyz="0" '
            f'izz="{f(iz)}"/>\n    </inertial>\n{geom}  </link>\n')


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


def _num(d: dict, key: str, where: str, default=None) -> float:
    if key not in d and default is None:
        raise RobotSpecError(f"{where}: missing '{key}'")
    return float(d.get(key, default))


def _xyz(d: dict, key: str, where: str, default=None) -> list[float]:
    v = d.get(key, default)
    if not isinstance(v, list | tuple) or len(v) != 3:
        raise RobotSpecError(f"{where}: '{key}' needs 3 numbers, got {v!r}")
    return [float(x) for x in v]


def _rpy(d: dict, key: str, where: str) -> list[float]:
    v = d.get(key, [0, 0, 0])
    if not isinstance(v, list | tuple) or len(v) != 3:
        raise RobotSpecError(f"{where}: '{key}' needs 3 angles, got {v!r}")
    return [parse_angle(x, "rad", f"{where}.{key}") for x in v]


def arm_xml(spec: RobotSpec) -> str:
    """Base link, one link per joint, the revolute joints and (if any) the fixed flange."""
    k, geo, where = spec.kinematics, spec.geometry, f"{spec.source}: geometry"
    links = [spec.base_link, *k.links]
    masses = geo.get("masses")
    if not isinstance(masses, list) or len(masses) != len(links):
        raise RobotSpecError(f"{where}: masses needs {len(links)} values (base_link and one per joint link)")
    radius, min_len = _num(geo, "radius", where), _num(geo, "min_length", where, 0.05)
    if k.flange_joint:
        end = np.array(k.flange_xyz, dtype=float)
    else:
        end = np.array(_xyz(geo, "last_link_end", where + " (needed without a flange)"), dtype=float)
    ends = [np.array(o[0], dtype=float) for o in k.origins[1:]] + [end]
    out = cylinder_link(links[0], np.array(k.origins[0][0], dtype=float), radius, float(masses[0]), min_len)
    for i, link in enumerate(k.links):
        out += cylinder_link(link, ends[i], radius, float(masses[i + 1]), min_len)
    for i, j in enumerate(spec.joints):
        xyz, rpy = k.origins[i]
        out += joint_xml(j.name, "revolute", links[i], links[i + 1], xyz, rpy,
                         limit=(j.lower, j.upper, j.max_velocity, j.max_effort))
    if k.flange_joint:
        out += box_link(spec.flange_link, [0.02, 0.02, 0.02], [0, 0, 0], FLANGE_MASS, "dark")
        out += joint_xml(k.flange_joint, "fixed", k.links[-1], spec.flange_link, k.flange_xyz, [0, 0, 0])
    return out


def hand_xml(spec: RobotSpec) -> str:
    """The gripper on the flange link: `parallel` (palm + two prismatic fingers) or `jaw` (a fixed
    and a revolute jaw plate), and the TCP frame."""
    g = spec.gripper
    if g is None or not g.hand:
        raise RobotSpecError(f"{spec.source}: gripper.hand is needed to generate the description")
    h, where = g.hand, f"{spec.source}: gripper.hand"
    lim = (g.lower, g.upper, g.max_velocity, g.max_effort)
    if h.get("kind") == "parallel":
        if g.type != "prismatic" or len(g.mimic_joints) != 1:
            raise RobotSpecError(f"{where}: a parallel hand needs a prismatic gripper joint and one mimic joint")
        hand, prefix = str(h.get("link") or f"{spec.name}_hand"), str(h.get("finger_prefix", ""))
        palm_z, finger_z, tcp_z = _num(h, "palm_z", where), _num(h, "finger_z", where), _num(h, "tcp_z", where)
        out = joint_xml(f"{hand}_joint", "fixed", spec.flange_link, hand, [0, 0, 0], _rpy(h, "mount_rpy", where))
        out += box_link(hand, _xyz(h, "palm_size", where), [0, 0, palm_z], float(h.get("palm_mass", PALM_MASS)), "white")
        left, right = f"{prefix}leftfinger", f"{prefix}rightfinger"
        finger_len = tcp_z - finger_z + 0.012
        for link, sign in ((left, 1), (right, -1)):
            out += box_link(link, [0.02, 0.012, finger_len], [0, sign * 0.006, finger_len / 2],
                            float(h.get("finger_mass", FINGER_MASS)), "dark")
        out += joint_xml(g.joint, "prismatic", hand, left, [0, 0, finger_z], [0, 0, 0], (0, 1, 0), lim)
        out += joint_xml(g.mimic_joints[0], "prismatic", hand, right, [0, 0, finger_z], [0, 0, 0], (0, -1, 0), lim,
                         mimic=g.joint)
        parent, tcp_xyz = hand, [0, 0, tcp_z]
    elif h.get("kind") == "jaw":
        if g.type != "revolute" or g.mimic_joints:
            raise RobotSpecError(f"{where}: a jaw hand needs a revolute gripper joint without mimic joints")
        fixed, moving = h.get("fixed_jaw") or {}, h.get("moving_jaw") or {}
        fw, mw = f"{where}.fixed_jaw", f"{where}.moving_jaw"
        out = box_link(str(fixed["link"]), _xyz(fixed, "size", fw), _xyz(fixed, "center", fw), _num(fixed, "mass", fw))
        out += joint_xml(f"{fixed['link']}_joint", "fixed", spec.flange_link, fixed["link"], _xyz(fixed, "xyz", fw),
                         _rpy(fixed, "rpy", fw))
        out += box_link(str(moving["link"]), _xyz(moving, "size", mw), _xyz(moving, "center", mw), _num(moving, "mass", mw))
        out += joint_xml(g.joint, "revolute", spec.flange_link, moving["link"], _xyz(moving, "xyz", mw),
                         _rpy(moving, "rpy", mw), limit=lim)
        parent, tcp_xyz = spec.flange_link, _xyz(h, "tcp_xyz", where)
    else:
        raise RobotSpecError(f"{where}: kind must be parallel or jaw, got {h.get('kind')!r}")
    out += f'  <link name="{spec.tcp_link}"/>\n'
    return out + joint_xml(f"{spec.tcp_link}_joint", "fixed", parent, spec.tcp_link, tcp_xyz, [0, 0, 0])


def ros2_control_xml(spec: RobotSpec) -> str:
    hw = spec.hardware
    s = f'  <ros2_control name="{spec.name}_system" type="system">\n    <hardware>\n'
    s += ("      <xacro:if value=\"${hw == 'mock'}\">\n        <plugin>mock_components/GenericSystem</plugin>\n"
          '        <param name="calculate_dynamics">false</param>\n'
          '        <param name="mock_sensor_commands">false</param>\n      </xacro:if>\n')
    s += ("      <xacro:if value=\"${hw == 'gazebo'}\">\n"
          "        <plugin>gz_ros2_control/GazeboSimSystem</plugin>\n      </xacro:if>\n")
    if hw.real_plugin:
        params = "".join(f'        <param name="{k}">{v}</param>\n' for k, v in hw.plugin_params.items())
        s += (f"      <xacro:if value=\"${{hw == 'real'}}\">\n        <plugin>{hw.real_plugin}</plugin>\n"
              f"{params}      </xacro:if>\n")
    s += "    </hardware>\n"

    def joint_block(name: str, lo: float, hi: float, init: float) -> str:
        b = f'    <joint name="{name}">\n'
        if hw.joint_params.get(name):
            b += "      <xacro:if value=\"${hw == 'real'}\">\n"
            b += "".join(f'        <param name="{k}">{v}</param>\n' for k, v in hw.joint_params[name].items())
            b += "      </xacro:if>\n"
        b += (f'      <command_interface name="position">\n        <param name="min">{f(lo)}</param>\n'
              f'        <param name="max">{f(hi)}</param>\n      </command_interface>\n'
              f'      <state_interface name="position">\n'
              f'        <param name="initial_value">{f(init)}</param>\n      </state_interface>\n')
        return b + '      <state_interface name="velocity"/>\n    </joint>\n'

    for j, home in zip(spec.joints, spec.home):
        s += joint_block(j.name, j.lower, j.upper, home)
    g = spec.gripper
    if g:
        block = joint_block(g.joint, g.lower, g.upper, g.open)
        if hw.real_plugin and not hw.gripper_in_ros2_control_real:   # the vendor drives the real gripper
            block = f"    <xacro:unless value=\"${{hw == 'real'}}\">\n{block}    </xacro:unless>\n"
        s += block
    s += "  </ros2_control>\n"
    if not hw.real_plugin:   # driven by a direct driver on real hardware: no ros2_control there
        s = "  <xacro:unless value=\"${hw == 'real'}\">\n" + s + "  </xacro:unless>\n"
    return s + """  <xacro:if value="${hw == 'gazebo'}">
    <gazebo>
      <plugin filename="gz_ros2_control-system" name="gz_ros2_control::GazeboSimROS2ControlPlugin">
        <parameters>$(arg controllers_file)</parameters>
      </plugin>
    </gazebo>
  </xacro:if>
"""


def urdf_xacro(spec: RobotSpec) -> str:
    real = spec.hardware.real_plugin or f"no ros2_control: direct driver {spec.hardware.direct_driver or '(none)'}"
    args = "".join(f'  <xacro:arg name="{k}" default="{v}"/>\n' for k, v in spec.hardware.launch_arguments.items())
    return f"""<?xml version="1.0"?>
<!-- GENERATED by `ros2 run robot_common gen_descriptions {spec.name}` from config/robots/{spec.name}.yaml
     (sources: docs/ROBOT_FACTS.md): edit the spec, then regenerate. -->
<robot xmlns:xacro="http://www.ros.org/wiki/xacro" name="{spec.name}">
  <!-- hardware: mock (mock_components/GenericSystem), gazebo (gz_ros2_control), real ({real}) -->
  <xacro:arg name="hardware" default="mock"/>
  <xacro:arg name="controllers_file" default=""/>
{args}  <xacro:property name="hw" value="$(arg hardware)"/>
  <xacro:unless value="${{hw in {list(HARDWARE)}}}">
    ${{xacro.fatal("hardware must be one of {', '.join(HARDWARE)}; got '" + hw + "'")}}
  </xacro:unless>
  <material name="grey"><color rgba="0.75 0.75 0.78 1"/></material>
  <material name="dark"><color rgba="0.2 0.2 0.22 1"/></material>
  <material name="white"><color rgba="0.95 0.95 0.95 1"/></material>
{arm_xml(spec)}{hand_xml(spec)}{ros2_control_xml(spec)}</robot>
"""


def controllers_yaml(spec: RobotSpec) -> str:
    c = spec.controllers
    arm = "".join(f"      - {n}\n" for n in spec.joint_names)
    constraints = "".join(f"      {n}: {{trajectory: {JTC['trajectory']}, goal: {JTC['goal']}}}\n" for n in spec.joint_names)
    text = f"""# GENERATED by `ros2 run robot_common gen_descriptions {spec.name}` from config/robots/{spec.name}.yaml.
# ros2_control controllers for {spec.description or spec.name}, loaded by robot_common
# bringup.launch.py (ros2_control_node or gz_ros2_control). Keys match these nodes in any namespace
# (/**/<node>), so the arm can run under namespace:=<name>.
/**/controller_manager:
  ros__parameters:
    update_rate: {c['update_rate']}  # Hz
    {c['joint_state_broadcaster']}:
      type: joint_state_broadcaster/JointStateBroadcaster
    {c['arm']}:
      type: joint_trajectory_controller/JointTrajectoryController
"""
    if spec.gripper:
        text += f"    {c['gripper']}:\n      type: position_controllers/JointGroupPositionController\n"
    text += f"""
/**/{c['arm']}:
  ros__parameters:
    joints:
{arm}    command_interfaces: [position]
    state_interfaces: [position, velocity]
    state_publish_rate: {JTC['state_publish_rate']}
    action_monitor_rate: {JTC['action_monitor_rate']}
    interpolation_method: splines
    allow_partial_joints_goal: false
    allow_nonzero_velocity_at_trajectory_end: false
    open_loop_control: false
    constraints:
      stopped_velocity_tolerance: {JTC['stopped_velocity_tolerance']}
      goal_time: {JTC['goal_time']}
{constraints}"""
    if spec.gripper:
        text += f"\n/**/{c['gripper']}:\n  ros__parameters:\n    joints:\n      - {spec.gripper.joint}\n"
    return text


def output_root(spec: RobotSpec) -> Path:
    """The folder holding the spec's config/ (the checkout, or an overlay in ROBOT_WS_PATH)."""
    return spec.source.resolve().parents[2]


def generated_files(spec: RobotSpec, root: Path | None = None) -> dict[Path, str]:
    root = output_root(spec) if root is None else Path(root)
    return {root / spec.urdf: urdf_xacro(spec), root / spec.controllers_file: controllers_yaml(spec)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("robots", nargs="*", help="arms to generate (default: every arm list_robots() finds)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file differs")
    ap.add_argument("--output", type=Path, help="write under this folder instead of beside each spec")
    args = ap.parse_args(argv)
    stale = []
    try:
        for robot in args.robots or list_robots():
            spec = load_robot_spec(robot)
            for path, text in generated_files(spec, args.output).items():
                if path.exists() and path.read_text() == text:
                    continue
                if args.check:
                    stale.append(str(path))
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path}")
    except RobotSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if stale:
        print("stale (run gen_descriptions): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
