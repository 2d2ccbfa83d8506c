"""joint_trajectory_controller topic semantics (ros2_controllers, Jazzy) in plain Python.

A goal is validated as a whole (any error rejects it and nothing moves), then spliced from the
current state: segment 0 runs from the state at arrival to the first point. Interpolation follows
the fields given: positions only -> linear, + velocities -> cubic, + accelerations -> quintic.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class TrajectoryRejected(ValueError):
    """A trajectory the controller refuses; the message says which rule it broke."""


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
    """Check a goal against the controller's rules; raise TrajectoryRejected or return it spliced at `now`."""
    names = list(goal.joint_names)
    unknown = [n for n in names if n not in joint_names]
    if unknown:
        raise TrajectoryRejected(f"unknown joints {unknown}; this controller has {list(joint_names)}")
    if len(set(names)) != len(names):
        raise TrajectoryRejected(f"duplicate joint names in {names}")
    missing = [n for n in joint_names if n not in names]
    if missing:
        raise TrajectoryRejected(f"joints {missing} missing from the goal (allow_partial_joints_goal is false)")
    if not goal.points:
        raise TrajectoryRejected("empty trajectory: no points")
    order = [names.index(n) for n in joint_names]
    n = len(names)
    times = np.array([float(p.time_from_start) for p in goal.points])
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise TrajectoryRejected(f"time_from_start must be finite and >= 0, got {times.tolist()}")
    if np.any(np.diff(times) <= 0):
        k = int(np.argmax(np.diff(times) <= 0)) + 1
        raise TrajectoryRejected(
            f"time_from_start must be strictly increasing: point {k} at {times[k]:.6g} s follows {times[k - 1]:.6g} s")

    def field(attr: str) -> np.ndarray | None:
        sizes = {len(getattr(p, attr)) for p in goal.points}
        if sizes == {0} and attr != "positions":
            return None
        for k, p in enumerate(goal.points):
            if len(getattr(p, attr)) != n:
                raise TrajectoryRejected(f"point {k}: {attr} has {len(getattr(p, attr))} values for {n} joints")
        arr = np.array([list(getattr(p, attr)) for p in goal.points], dtype=float)[:, order]
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            k, j = bad[0]
            raise TrajectoryRejected(f"point {k}: non-finite {attr[:-1]} for joint {joint_names[j]} ({arr[k, j]})")
        return arr

    pos = field("positions")
    vel = field("velocities")
    acc = field("accelerations") if vel is not None else None
    below, above = pos < lower - limit_tolerance, pos > upper + limit_tolerance
    if below.any() or above.any():
        k, j = np.argwhere(below | above)[0]
        raise TrajectoryRejected(
            f"point {k}: position {pos[k, j]:.6g} of {joint_names[j]} is outside its limits "
            f"[{lower[j]:.6g}, {upper[j]:.6g}]")
    if vel is not None and np.any(np.abs(vel[-1]) > 1e-9):
        raise TrajectoryRejected(f"final velocity must be zero, got {vel[-1].tolist()}")
    t0 = now if goal.stamp == 0 else float(goal.stamp)
    if t0 + times[-1] < now:
        raise TrajectoryRejected(
            f"trajectory ends in the past: stamp {goal.stamp:.6f} + {times[-1]:.6g} s < now {now:.6f}")
    sp, sv, sa = (np.asarray(x, dtype=float).copy() for x in state)
    return ActiveTrajectory(t0, times, pos, vel, acc, sp, sv, sa)
