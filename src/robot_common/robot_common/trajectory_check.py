"""Checks a JointTrajectory the way joint_trajectory_controller does before accepting it."""
from __future__ import annotations

import numpy as np

from robot_common.conversions import duration_to_sec
from robot_common.spec import RobotSpec


class TrajectoryRejected(ValueError):
    """The trajectory must not be executed; the message says why."""


def check_trajectory(msg, spec: RobotSpec, allow_partial: bool = False, limit_tolerance: float = 1e-6) -> None:
    """Raise TrajectoryRejected for unknown/missing joints, empty points, non-increasing
    time_from_start, size mismatches, NaN or out-of-limit positions."""
    names = list(msg.joint_names)
    known = set(spec.joint_names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TrajectoryRejected(f"unknown joints {unknown}; this controller has {spec.joint_names}")
    if len(set(names)) != len(names):
        raise TrajectoryRejected(f"duplicate joint names in {names}")
    missing = [n for n in spec.joint_names if n not in names]
    if missing and not allow_partial:
        raise TrajectoryRejected(f"missing joints {missing} (partial goals are not allowed)")
    if not msg.points:
        raise TrajectoryRejected("trajectory has no points")
    idx = [spec.joint_names.index(n) for n in names]
    lo, hi = spec.lower[idx], spec.upper[idx]
    last = -np.inf
    for i, p in enumerate(msg.points):
        t = duration_to_sec(p.time_from_start)
        if not t > last:
            raise TrajectoryRejected(f"time_from_start must increase strictly: point {i} at {t:.4f} s after {last:.4f} s")
        last = t
        pos = np.asarray(p.positions, dtype=float)
        if pos.shape != (len(names),):
            raise TrajectoryRejected(f"point {i} has {pos.size} positions for {len(names)} joints")
        for field in ("velocities", "accelerations"):
            vals = np.asarray(getattr(p, field), dtype=float)
            if vals.size not in (0, len(names)):
                raise TrajectoryRejected(f"point {i} has {vals.size} {field} for {len(names)} joints")
            if not np.all(np.isfinite(vals)):
                raise TrajectoryRejected(f"point {i} has non-finite {field}")
        bad = [n for n, v in zip(names, pos) if not np.isfinite(v)]
        if bad:
            raise TrajectoryRejected(f"point {i} has non-finite positions for {bad}")
        out = [f"{n}={v:.4f} not in [{a:.4f}, {b:.4f}]" for n, v, a, b in zip(names, pos, lo, hi)
               if v < a - limit_tolerance or v > b + limit_tolerance]
        if out:
            raise TrajectoryRejected(f"point {i} is outside the joint limits: {', '.join(out)}")
