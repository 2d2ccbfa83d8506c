"""What a Franka Research 3 accepts as a joint position command, and how it sees the command signal.

The numbers are Franka's published FR3 limits (the FCI documentation, "Limits for Franka Research 3",
and libfranka's rate_limiting.h): joint position, position-dependent velocity, acceleration and jerk
limits. The robot differentiates the commanded positions at its 1 kHz clock and aborts a motion with
a reflex when a "necessary condition" fails; a lost command packet is replaced by a constant-
acceleration extrapolation, and 20 lost in a row abort with communication_constraints_violation.
A simulator (franky-sim) checks none of this, so the driver models it here and applies it to every
command it sends, on hardware and in simulation alike.

`FciCommandSignal` keeps the command signal as the robot sees it. `limit()` is the last line of
defence, a discrete rate limiter in the manner of libfranka's limitRate (jerk, then an acceleration
that can still stop before the velocity bound); `accept()` applies the robot's necessary conditions
and names the reflex a real FR3 would raise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CYCLE = 1e-3               # s, the FCI command period
LIMIT_EPS = 1e-3           # libfranka's margin below each limit (kLimitEps)
MAX_LOST_IN_A_ROW = 20     # lost packets in a row before communication_constraints_violation
TRACKING_MARGIN = 0.005    # rad/s: the trajectory generator's velocity bounds lie this far inside the limits
LOOKAHEAD = 0.02           # s: the generator takes position-dependent velocity limits from this far ahead

Q_MIN = np.array([-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159])
Q_MAX = np.array([2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159])
DQ_MAX = np.array([2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26])
DDQ_MAX = np.full(7, 10.0)
DDDQ_MAX = np.full(7, 5000.0)

# Position-dependent velocity limits, dq_max(q) = min(DQ_MAX, max(0, -c + sqrt(max(0, k (p - q))))),
# and the mirrored lower bound (FR3 datasheet; libfranka computeUpper/LowerLimitsJointVelocity).
# Row 0 is the upper bound, row 1 the lower one (as a magnitude); stacked so one call costs few
# numpy operations (this runs every millisecond).
_C = np.array([[0.30, 0.20, 0.20, 0.30, 0.35, 0.35, 0.35]] * 2)
_K = np.array([[12.0, 5.17, 7.00, 8.00, 34.0, 11.0, 34.0]] * 2)
_P = np.array([[2.75010, 1.79180, 2.90650, -0.1458, 2.81010, 4.52050, 3.01960],
               [2.750100, 1.791800, 2.906500, 3.048100, 2.810100, -0.54092, 3.019600]])
_SIGN = np.array([[1.0], [-1.0]])
_STOP = _P - _C**2 / _K          # where each bound reaches zero (row 1 mirrored)


def velocity_bounds(q: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) joint velocity limits at joint position q (rad/s), each `margin` inside."""
    d = _P - _SIGN * q                                   # distance to the end of each curve
    mag = np.minimum(DQ_MAX, np.maximum(0.0, np.sqrt(np.maximum(0.0, _K * d)) - _C)) - margin
    return -mag[1], mag[0]


def tracking_velocity_bounds(q: np.ndarray, v: np.ndarray, deceleration: np.ndarray, scale: float = 1.0,
                             lost_packets: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Velocity bounds for the trajectory generator at position q, moving at v: the position-dependent
    limits less TRACKING_MARGIN (so the limiter never has to act on the generator's output) and less
    what `lost_packets` extrapolated at the acceleration limit add (libfranka's
    kTolNumberPacketsLost: room for the robot's own extrapolation of lost commands), where
    the arm will be LOOKAHEAD from now if that is tighter (the bound falls as a joint nears its
    limit; a lost packet must not carry the arm past it), tightened further to what `deceleration`
    can still stop before the point where the limit reaches zero (the published curve falls faster
    near its end than 10 rad/s^2 can brake for joints 5 and 7); times scale."""
    d = np.minimum(_P - _SIGN * q, _P - _SIGN * (q + v * LOOKAHEAD))
    margin = TRACKING_MARGIN + lost_packets * CYCLE * DDQ_MAX
    mag = np.minimum(DQ_MAX, np.maximum(0.0, np.sqrt(np.maximum(0.0, _K * d)) - _C)) - margin
    brake = np.sqrt(2 * deceleration * np.maximum(0.0, d - (_P - _STOP)))
    mag = np.minimum(mag, brake) * scale
    return -mag[1], mag[0]


@dataclass(frozen=True)
class Violation:
    """A necessary condition the command broke: the reflex a real FR3 aborts the motion with."""
    reflex: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reflex}: {self.detail}"


class FciCommandSignal:
    """The commanded joint positions as the robot receives them, one sample per robot millisecond."""

    def __init__(self, q0: np.ndarray, names: list[str] | None = None) -> None:
        q0 = np.asarray(q0, dtype=float)
        self.names = names or [f"joint{i + 1}" for i in range(q0.size)]
        self.position = q0.copy()                 # c[n]
        self.velocity = np.zeros_like(q0)         # (c[n] - c[n-1]) / CYCLE
        self.acceleration = np.zeros_like(q0)     # backward second difference / CYCLE^2
        self.jerk = np.zeros_like(q0)             # backward third difference / CYCLE^3
        self.lost_in_a_row = 0
        self.lost_total = 0
        self.limited = 0          # commands the rate limiter changed

    def at_rest(self, tol: float = 1e-4) -> bool:
        return bool(abs(self.velocity).max() < tol and abs(self.acceleration).max() < 100 * tol)

    def continuous_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, velocity, acceleration) at the last sample of the cubic through the last four
        samples: the state a trajectory generator continues from without a jump in the differences
        (backward differences lag: v_b = v - a dt/2 + j dt^2/6, a_b = a - j dt)."""
        a = self.acceleration + self.jerk * CYCLE
        v = self.velocity + self.acceleration * CYCLE / 2 + self.jerk * CYCLE**2 / 3
        return self.position.copy(), v, a

    def lose(self, packets: int) -> Violation | None:
        """`packets` commands did not arrive in time: the robot extrapolates at constant acceleration."""
        if packets <= 0:
            self.lost_in_a_row = 0
            return None
        for _ in range(packets):
            self.velocity = self.velocity + self.acceleration * CYCLE
            self.position = self.position + self.velocity * CYCLE
        self.jerk = np.zeros_like(self.jerk)
        self.lost_total += packets
        self.lost_in_a_row = packets
        if packets >= MAX_LOST_IN_A_ROW:
            return Violation("communication_constraints_violation",
                             f"{packets} command packets lost in a row (the robot aborts at {MAX_LOST_IN_A_ROW})")
        return None

    def limit(self, x: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """The command closest to x whose velocity, acceleration and jerk stay inside the limits (less
        LIMIT_EPS), given the signal so far; x itself when it complies. `bounds`: velocity_bounds at
        the last command, if the caller has them.

        Like libfranka's limitRate: the acceleration is kept where the velocity can still be brought
        to rest at its bound (here with the jerk limit: v' + a^2 / 2j <= bound, v' = v + a dt), and the
        jerk limit is applied last, so the jerk is never exceeded."""
        lo, up = bounds if bounds is not None else velocity_bounds(self.position)
        lo, up = lo + LIMIT_EPS, up - LIMIT_EPS
        jmax, amax = DDDQ_MAX[0] - LIMIT_EPS, DDQ_MAX[0] - LIMIT_EPS
        v_last, a_last = self.velocity, self.acceleration
        a = ((x - self.position) / CYCLE - v_last) / CYCLE
        jdt = jmax * CYCLE
        safe_hi = np.minimum(np.sqrt(jdt**2 + 2 * jmax * np.maximum(0.0, up - v_last)) - jdt, amax)
        safe_lo = np.maximum(jdt - np.sqrt(jdt**2 + 2 * jmax * np.maximum(0.0, v_last - lo)), -amax)
        a_lim = np.minimum(np.maximum(a, safe_lo), safe_hi)
        a_lim = np.minimum(np.maximum(a_lim, a_last - jdt), a_last + jdt)
        if np.abs(a_lim - a).max() <= 1e-7:   # rounding of a command that complies (LIMIT_EPS covers it)
            return x
        self.limited += 1
        return self.position + (v_last + a_lim * CYCLE) * CYCLE

    def check(self, x: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> Violation | None:
        """The robot's necessary conditions for command x following the signal so far (velocity
        bounds at the last command, as libfranka's limiter evaluates them)."""
        v = (x - self.position) / CYCLE
        a = (v - self.velocity) / CYCLE
        j = (a - self.acceleration) / CYCLE
        lo, up = bounds if bounds is not None else velocity_bounds(self.position)
        tol = 1e-6      # rounding only: the limits themselves are the robot's
        if ((x < Q_MIN - tol).any() or (x > Q_MAX + tol).any() or (v < lo - tol).any() or (v > up + tol).any()
                or abs(a).max() > DDQ_MAX[0] + tol or abs(j).max() > DDDQ_MAX[0] + tol):
            for bad, reflex, what in (
                ((x < Q_MIN - tol) | (x > Q_MAX + tol), "joint_motion_generator_position_limits_violation", x),
                ((v < lo - tol) | (v > up + tol), "joint_motion_generator_velocity_limits_violation", v),
                (np.abs(a) > DDQ_MAX + tol, "joint_motion_generator_velocity_discontinuity", a),
                (np.abs(j) > DDDQ_MAX + tol, "joint_motion_generator_acceleration_discontinuity", j),
            ):
                if bad.any():
                    i = int(np.argmax(bad))
                    return Violation(reflex, f"{self.names[i]} at {what[i]:.6g} (command {x[i]:.6g} rad)")
        return None

    def accept(self, x: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> Violation | None:
        """Check x and, when it passes, append it to the signal (the robot received it)."""
        bad = self.check(x, bounds)
        if bad is None:
            v = (x - self.position) / CYCLE
            a = (v - self.velocity) / CYCLE
            self.jerk = (a - self.acceleration) / CYCLE
            self.acceleration = a
            self.velocity = v
            self.position = np.array(x, dtype=float)
            self.lost_in_a_row = 0
        return bad
