"""One FR3 joint position command per robot millisecond: the part of the control loop that needs
no robot, so that tests run it exactly as the loop does.

`Fr3Commander.cycle(reference, t, lost, braking)` takes the packets the robot missed since the last
command (it extrapolated them at constant acceleration; the generator plans on from there), runs one
cycle of the jerk-limited tracker along the reference (or brakes), passes the result through the
robot's rate limiter and checks it against the FR3's necessary conditions. It returns the command
and, when a rule the robot enforces is broken, the Violation naming the reflex a real FR3 raises.
"""
from __future__ import annotations

import numpy as np

from robot_common.drivers.fr3_limits import (
    CYCLE,
    DDDQ_MAX,
    DDQ_MAX,
    LIMIT_EPS,
    MAX_LOST_IN_A_ROW,
    FciCommandSignal,
    Violation,
    tracking_velocity_bounds,
    velocity_bounds,
)
from robot_common.drivers.motion import JerkLimitedTracker, MotionState


class Fr3Commander:
    def __init__(self, q0: np.ndarray, names: list[str], velocity_scale: float = 1.0,
                 acceleration_scale: float = 1.0, jerk_scale: float = 1.0, lost_packet_tolerance: int = 2,
                 max_lost_in_a_row: int = MAX_LOST_IN_A_ROW) -> None:
        dof = len(names)
        self.velocity_scale = velocity_scale
        self.lost_packet_tolerance = lost_packet_tolerance
        self.max_lost_in_a_row = max_lost_in_a_row
        self.amax = (DDQ_MAX - LIMIT_EPS) * acceleration_scale
        self.tracker = JerkLimitedTracker(dof, CYCLE, np.full(dof, 1e3), self.amax,
                                          (DDDQ_MAX - LIMIT_EPS) * jerk_scale)
        self.signal = FciCommandSignal(q0, names)
        self.tracker.reset(q0)
        self.lost = 0
        self.lost_max_in_a_row = 0

    @property
    def state(self) -> MotionState:
        """The generator's state: where a new trajectory is spliced from."""
        return self.tracker.state

    def at_rest(self) -> bool:
        return self.tracker.at_rest() and self.signal.at_rest()

    def cycle(self, reference, t: float, lost: int = 0, braking: bool = False
              ) -> tuple[np.ndarray, Violation | None]:
        """The command for robot time t; `lost` packets were missed since the previous command."""
        signal, tracker = self.signal, self.tracker
        violation = None
        if lost > 0:
            self.lost += lost
            self.lost_max_in_a_row = max(self.lost_max_in_a_row, lost)
            violation = signal.lose(min(lost, self.max_lost_in_a_row))
            if violation is None and lost >= self.max_lost_in_a_row:
                violation = Violation("communication_constraints_violation",
                                      f"{lost} command packets lost in a row (the robot aborts at {MAX_LOST_IN_A_ROW})")
            tracker.reset(*signal.continuous_state())
        # bounds at the last command: they change little within 1 ms
        bounds = velocity_bounds(signal.position)
        lo, up = tracking_velocity_bounds(signal.position, signal.velocity, 0.5 * self.amax, self.velocity_scale,
                                          self.lost_packet_tolerance)
        x = tracker.brake(lo, up) if braking else tracker.step(reference, t, lo, up)
        limited = signal.limited
        x = signal.limit(x, bounds)
        bad = signal.accept(x, bounds)
        if bad is None and signal.limited != limited:
            tracker.reset(*signal.continuous_state())   # the limiter changed it: plan on from what was sent
        return x, violation or bad
