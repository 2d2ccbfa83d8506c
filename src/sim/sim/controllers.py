"""The controllers the sim runs in place of ros2_control: a joint_trajectory_controller for the
arm and a forward position controller (rate-limited like a real hand) for the gripper."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.trajectory import ActiveTrajectory, JointTrajectoryGoal, TrajectoryRejected, validate_goal


class ArmTrajectoryController:
    def __init__(self, joint_names: Sequence[str], lower: np.ndarray, upper: np.ndarray) -> None:
        self.joint_names = list(joint_names)
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self.active: ActiveTrajectory | None = None
        self.hold = np.zeros(len(self.joint_names))
        self.accepted = 0
        self.rejected = 0

    def reset(self, q: np.ndarray) -> None:
        self.active = None
        self.hold = np.asarray(q, float).copy()

    def submit(self, goal: JointTrajectoryGoal, now: float, q: np.ndarray, qd: np.ndarray) -> ActiveTrajectory:
        """Replace the running trajectory (spliced from the measured state) or raise TrajectoryRejected."""
        try:
            traj = validate_goal(goal, self.joint_names, self.lower, self.upper, now, (q, qd, np.zeros_like(q)))
        except TrajectoryRejected:
            self.rejected += 1
            raise
        self.active = traj
        self.accepted += 1
        return traj

    def desired(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        if self.active is None:
            return self.hold, np.zeros_like(self.hold)
        q, qd = self.active.sample(t)
        if self.active.done(t):
            self.hold = q
            self.active = None
        return q, qd

    def busy(self, t: float) -> bool:
        return self.active is not None and not self.active.done(t)


class GripperCommandError(ValueError):
    """A gripper command that is refused (wrong size, NaN, out of limits)."""


class GripperController:
    """Setpoint slews toward the commanded position at the hand's max velocity."""

    def __init__(self, lower: float, upper: float, max_velocity: float, initial: float) -> None:
        self.lower, self.upper, self.max_velocity = lower, upper, max_velocity
        self.target = self.setpoint = float(initial)

    def reset(self, position: float) -> None:
        self.target = self.setpoint = float(position)

    def command(self, values: Sequence[float]) -> float:
        vals = list(values)
        if len(vals) != 1:
            raise GripperCommandError(f"gripper command needs exactly 1 value, got {len(vals)}")
        v = float(vals[0])
        if not np.isfinite(v):
            raise GripperCommandError(f"gripper command is not finite ({v})")
        if not self.lower - 1e-9 <= v <= self.upper + 1e-9:
            raise GripperCommandError(f"gripper command {v:.6g} outside its limits [{self.lower:g}, {self.upper:g}]")
        self.target = v
        return v

    def update(self, dt: float) -> float:
        step = self.max_velocity * dt
        self.setpoint += float(np.clip(self.target - self.setpoint, -step, step))
        return self.setpoint
