"""Joint motion for the direct drivers: the JTC reference and a jerk-limited tracker that follows it.

`JtcReference` is a trajectory that passed robot_common.trajectory_check, spliced from the state at
its arrival and anchored in the robot's clock, as joint_trajectory_controller does (segment 0 runs
from that state to the first point; positions only -> linear, + velocities -> cubic, +
accelerations -> quintic; scipy's BPoly builds those piecewise polynomials). `JerkLimitedTracker`
(ruckig, a maintained online trajectory generator) turns the reference into commands every cycle:
it reaches the reference state by the next cycle when the limits allow, and otherwise moves towards
it as fast as the velocity, acceleration and jerk limits let it, so no input makes a command jump.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ruckig import ControlInterface, InputParameter, OutputParameter, Result, Ruckig, RuckigError, Synchronization
from scipy.interpolate import BPoly, PPoly


@dataclass
class MotionState:
    position: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray


class HoldReference:
    """Stand still at one position."""

    def __init__(self, position: np.ndarray) -> None:
        self.position = np.asarray(position, dtype=float).copy()
        self._zero = np.zeros_like(self.position)

    end = -np.inf      # at rest from the start

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.position, self._zero, self._zero

    def done(self, t: float) -> bool:
        return True


class JtcReference:
    """A checked trajectory (columns in the controller's joint order) spliced from `start` at time t0."""

    def __init__(self, t0: float, times: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None,
                 accelerations: np.ndarray | None, start: MotionState) -> None:
        self.t0 = float(t0)
        times = np.asarray(times, dtype=float)
        order = 1 if velocities is None else (2 if accelerations is None else 3)
        fields = [positions] + ([velocities] if order > 1 else []) + ([accelerations] if order > 2 else [])
        rows = np.stack([np.asarray(f, dtype=float) for f in fields], axis=1)      # [N, order, dof]
        if times[0] > 0:   # segment 0 from the state at arrival; a first point at t = 0 is a jump
            first = np.stack([start.position, start.velocity, start.acceleration][:order])[None]
            rows = np.concatenate([first, rows])
            times = np.concatenate([[0.0], times])
        self.start = start.position.copy()
        self.final = np.asarray(positions[-1], dtype=float).copy()
        self.duration = float(times[-1])
        self._zero = np.zeros_like(self.final)
        self._breaks = times
        if times.size > 1:
            # power-basis coefficients of position, velocity and acceleration, highest power first,
            # stacked so that one Horner pass evaluates all three: [segment][power][3, dof]
            pp = PPoly.from_bernstein_basis(BPoly.from_derivatives(times, rows))
            k = pp.c.shape[0]
            coef = np.zeros((k, pp.c.shape[1], 3, self.final.size))
            for d in range(3):
                c = pp.derivative(d).c if d else pp.c
                coef[k - c.shape[0]:, :, d, :] = c
            self._coef = [coef[:, s] for s in range(coef.shape[1])]
        else:                               # one point at t = 0: go there now
            self._coef = []

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reference (position, velocity, acceleration) at robot time t."""
        tau = t - self.t0
        if tau < 0:    # stamped in the future: hold the state at arrival until it starts
            return self.start, self._zero, self._zero
        if not self._coef or tau >= self.duration:
            return self.final, self._zero, self._zero
        seg = min(int(np.searchsorted(self._breaks, tau, side="right")) - 1, len(self._coef) - 1)
        c = self._coef[seg]
        s = tau - self._breaks[seg]
        out = c[0]
        for row in c[1:]:
            out = out * s + row
        return out[0], out[1], out[2]

    @property
    def end(self) -> float:
        """The time from which the reference rests at its final point."""
        return self.t0 + self.duration

    def done(self, t: float) -> bool:
        return t - self.t0 >= self.duration


class JerkLimitedTracker:
    """ruckig, one cycle at a time, with per-cycle (position-dependent) velocity bounds."""

    HORIZONS = (0.01, 0.03, 0.1, 0.3, 1.0)   # s: how far ahead to rejoin a reference out of reach

    def __init__(self, dof: int, cycle: float, max_velocity: np.ndarray, max_acceleration: np.ndarray,
                 max_jerk: np.ndarray) -> None:
        self.cycle = cycle
        self.vmax = np.asarray(max_velocity, dtype=float)
        self.amax = np.asarray(max_acceleration, dtype=float)
        self._otg = Ruckig(dof, cycle)
        self._in = InputParameter(dof)
        self._out = OutputParameter(dof)
        self._in.max_acceleration = self.amax.tolist()
        self._in.max_jerk = np.asarray(max_jerk, dtype=float).tolist()
        self.limited = 0        # cycles in which the reference was out of reach
        self.fallbacks = 0      # cycles in which ruckig needed _fallback
        self._zeros = [0.0] * dof
        self.reset(np.zeros(dof))

    def reset(self, position: np.ndarray, velocity: np.ndarray | None = None,
              acceleration: np.ndarray | None = None) -> None:
        z = np.zeros_like(np.asarray(position, dtype=float))
        self._in.current_position = np.asarray(position, dtype=float).tolist()
        self._in.current_velocity = (z if velocity is None else np.asarray(velocity, dtype=float)).tolist()
        self._in.current_acceleration = (z if acceleration is None else np.asarray(acceleration, dtype=float)).tolist()

    @property
    def state(self) -> MotionState:
        return MotionState(np.array(self._in.current_position), np.array(self._in.current_velocity),
                           np.array(self._in.current_acceleration))

    def _bounds(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # ruckig needs min < 0 < max; a bound that has shrunk to zero (at a joint limit) keeps a sliver
        lo = np.minimum(np.maximum(lower, -self.vmax), -1e-4)
        hi = np.maximum(np.minimum(upper, self.vmax), 1e-4)
        self._in.min_velocity = lo.tolist()
        self._in.max_velocity = hi.tolist()
        return lo, hi

    def _plan(self, target: tuple[np.ndarray, np.ndarray, np.ndarray], lo: np.ndarray, hi: np.ndarray,
              horizon: float) -> float:
        """Plan to reach the reference state `target` in `horizon` s (or as soon after as the limits
        allow); returns the planned duration."""
        p, v, a = target
        inp = self._in
        inp.minimum_duration = horizon
        inp.target_position = p.tolist()
        inp.target_velocity = np.minimum(np.maximum(v, lo), hi).tolist()
        inp.target_acceleration = np.minimum(np.maximum(a, -self.amax), self.amax).tolist()
        try:
            result = self._otg.update(inp, self._out)
        except RuckigError:
            result = self._fallback()
        if result is not Result.Working and result is not Result.Finished:
            raise RuntimeError(f"ruckig failed: {result}")
        return self._out.trajectory.duration

    def step(self, reference, t: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Advance one cycle along `reference` (its sample(t) -> (p, v, a)); t: the time this cycle ends.

        The plan reaches the reference state one cycle ahead when the limits allow (then the command
        is the reference). When they do not (a jump, a velocity or acceleration step at a knot of a
        linear or cubic reference, a reference faster than the limits), it aims at the reference a
        little further ahead, at the nearest of HORIZONS it can still reach on time, so that the arm
        rejoins the path instead of matching an unreachable state now (which ruckig would do with a
        long detour)."""
        lo, hi = self._bounds(lower, upper)
        self._in.control_interface = ControlInterface.Position
        duration = self._plan(reference.sample(t), lo, hi, self.cycle)
        if duration > self.cycle * 1.5:
            self.limited += 1
            now = t - self.cycle
            for horizon in self.HORIZONS:
                # arrive at the reference time now + horizon, or as early as possible once the
                # reference rests at its end by then
                arrive = min(horizon, max(self.cycle, reference.end - now))
                duration = self._plan(reference.sample(now + horizon), lo, hi, arrive)
                if duration <= horizon * 1.05:
                    break
        self._out.pass_to_input(self._in)
        return np.array(self._out.new_position)

    def _fallback(self) -> Result:
        """When ruckig finds no profile (a target state no profile reaches, or its time
        synchronisation fails numerically in rare states): aim at rest at the target, then let each
        joint move on its own time for this cycle."""
        self.fallbacks += 1
        self._in.target_velocity = self._zeros
        self._in.target_acceleration = self._zeros
        try:
            return self._otg.update(self._in, self._out)
        except RuckigError:
            pass
        self._in.synchronization = Synchronization.No
        try:
            return self._otg.update(self._in, self._out)
        finally:
            self._in.synchronization = Synchronization.Time

    def brake(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Advance one cycle of the quickest stop within the limits; returns the new position."""
        self._bounds(lower, upper)
        self._in.control_interface = ControlInterface.Velocity
        self._in.target_velocity = self._zeros
        self._in.target_acceleration = self._zeros
        self._otg.update(self._in, self._out)
        self._out.pass_to_input(self._in)
        return np.array(self._out.new_position)

    def at_rest(self, tol: float = 1e-4) -> bool:
        return bool(np.all(np.abs(self._in.current_velocity) < tol) and np.all(np.abs(self._in.current_acceleration) < 10 * tol))
