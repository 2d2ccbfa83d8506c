"""joint_trajectory_controller topic semantics (ros2_controllers, Jazzy) in plain Python.

A goal is validated as a whole (any error rejects it and nothing moves), then spliced from the
current state: segment 0 runs from the state at arrival to the first point. Interpolation follows
the fields given: positions only -> linear, + velocities -> cubic, + accelerations -> quintic.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# TrajectoryRejected is re-exported: sim code and tests import it from here
from robot_common.trajectory_check import TrajectoryRejected, check_trajectory_data

__all__ = ["ActiveTrajectory", "JointTrajectoryGoal", "TrajectoryPoint", "TrajectoryRejected", "interpolate",
           "validate_goal"]


@dataclass
class TrajectoryPoint:
    positions: Sequence[float]
    time_from_start: float
    velocities: Sequence[float] = ()
    accelerations: Sequence[float] = ()


@dataclass
class JointTrajectoryGoal:
    """A ROS-free copy of trajectory_msgs/JointTrajectory (stamp in the controller's clock, s)."""
    joint_names: Sequence[str]
    points: Sequence[TrajectoryPoint]
    stamp: float = 0.0           # 0 = start now


class ActiveTrajectory:
    """A validated goal, reordered to the controller's joints, anchored at absolute time t0."""

    def __init__(self, t0: float, times: np.ndarray, pos: np.ndarray, vel: np.ndarray | None,
                 acc: np.ndarray | None, start_pos: np.ndarray, start_vel: np.ndarray, start_acc: np.ndarray) -> None:
        self.t0 = t0
        self.times = times            # time_from_start of each point [N]
        self.pos, self.vel, self.acc = pos, vel, acc
        self.start = (start_pos, start_vel, start_acc)

    @property
    def end_time(self) -> float:
        return self.t0 + float(self.times[-1])

    def done(self, t: float) -> bool:
        return t >= self.end_time

    def _point(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if k < 0:
            return self.start
        z = np.zeros_like(self.pos[k])
        v = self.vel[k] if self.vel is not None else z
        a = self.acc[k] if self.acc is not None else z
        return self.pos[k], v, a

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired (position, velocity) at absolute time t."""
        tau = t - self.t0
        if tau < 0:  # a goal stamped in the future: hold the state at arrival until it starts
            return self.start[0].copy(), np.zeros_like(self.start[0])
        if tau >= self.times[-1]:
            return self.pos[-1].copy(), np.zeros_like(self.pos[-1])
        k = int(np.searchsorted(self.times, tau, side="right"))   # segment from point k-1 to k
        ta = 0.0 if k == 0 else float(self.times[k - 1])
        tb = float(self.times[k])
        pa, va, aa = self._point(k - 1)
        pb, vb, ab = self._point(k)
        return interpolate(pa, va, aa, pb, vb, ab, tb - ta, tau - ta, self.vel is not None, self.acc is not None)


def interpolate(pa, va, aa, pb, vb, ab, T: float, s: float, has_vel: bool, has_acc: bool):
    if T <= 0:
        return pb.copy(), vb.copy()
    if not has_vel:   # linear
        return pa + (pb - pa) * (s / T), (pb - pa) / T
    if not has_acc:   # cubic Hermite
        c0, c1 = pa, va
        c2 = (3 * (pb - pa) - (2 * va + vb) * T) / T**2
        c3 = (2 * (pa - pb) + (va + vb) * T) / T**3
        return c0 + c1 * s + c2 * s**2 + c3 * s**3, c1 + 2 * c2 * s + 3 * c3 * s**2
    # quintic with boundary positions, velocities and accelerations
    T2, T3, T4, T5 = T**2, T**3, T**4, T**5
    c0, c1, c2 = pa, va, aa / 2
    c3 = (20 * (pb - pa) - (8 * vb + 12 * va) * T - (3 * aa - ab) * T2) / (2 * T3)
    c4 = (30 * (pa - pb) + (14 * vb + 16 * va) * T + (3 * aa - 2 * ab) * T2) / (2 * T4)
    c5 = (12 * (pb - pa) - 6 * (vb + va) * T - (aa - ab) * T2) / (2 * T5)
    p = c0 + c1 * s + c2 * s**2 + c3 * s**3 + c4 * s**4 + c5 * s**5
    v = c1 + 2 * c2 * s + 3 * c3 * s**2 + 4 * c4 * s**3 + 5 * c5 * s**4
    return p, v


def validate_goal(goal: JointTrajectoryGoal, joint_names: Sequence[str], lower: np.ndarray, upper: np.ndarray,
                  now: float, state: tuple[np.ndarray, np.ndarray, np.ndarray], limit_tolerance: float = 1e-6
                  ) -> ActiveTrajectory:
    """Check a goal against the controller's rules; raise TrajectoryRejected or return it spliced at `now`.

    The rules are robot_common.trajectory_check's; the sim adds its own limits: every point gives
    velocities (accelerations) or none does, accelerations count only with velocities, the final
    velocity must be zero, and the goal must not end before `now`.
    """
    points = list(goal.points)
    checked = check_trajectory_data(
        goal.joint_names, [p.time_from_start for p in points], [p.positions for p in points],
        [p.velocities for p in points], [p.accelerations for p in points], joint_names, lower, upper,
        limit_tolerance=limit_tolerance, uniform_fields=True, allow_nonzero_velocity_at_trajectory_end=False)
    times, pos, vel = checked.times, checked.positions, checked.velocities
    acc = checked.accelerations if vel is not None else None
    t0 = now if goal.stamp == 0 else float(goal.stamp)
    if t0 + times[-1] < now:
        raise TrajectoryRejected(
            f"trajectory ends in the past: stamp {goal.stamp:.6f} + {times[-1]:.6g} s < now {now:.6f}")
    sp, sv, sa = (np.asarray(x, dtype=float).copy() for x in state)
    return ActiveTrajectory(t0, times, pos, vel, acc, sp, sv, sa)
