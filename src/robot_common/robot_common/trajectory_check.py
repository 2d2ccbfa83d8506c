"""The rules joint_trajectory_controller applies before it accepts a trajectory, in one place.

`check_trajectory_data` works on plain data (names, times, per-point value lists) and is what
`check_trajectory` (a trajectory_msgs/JointTrajectory), the direct drivers (robot_common.drivers)
and the sim's `sim.trajectory.validate_goal` (its ROS-free goal dataclasses) call.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot_common.conversions import duration_to_sec
from robot_common.spec import RobotSpec

_SINGULAR = {"positions": "position", "velocities": "velocity", "accelerations": "acceleration"}


class TrajectoryRejected(ValueError):
    """A trajectory the controller refuses (nothing moves); the message says which rule it broke."""


@dataclass(frozen=True)
class CheckedTrajectory:
    """A trajectory that passed the checks, its columns in the controller's joint order.

    joint_indices: the controller index of each column (every joint unless a partial goal was allowed).
    velocities / accelerations: None when no point gives them; with uniform_fields=False a point that
    gives none has a NaN row.
    """
    joint_indices: np.ndarray          # [k]
    times: np.ndarray                  # time_from_start of each point [N]
    positions: np.ndarray              # [N, k]
    velocities: np.ndarray | None      # [N, k]
    accelerations: np.ndarray | None   # [N, k]


def check_trajectory_data(
    names: Sequence[str],
    times: Sequence[float],
    positions: Sequence[Sequence[float]],
    velocities: Sequence[Sequence[float]],
    accelerations: Sequence[Sequence[float]],
    joint_names: Sequence[str],
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    allow_partial: bool = False,
    limit_tolerance: float = 1e-6,
    uniform_fields: bool = False,
    allow_nonzero_velocity_at_trajectory_end: bool = True,
) -> CheckedTrajectory:
    """Raise TrajectoryRejected, or return the trajectory reordered into `joint_names`' order.

    names: the joints of the trajectory, in the order of its value lists; times[i], positions[i],
    velocities[i], accelerations[i]: point i (an empty velocity/acceleration list = not given).
    Rules: every name known and unique; no joint missing unless allow_partial; at least one point;
    time_from_start finite, >= 0 and strictly increasing; per point as many positions as names and
    as many velocities/accelerations or none (uniform_fields: every point gives them or none does);
    all values finite; positions within [lower, upper] +- limit_tolerance; unless
    allow_nonzero_velocity_at_trajectory_end, the last point's velocities (if given) zero.
    """
    names = list(names)
    joint_names = list(joint_names)
    unknown = [n for n in names if n not in joint_names]
    if unknown:
        raise TrajectoryRejected(f"unknown joints {unknown}; this controller has {joint_names}")
    if len(set(names)) != len(names):
        raise TrajectoryRejected(f"duplicate joint names in {names}")
    missing = [n for n in joint_names if n not in names]
    if missing and not allow_partial:
        raise TrajectoryRejected(f"joints {missing} missing from the goal (allow_partial_joints_goal is false)")
    if len(times) == 0:
        raise TrajectoryRejected("empty trajectory: no points")
    t = np.asarray(times, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise TrajectoryRejected(f"time_from_start must be finite and >= 0, got {t.tolist()}")
    if np.any(np.diff(t) <= 0):
        k = int(np.argmax(np.diff(t) <= 0)) + 1
        raise TrajectoryRejected(
            f"time_from_start must be strictly increasing: point {k} at {t[k]:.6g} s follows {t[k - 1]:.6g} s")

    def field(attr: str, rows: Sequence[Sequence[float]]) -> np.ndarray | None:
        n = len(names)
        sizes = [len(r) for r in rows]
        given = any(sizes)
        if not given and attr != "positions":
            return None
        for k, s in enumerate(sizes):
            if s == n or (s == 0 and attr != "positions" and not uniform_fields):
                continue
            hint = " (the other points give them: give them in every point or in none)" if s == 0 else ""
            raise TrajectoryRejected(f"point {k}: {attr} has {s} values for {n} joints{hint}")
        arr = np.full((len(rows), n), np.nan)
        for k, r in enumerate(rows):
            if len(r):
                arr[k] = np.asarray(r, dtype=float)
        bad = ~np.isfinite(arr) & (np.asarray(sizes) > 0)[:, None]
        if bad.any():
            k = int(np.argmax(bad.any(axis=1)))
            joints = ", joint ".join(f"{names[j]} ({arr[k, j]})" for j in np.flatnonzero(bad[k]))
            raise TrajectoryRejected(f"point {k}: non-finite {_SINGULAR[attr]} for joint {joints}")
        return arr

    if not len(positions) == len(velocities) == len(accelerations) == len(t):
        raise TrajectoryRejected(
            f"{len(t)} times for {len(positions)} positions, {len(velocities)} velocities, "
            f"{len(accelerations)} accelerations")
    pos = field("positions", positions)
    vel = field("velocities", velocities)
    acc = field("accelerations", accelerations)
    idx = [joint_names.index(n) for n in names]
    lo, hi = np.asarray(lower, dtype=float)[idx], np.asarray(upper, dtype=float)[idx]
    out = (pos < lo - limit_tolerance) | (pos > hi + limit_tolerance)
    if out.any():
        k = int(np.argmax(out.any(axis=1)))
        raise TrajectoryRejected(f"point {k}: " + "; ".join(
            f"position {pos[k, j]:.6g} of {names[j]} is outside its limits [{lo[j]:.6g}, {hi[j]:.6g}]"
            for j in np.flatnonzero(out[k])))
    if not allow_nonzero_velocity_at_trajectory_end and vel is not None and np.any(np.abs(vel[-1]) > 1e-9):
        final = dict(zip(names, vel[-1].tolist()))
        raise TrajectoryRejected(f"final velocity must be zero, got {[final[n] for n in joint_names if n in final]}")
    order = np.argsort(idx)    # columns in the controller's joint order
    return CheckedTrajectory(
        np.asarray(idx)[order], t, pos[:, order],
        None if vel is None else vel[:, order], None if acc is None else acc[:, order])


def check_trajectory(msg, spec: RobotSpec, allow_partial: bool = False,
                     limit_tolerance: float = 1e-6) -> CheckedTrajectory:
    """Check a trajectory_msgs/JointTrajectory against `spec`'s arm controller (check_trajectory_data's
    rules; velocities may be given in some points only, a nonzero final velocity is allowed)."""
    points = list(msg.points)
    return check_trajectory_data(
        list(msg.joint_names), [duration_to_sec(p.time_from_start) for p in points],
        [list(p.positions) for p in points], [list(p.velocities) for p in points],
        [list(p.accelerations) for p in points], spec.joint_names, spec.lower, spec.upper,
        allow_partial=allow_partial, limit_tolerance=limit_tolerance)
