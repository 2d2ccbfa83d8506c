"""The tabletop pick-and-place task: a cube spawned by seed, a target disc, success check."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import TaskConfig


@dataclass
class TaskState:
    cube_xy: np.ndarray
    cube_yaw: float
    target_xy: np.ndarray


def sample_task(cfg: TaskConfig, rng: np.random.Generator) -> TaskState:
    x = rng.uniform(*cfg.spawn_x)
    y = rng.uniform(*cfg.spawn_y)
    yaw = rng.uniform(*cfg.spawn_yaw)
    return TaskState(np.array([x, y]), float(yaw), np.asarray(cfg.target_center, dtype=float))


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def placed(cfg: TaskConfig, cube_pos: np.ndarray, target_xy: np.ndarray, touching_gripper: bool) -> bool:
    """Cube resting on the table inside the target disc, released by the gripper."""
    inside = np.linalg.norm(cube_pos[:2] - target_xy) <= cfg.target_radius
    resting = cube_pos[2] <= cfg.cube_size / 2 + 0.01
    return bool(inside and resting and not touching_gripper)
