"""Robot specs: config/robots/<name>.yaml is everything the workspace knows about one arm.

One file per arm: joint limits, home pose, kinematics table (modified DH, or URDF joint origins),
primitive geometry, gripper, controller names and the hardware block (which ros2_control plugin
or direct driver runs the real arm, and the launch arguments it takes). From it
`robot_common.description` generates urdf/<name>.urdf.xacro and config/controllers/<name>.yaml,
the sim builds its model, and every launch file decides what to start. `list_robots()` finds
the arms, so adding one is adding files, never editing Python.
"""
from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robot_common.paths import find_config, list_configs, workspace_file
from robot_common.urdf_model import matrix_to_rpy, rpy_to_matrix

XACRO_ARGS = ("hardware", "controllers_file")   # generated for every arm; not usable as launch arguments
KINEMATIC_CONVENTIONS = ("modified_dh", "joint_origins")


class RobotSpecError(ValueError):
    """A robot YAML that is missing fields or inconsistent."""


@dataclass(frozen=True)
class JointSpec:
    name: str
    lower: float
    upper: float
    max_velocity: float
    max_acceleration: float
    max_effort: float


@dataclass(frozen=True)
class GripperSpec:
    joint: str
    type: str
    lower: float
    upper: float
    open: float
    closed: float
    max_velocity: float
    max_effort: float
    mimic_joints: tuple[str, ...] = ()
    hand: dict = field(default_factory=dict)     # geometry for the generator (kind: parallel | jaw)

    def from_normalized(self, value: float) -> float:
        """0 = closed .. 1 = open (the teleop/dataset convention) -> joint position."""
        return self.closed + float(np.clip(value, 0.0, 1.0)) * (self.open - self.closed)

    def to_normalized(self, position: float) -> float:
        return float(np.clip((position - self.closed) / (self.open - self.closed), 0.0, 1.0))


@dataclass(frozen=True)
class KinematicsSpec:
    """The arm's chain as URDF joint origins (metres, radians), however the YAML wrote it."""
    convention: str
    links: tuple[str, ...]                        # the link each joint moves, in joint order
    origins: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]   # (xyz, rpy) of joint i in its parent
    flange_joint: str | None = None               # fixed joint from the last link to flange_link
    flange_xyz: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class HardwareSpec:
    """How the real arm is driven (README "Hardware"): a ros2_control plugin, or a direct driver."""
    real_plugin: str | None = None                # ros2_control hardware plugin of the real arm
    plugin_params: dict = field(default_factory=dict)     # <param>s of its <hardware> block
    joint_params: dict = field(default_factory=dict)      # joint -> {<param>: value} for the real plugin
    gripper_in_ros2_control_real: bool = True     # false: the vendor drives the real gripper outside ros2_control
    direct_driver: str | None = None              # robot_common executable that drives the arm without ros2_control
    vendor_launch: tuple[tuple[str, str], ...] = ()       # (package, launch file) started with the direct driver
    launch_arguments: dict = field(default_factory=dict)  # launch/xacro argument -> default (robot_ip, usb_port)

    def real_mode(self) -> str:
        """'ros2_control' or 'direct': what hardware:=real starts for this arm."""
        if self.real_plugin:
            return "ros2_control"
        if self.direct_driver:
            return "direct"
        raise RobotSpecError("no real hardware path: the spec names neither hardware.real_plugin "
                             "nor hardware.direct_driver")


@dataclass(frozen=True)
class RobotSpec:
    name: str
    description: str
    family: str
    base_link: str
    flange_link: str
    tcp_link: str
    joints: tuple[JointSpec, ...]
    home: np.ndarray
    gripper: GripperSpec | None
    controllers: dict
    hardware: HardwareSpec
    kinematics: KinematicsSpec
    geometry: dict
    source: Path | None = None

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def dof(self) -> int:
        return len(self.joints)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def max_velocity(self) -> np.ndarray:
        return np.array([j.max_velocity for j in self.joints])

    @property
    def max_acceleration(self) -> np.ndarray:
        return np.array([j.max_acceleration for j in self.joints])

    @property
    def arm_controller(self) -> str:
        return self.controllers["arm"]

    @property
    def gripper_controller(self) -> str:
        return self.controllers["gripper"]

    @property
    def joint_state_broadcaster(self) -> str:
        return self.controllers["joint_state_broadcaster"]

    @property
    def urdf(self) -> str:
        """Workspace-relative path of the generated description."""
        return f"urdf/{self.name}.urdf.xacro"

    @property
    def controllers_file(self) -> str:
        return f"config/controllers/{self.name}.yaml"

    def urdf_path(self) -> Path:
        return workspace_file(self.urdf)

    def controllers_path(self) -> Path:
        return workspace_file(self.controllers_file)


def list_robots(family: str | None = None) -> list[str]:
    """Every arm with a config/robots/<name>.yaml in the search roots (robot_common.paths), sorted;
    with `family`, only the arms whose spec names that family (e.g. 'realman')."""
    names = list_configs("robots")
    if family is None:
        return names
    return [n for n in names if load_robot_spec(n).family == family]


# ---- parsing ---------------------------------------------------------------------------------

def _require(data: dict, key: str, where: str):
    if not isinstance(data, dict):
        raise RobotSpecError(f"{where}: expected a mapping, got {type(data).__name__}")
    if key not in data:
        raise RobotSpecError(f"{where}: missing required field '{key}'")
    return data[key]


_PI_TERM = re.compile(r"^([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)?\s*\*?\s*pi\s*(?:/\s*(\d+(?:\.\d*)?))?$")


def parse_angle(value, unit: str, where: str) -> float:
    """A number in `unit` (rad or deg), or text such as 'pi/2', '-pi', '3*pi/4' (radians)."""
    if isinstance(value, bool):
        raise RobotSpecError(f"{where}: {value!r} is not an angle")
    if isinstance(value, int | float):
        return math.radians(value) if unit == "deg" else float(value)
    m = _PI_TERM.match(str(value).strip())
    if not m:
        raise RobotSpecError(f"{where}: {value!r} is not a number or a multiple of pi such as 'pi/2'")
    sign = -1.0 if m.group(1) == "-" else 1.0
    coef = float(m.group(2)) if m.group(2) else 1.0
    den = float(m.group(3)) if m.group(3) else 1.0
    return sign * coef * math.pi / den


def _floats(values, n: int | None, where: str, angle_unit: str | None = None) -> tuple[float, ...]:
    if not isinstance(values, list | tuple):
        raise RobotSpecError(f"{where}: expected a list, got {values!r}")
    if n is not None and len(values) != n:
        raise RobotSpecError(f"{where}: needs {n} values, got {len(values)}")
    if angle_unit:
        return tuple(parse_angle(v, angle_unit, where) for v in values)
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise RobotSpecError(f"{where}: {values!r} are not all numbers") from None


def mdh_origin(a: float, alpha: float, d: float, offset: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """URDF joint origin (xyz, rpy) equal to modified-DH RotX(alpha) TransX(a) RotZ(offset) TransZ(d),
    so that the joint's own rotation RotZ(q) follows it: RotX TransX RotZ(q + off) TransZ(d) =
    [TransX(a) RotX(alpha) TransZ(d) RotZ(off)] RotZ(q)."""
    rot = rpy_to_matrix((alpha, 0, 0)) @ rpy_to_matrix((0, 0, offset))
    xyz = (a, -d * math.sin(alpha), d * math.cos(alpha))
    return tuple(float(v) for v in xyz), tuple(matrix_to_rpy(rot))


def parse_kinematics(data: dict, n_joints: int, flange_link: str, where: str) -> KinematicsSpec:
    where = f"{where}: kinematics"
    convention = _require(data, "convention", where)
    if convention not in KINEMATIC_CONVENTIONS:
        raise RobotSpecError(f"{where}: convention must be one of {list(KINEMATIC_CONVENTIONS)}, got {convention!r}")
    units = data.get("units") or {}
    length_scale = {"m": 1.0, "mm": 0.001}.get(units.get("length", "m"))
    angle_unit = units.get("angle", "rad")
    if length_scale is None or angle_unit not in ("rad", "deg"):
        raise RobotSpecError(f"{where}: units must be length m|mm and angle rad|deg, got {units}")
    links = tuple(str(v) for v in _require(data, "links", where))
    if len(links) != n_joints:
        raise RobotSpecError(f"{where}: links names {len(links)} links for {n_joints} joints (one per joint)")
    flange = data.get("flange")
    origins = []
    if convention == "modified_dh":
        a = [v * length_scale for v in _floats(_require(data, "a", where), n_joints, f"{where}.a")]
        d = [v * length_scale for v in _floats(_require(data, "d", where), n_joints, f"{where}.d")]
        alpha = _floats(_require(data, "alpha", where), n_joints, f"{where}.alpha", angle_unit)
        offset = _floats(data.get("offset", [0] * n_joints), n_joints, f"{where}.offset", angle_unit)
        # The last joint's d moves into the fixed flange joint, so that the last link sits at its
        # joint (where the DH frame of the last joint is) and the flange at the tool plate.
        flange_d = float((flange or {}).get("d", 0.0)) * length_scale + d[-1]
        for i in range(n_joints):
            origins.append(mdh_origin(a[i], alpha[i], 0.0 if i == n_joints - 1 else d[i], offset[i]))
        flange_xyz = (0.0, 0.0, flange_d)
    else:
        rows = _require(data, "origins", where)
        if not isinstance(rows, list) or len(rows) != n_joints:
            raise RobotSpecError(f"{where}.origins: needs one {{xyz, rpy}} per joint ({n_joints})")
        for i, row in enumerate(rows):
            xyz = tuple(v * length_scale for v in _floats(_require(row, "xyz", f"{where}.origins[{i}]"), 3,
                                                          f"{where}.origins[{i}].xyz"))
            rpy = _floats(row.get("rpy", [0, 0, 0]), 3, f"{where}.origins[{i}].rpy", angle_unit)
            origins.append((xyz, rpy))
        flange_xyz = (tuple(v * length_scale for v in _floats(flange["xyz"], 3, f"{where}.flange.xyz"))
                      if flange and "xyz" in flange else None)
    if flange is not None:
        joint = str(_require(flange, "joint", f"{where}.flange"))
        if flange_link in links:
            raise RobotSpecError(f"{where}: flange_link {flange_link} is a joint's link; a flange adds its own link")
        return KinematicsSpec(convention, links, tuple(origins), joint, flange_xyz or (0.0, 0.0, 0.0))
    if links[-1] != flange_link:
        raise RobotSpecError(f"{where}: without a flange entry, flange_link must be the last link ({links[-1]})")
    return KinematicsSpec(convention, links, tuple(origins))


_ARG_REF = re.compile(r"\$\(arg ([A-Za-z_][A-Za-z0-9_]*)\)")


def parse_hardware(data: dict, joint_names: list[str], where: str) -> HardwareSpec:
    where = f"{where}: hardware"
    data = data or {}
    known = {"real_plugin", "plugin_params", "joint_params", "gripper_in_ros2_control_real", "direct_driver",
             "vendor_launch", "launch_arguments"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RobotSpecError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    launch_args = {str(k): "" if v is None else str(v) for k, v in (data.get("launch_arguments") or {}).items()}
    for name in launch_args:
        if name in XACRO_ARGS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RobotSpecError(f"{where}.launch_arguments: '{name}' is reserved or not an identifier")
    params = {str(k): "" if v is None else str(v) for k, v in (data.get("plugin_params") or {}).items()}
    joint_params = {str(j): {str(k): str(v) for k, v in (p or {}).items()}
                    for j, p in (data.get("joint_params") or {}).items()}
    unknown_joints = sorted(set(joint_params) - set(joint_names))
    if unknown_joints:
        raise RobotSpecError(f"{where}.joint_params: unknown joints {unknown_joints}")
    texts = list(params.values()) + [v for p in joint_params.values() for v in p.values()]
    for ref in (m for t in texts for m in _ARG_REF.findall(t)):
        if ref not in launch_args:
            raise RobotSpecError(f"{where}: $(arg {ref}) names no hardware.launch_arguments entry "
                                 f"({sorted(launch_args)})")
    vendor = []
    for i, item in enumerate(data.get("vendor_launch") or ()):
        vendor.append((str(_require(item, "package", f"{where}.vendor_launch[{i}]")),
                       str(_require(item, "file", f"{where}.vendor_launch[{i}]"))))
    return HardwareSpec(
        real_plugin=str(data["real_plugin"]) if data.get("real_plugin") else None,
        plugin_params=params,
        joint_params=joint_params,
        gripper_in_ros2_control_real=bool(data.get("gripper_in_ros2_control_real", True)),
        direct_driver=str(data["direct_driver"]) if data.get("direct_driver") else None,
        vendor_launch=tuple(vendor),
        launch_arguments=launch_args,
    )


def _parse_joints(data: dict, where: str) -> tuple[JointSpec, ...]:
    joints = []
    for i, j in enumerate(_require(data, "joints", where)):
        jw = f"{where}: joints[{i}]"
        spec = JointSpec(
            name=str(_require(j, "name", jw)),
            lower=float(_require(j, "lower", jw)),
            upper=float(_require(j, "upper", jw)),
            max_velocity=float(_require(j, "max_velocity", jw)),
            max_acceleration=float(_require(j, "max_acceleration", jw)),
            max_effort=float(j.get("max_effort", 0.0)),
        )
        if not spec.lower < spec.upper:
            raise RobotSpecError(f"{jw} ({spec.name}): lower {spec.lower} must be < upper {spec.upper}")
        if spec.max_velocity <= 0 or spec.max_acceleration <= 0:
            raise RobotSpecError(f"{jw} ({spec.name}): velocity and acceleration limits must be > 0")
        joints.append(spec)
    names = [j.name for j in joints]
    if len(set(names)) != len(names):
        raise RobotSpecError(f"{where}: duplicate joint names {names}")
    return tuple(joints)


def _parse_gripper(g: dict, where: str) -> GripperSpec:
    gw = f"{where}: gripper"
    gripper = GripperSpec(
        joint=str(_require(g, "joint", gw)),
        type=str(g.get("type", "prismatic")),
        lower=float(_require(g, "lower", gw)),
        upper=float(_require(g, "upper", gw)),
        open=float(_require(g, "open", gw)),
        closed=float(_require(g, "closed", gw)),
        max_velocity=float(g.get("max_velocity", 0.1)),
        max_effort=float(g.get("max_effort", 0.0)),
        mimic_joints=tuple(g.get("mimic_joints") or ()),
        hand=dict(g.get("hand") or {}),
    )
    if gripper.type not in ("prismatic", "revolute"):
        raise RobotSpecError(f"{gw}: type must be prismatic or revolute, got {gripper.type!r}")
    for v, label in ((gripper.open, "open"), (gripper.closed, "closed")):
        if not gripper.lower <= v <= gripper.upper:
            raise RobotSpecError(f"{gw}: {label}={v} outside [{gripper.lower}, {gripper.upper}]")
    return gripper


def parse_robot_spec(data: dict, where: str = "<robot yaml>") -> RobotSpec:
    if not isinstance(data, dict):
        raise RobotSpecError(f"{where}: not a YAML mapping")
    joints = _parse_joints(data, where)
    names = [j.name for j in joints]
    home = np.asarray(_require(data, "home", where), dtype=float)
    if home.shape != (len(joints),):
        raise RobotSpecError(f"{where}: home has {home.size} values for {len(joints)} joints")
    lo, hi = np.array([j.lower for j in joints]), np.array([j.upper for j in joints])
    if np.any(home < lo) or np.any(home > hi):
        bad = [n for n, h, a, b in zip(names, home, lo, hi) if not a <= h <= b]
        raise RobotSpecError(f"{where}: home pose outside the limits for {bad}")
    gripper = _parse_gripper(data["gripper"], where) if data.get("gripper") else None
    flange_link = str(_require(data, "flange_link", where))
    controllers = {"joint_state_broadcaster": "joint_state_broadcaster", "arm": "arm_controller",
                   "gripper": "gripper_controller", **(data.get("controllers") or {})}
    if not isinstance(controllers.get("update_rate"), int) or controllers["update_rate"] <= 0:
        raise RobotSpecError(f"{where}: controllers.update_rate must be a positive integer (Hz)")
    return RobotSpec(
        name=str(_require(data, "name", where)),
        description=str(data.get("description", "")),
        family=str(data.get("family", "")),
        base_link=str(_require(data, "base_link", where)),
        flange_link=flange_link,
        tcp_link=str(_require(data, "tcp_link", where)),
        joints=joints,
        home=home,
        gripper=gripper,
        controllers=controllers,
        hardware=parse_hardware(data.get("hardware"), names + ([gripper.joint] if gripper else []), where),
        kinematics=parse_kinematics(_require(data, "kinematics", where), len(joints), flange_link, where),
        geometry=dict(_require(data, "geometry", where)),
    )


@functools.lru_cache(maxsize=64)
def _read_yaml(path: Path, mtime_ns: int):
    """The parsed file (cached per modification time: launch files and tests read specs often)."""
    try:
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise RobotSpecError(f"{path}: not valid YAML: {e}") from None


def load_robot_spec(robot: str | Path) -> RobotSpec:
    """Load by name ('fr3', found by robot_common.paths) or from an explicit YAML path."""
    path = Path(robot)
    by_name = path.suffix not in (".yaml", ".yml")
    if not by_name:
        if not path.exists():
            raise RobotSpecError(f"robot spec {path} does not exist")
    else:
        try:
            path = find_config("robots", str(robot))
        except FileNotFoundError:
            raise RobotSpecError(f"unknown robot '{robot}'; known robots: {list_robots()}") from None
    spec = parse_robot_spec(copy.deepcopy(_read_yaml(path.resolve(), path.stat().st_mtime_ns)), where=str(path))
    if by_name and path.stem != spec.name:
        raise RobotSpecError(f"{path}: name '{spec.name}' differs from the file name '{path.stem}'")
    object.__setattr__(spec, "source", path)
    return spec
