"""Per-robot sim settings (config/sim/<robot>.yaml): servo gains, scene, cameras, expert.

Kinematics, limits and masses come from the arm's spec and its generated URDF; this file adds what
a physics model needs on top. Adding an arm to the sim is writing this file, no code."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robot_common.paths import find_config
from robot_common.spec import RobotSpec, load_robot_spec


class SimConfigError(ValueError):
    """A sim YAML that is missing fields or inconsistent with the robot spec."""


@dataclass(frozen=True)
class CameraConfig:
    name: str
    pos: tuple[float, float, float]
    lookat: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fovy: float = 50.0
    link: str | None = None          # None: fixed in the world


@dataclass(frozen=True)
class TaskConfig:
    cube_size: float
    cube_mass: float
    spawn_x: tuple[float, float]
    spawn_y: tuple[float, float]
    spawn_yaw: tuple[float, float]
    target_center: tuple[float, float]
    target_radius: float


@dataclass
class SimRobotConfig:
    spec: RobotSpec
    timestep: float
    kp: np.ndarray
    kv: np.ndarray
    armature: np.ndarray
    damping: np.ndarray
    frictionloss: np.ndarray
    gravity_compensation: bool
    gripper: dict
    grasp_link: str
    grasp_pos: np.ndarray
    collision_links: tuple[str, ...]
    task: TaskConfig
    cameras: dict[str, CameraConfig]
    expert: dict = field(default_factory=dict)
    source: Path | None = None


def _vec(data: dict, key: str, n: int, where: str) -> np.ndarray:
    if key not in data:
        raise SimConfigError(f"{where}: missing '{key}'")
    v = np.asarray(data[key], dtype=float)
    if v.shape != (n,):
        raise SimConfigError(f"{where}: '{key}' needs {n} values, got {v.size}")
    return v


def sim_config_path(robot: str) -> Path:
    """config/sim/<robot>.yaml wherever robot_common.paths finds it (an overlay, the checkout, share/sim)."""
    return find_config("sim", robot)


def load_sim_config(robot: str | RobotSpec, path: str | Path | None = None) -> SimRobotConfig:
    spec = robot if isinstance(robot, RobotSpec) else load_robot_spec(robot)
    path = Path(path) if path else sim_config_path(spec.name)
    data = yaml.safe_load(path.read_text())
    where = str(path)
    arm = data.get("arm") or {}
    n = spec.dof
    t = data["task"]
    task = TaskConfig(
        cube_size=float(t["cube_size"]),
        cube_mass=float(t["cube_mass"]),
        spawn_x=tuple(t["spawn"]["x"]),
        spawn_y=tuple(t["spawn"]["y"]),
        spawn_yaw=tuple(t["spawn"].get("yaw", (0.0, 0.0))),
        target_center=tuple(t["target"]["center"]),
        target_radius=float(t["target"]["radius"]),
    )
    cams = {}
    for name, c in (data.get("cameras") or {}).items():
        cams[name] = CameraConfig(
            name=name, pos=tuple(c["pos"]), lookat=tuple(c["lookat"]), up=tuple(c.get("up", (0, 0, 1))),
            fovy=float(c.get("fovy", 50.0)), link=c.get("link"),
        )
    g = data.get("gripper") or {}
    for key in ("kp", "kv", "force_limit", "left_link", "right_link"):
        if key not in g:
            raise SimConfigError(f"{where}: gripper: missing '{key}'")
    grasp = data.get("grasp_frame") or {"link": spec.tcp_link, "pos": [0, 0, 0]}
    return SimRobotConfig(
        spec=spec,
        timestep=float(data.get("timestep", 0.002)),
        kp=_vec(arm, "kp", n, where),
        kv=_vec(arm, "kv", n, where),
        armature=_vec(arm, "armature", n, where),
        damping=_vec(arm, "damping", n, where),
        frictionloss=_vec(arm, "frictionloss", n, where),
        gravity_compensation=bool(arm.get("gravity_compensation", True)),
        gripper=dict(g),
        grasp_link=str(grasp["link"]),
        grasp_pos=np.asarray(grasp.get("pos", (0, 0, 0)), dtype=float),
        collision_links=tuple(data.get("collision_links") or ()),
        task=task,
        cameras=cams,
        expert=dict(data.get("expert") or {}),
        source=path,
    )
