"""Robot specs loaded from config/robots/<name>.yaml: the single source of truth per arm."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robot_common.paths import config_dir, workspace_file

ROBOTS = ("fr3", "rm65", "rm75", "so101")


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

    def from_normalized(self, value: float) -> float:
        """0 = closed .. 1 = open (the teleop/dataset convention) -> joint position."""
        return self.closed + float(np.clip(value, 0.0, 1.0)) * (self.open - self.closed)

    def to_normalized(self, position: float) -> float:
        return float(np.clip((position - self.closed) / (self.open - self.closed), 0.0, 1.0))


@dataclass(frozen=True)
class RobotSpec:
    name: str
    description: str
    urdf: str
    base_link: str
    flange_link: str
    tcp_link: str
    joints: tuple[JointSpec, ...]
    home: np.ndarray
    gripper: GripperSpec | None
    controllers: dict
    hardware: dict
    servo: dict = field(default_factory=dict)
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
        return self.controllers.get("arm", "arm_controller")

    @property
    def gripper_controller(self) -> str:
        return self.controllers.get("gripper", "gripper_controller")

    def urdf_path(self) -> Path:
        return workspace_file(self.urdf)


class RobotSpecError(ValueError):
    """A robot YAML that is missing fields or inconsistent."""


def _require(data: dict, key: str, where: str):
    if key not in data:
        raise RobotSpecError(f"{where}: missing required field '{key}'")
    return data[key]


def parse_robot_spec(data: dict, where: str = "<robot yaml>") -> RobotSpec:
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
    home = np.asarray(_require(data, "home", where), dtype=float)
    if home.shape != (len(joints),):
        raise RobotSpecError(f"{where}: home has {home.size} values for {len(joints)} joints")
    lo, hi = np.array([j.lower for j in joints]), np.array([j.upper for j in joints])
    if np.any(home < lo) or np.any(home > hi):
        bad = [n for n, h, a, b in zip(names, home, lo, hi) if not a <= h <= b]
        raise RobotSpecError(f"{where}: home pose outside the limits for {bad}")
    gripper = None
    if data.get("gripper"):
        g = data["gripper"]
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
        )
        for v, label in ((gripper.open, "open"), (gripper.closed, "closed")):
            if not gripper.lower <= v <= gripper.upper:
                raise RobotSpecError(f"{gw}: {label}={v} outside [{gripper.lower}, {gripper.upper}]")
    return RobotSpec(
        name=str(_require(data, "name", where)),
        description=str(data.get("description", "")),
        urdf=str(_require(data, "urdf", where)),
        base_link=str(_require(data, "base_link", where)),
        flange_link=str(_require(data, "flange_link", where)),
        tcp_link=str(_require(data, "tcp_link", where)),
        joints=tuple(joints),
        home=home,
        gripper=gripper,
        controllers=dict(data.get("controllers") or {}),
        hardware=dict(data.get("hardware") or {}),
        servo=dict(data.get("servo") or {}),
    )


def load_robot_spec(robot: str | Path) -> RobotSpec:
    """Load by name ('fr3') from config/robots, or from an explicit YAML path."""
    path = Path(robot)
    if path.suffix not in (".yaml", ".yml"):
        directory = config_dir("robots")
        path = directory / f"{robot}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in directory.glob("*.yaml"))
            raise RobotSpecError(f"unknown robot '{robot}'; known robots: {known}")
    with open(path) as f:
        data = yaml.safe_load(f)
    spec = parse_robot_spec(data, where=str(path))
    object.__setattr__(spec, "source", path)
    return spec
