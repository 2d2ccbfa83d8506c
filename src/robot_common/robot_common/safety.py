"""Joint safety filter shared by teleop and policy: finite check, limit clamp, per-step cap.

A follower is never commanded outside its limits, faster than its caps, or with NaN values.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robot_common.spec import RobotSpec


class UnsafeCommandError(ValueError):
    """A command that must not reach the robot (wrong size, NaN/inf)."""


@dataclass
class FilterResult:
    command: np.ndarray
    clamped: list[str] = field(default_factory=list)       # joints pulled back inside limits
    rate_limited: list[str] = field(default_factory=list)  # joints slowed to the step cap

    @property
    def modified(self) -> bool:
        return bool(self.clamped or self.rate_limited)


class JointSafetyFilter:
    def __init__(
        self,
        names: Sequence[str],
        lower: np.ndarray,
        upper: np.ndarray,
        max_velocity: np.ndarray,
        velocity_scale: float = 1.0,
        margin: float = 0.0,
    ) -> None:
        if not 0.0 < velocity_scale <= 1.0:
            raise ValueError(f"velocity_scale must be in (0, 1], got {velocity_scale}")
        self.names = list(names)
        self.lower = np.asarray(lower, dtype=float) + margin
        self.upper = np.asarray(upper, dtype=float) - margin
        if np.any(self.lower >= self.upper):
            raise ValueError(f"margin {margin} leaves no range for some joints")
        self.max_velocity = np.asarray(max_velocity, dtype=float) * velocity_scale

    @classmethod
    def from_spec(
        cls, spec: RobotSpec, velocity_scale: float = 1.0, margin: float = 0.0, include_gripper: bool = False
    ) -> JointSafetyFilter:
        names, lo, hi, vel = spec.joint_names, spec.lower, spec.upper, spec.max_velocity
        if include_gripper and spec.gripper is not None:
            g = spec.gripper
            names = names + [g.joint]
            lo, hi = np.append(lo, g.lower), np.append(hi, g.upper)
            vel = np.append(vel, g.max_velocity)
        return cls(names, lo, hi, vel, velocity_scale=velocity_scale, margin=margin)

    def validate(self, q: Sequence[float]) -> np.ndarray:
        """Shape and finiteness check; raises UnsafeCommandError naming the offending joints."""
        arr = np.asarray(q, dtype=float)
        if arr.shape != (len(self.names),):
            raise UnsafeCommandError(f"expected {len(self.names)} joint values ({self.names}), got shape {arr.shape}")
        bad = [n for n, v in zip(self.names, arr) if not np.isfinite(v)]
        if bad:
            raise UnsafeCommandError(f"non-finite joint values for {bad}")
        return arr

    def out_of_limits(self, q: Sequence[float], tolerance: float = 0.0) -> dict[str, float]:
        """Joints beyond their limits (by more than tolerance) and by how much."""
        arr = np.asarray(q, dtype=float)
        excess = np.maximum(self.lower - arr, 0.0) + np.maximum(arr - self.upper, 0.0)
        return {n: float(e) for n, e in zip(self.names, excess) if e > tolerance}

    def clamp(self, q: np.ndarray) -> tuple[np.ndarray, list[str]]:
        out = np.clip(q, self.lower, self.upper)
        return out, [n for n, a, b in zip(self.names, q, out) if a != b]

    def step_cap(self, dt: float) -> np.ndarray:
        return self.max_velocity * float(dt)

    def limit_step(self, target: np.ndarray, previous: np.ndarray, dt: float) -> tuple[np.ndarray, list[str]]:
        cap = self.step_cap(dt)
        delta = np.clip(target - previous, -cap, cap)
        out = previous + delta
        return out, [n for n, a, b in zip(self.names, target, out) if abs(a - b) > 1e-12]

    def filter(self, target: Sequence[float], previous: Sequence[float] | None, dt: float) -> FilterResult:
        """Validate, clamp to limits, then cap the step from `previous` (the last command sent)."""
        q = self.validate(target)
        q, clamped = self.clamp(q)
        limited: list[str] = []
        if previous is not None:
            prev = self.validate(previous)
            q, limited = self.limit_step(q, prev, dt)
            q, _ = self.clamp(q)  # previous may itself sit outside after a limit change
        return FilterResult(q, clamped, limited)

    def misalignment(self, a: Sequence[float], b: Sequence[float], threshold: float | Sequence[float]) -> dict[str, float]:
        """Joints where |a - b| exceeds threshold, with the signed difference a - b."""
        diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        thr = np.broadcast_to(np.asarray(threshold, dtype=float), diff.shape)
        return {n: float(d) for n, d, t in zip(self.names, diff, thr) if not abs(d) <= t}


def min_duration(delta: np.ndarray, max_velocity: np.ndarray, max_acceleration: np.ndarray) -> float:
    """Shortest time for a rest-to-rest move of `delta` under velocity and acceleration caps."""
    d = np.abs(np.asarray(delta, dtype=float))
    v, a = np.asarray(max_velocity, dtype=float), np.asarray(max_acceleration, dtype=float)
    # triangular profile if the peak velocity is never reached, trapezoidal otherwise
    t_tri = 2.0 * np.sqrt(d / a)
    t_trap = d / v + v / a
    t = np.where(d <= v * v / a, t_tri, t_trap)
    return float(np.max(t)) if t.size else 0.0
