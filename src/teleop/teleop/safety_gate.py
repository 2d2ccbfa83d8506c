"""The teleop safety logic, free of ROS: engage gate, ramp-in, limit clamp, step cap, read faults.

Each tick gets the leader reading (or the read error) and the follower's latest state and
returns the command to send (or None). States:
  waiting  - no follower state yet: nothing is sent
  aligning - leader and follower differ by more than engage_threshold on some joint: nothing is
             sent; `status` names the joints and by how much
  ramping  - (on request) the command walks from the follower to the leader at a fraction of the
             velocity limits, then engages
  engaged  - command = leader, clamped to the limits and capped to max_velocity * dt per tick
  fault    - max_read_failures consecutive bad reads: disengaged; when good readings return the
             gate starts again from `aligning`
A fresh follower state further than max_follower_deviation from the command (a sim reset, a
collision, someone pushing the arm) disengages too: one command holds the follower where it is,
and the gate starts again.
Bad reads (errors, NaN/inf, far outside the limits, impossible jumps) never reach the follower:
while engaged nothing new is sent, so the controller holds the last safe command.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_common.safety import JointSafetyFilter
from robot_common.spec import RobotSpec

WAITING, ALIGNING, RAMPING, ENGAGED, FAULT = "waiting", "aligning", "ramping", "engaged", "fault"


@dataclass
class SafetyConfig:
    engage_threshold: float = 0.2     # rad, per arm joint, to engage without ramping
    ramp_in: bool = False             # ramp in from any misalignment instead of waiting
    ramp_velocity_scale: float = 0.1  # ramp speed as a fraction of the velocity limits
    velocity_scale: float = 1.0       # step cap = max_velocity * velocity_scale * dt
    limit_margin: float = 0.0         # keep commands this far inside the joint limits (rad)
    max_read_failures: int = 25       # consecutive bad reads before disengaging (50 ms at 500 Hz)
    range_margin: float = 0.35        # a leader reading beyond the limits by more is garbage
    max_leader_jump: float = 0.5      # rad in one read: no hand moves a leader that fast
    max_follower_deviation: float = 0.5  # rad between command and a fresh follower state: it was
                                         # moved by something else (reset, collision): stop, re-gate

    def validate(self) -> None:
        if self.engage_threshold <= 0 or self.max_read_failures < 1 or self.max_leader_jump <= 0:
            raise ValueError("engage_threshold and max_leader_jump must be > 0, max_read_failures >= 1")
        if not 0 < self.ramp_velocity_scale <= 1 or not 0 < self.velocity_scale <= 1:
            raise ValueError("ramp_velocity_scale and velocity_scale must be in (0, 1]")


@dataclass
class Tick:
    command: np.ndarray | None  # arm joints (+ gripper), follower units; None: send nothing (hold)
    state: str
    status: str                 # one human-readable line
    clamped: list[str]
    rate_limited: list[str]


class SafetyGate:
    def __init__(self, spec: RobotSpec, names: list[str], config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        self.config.validate()
        self.spec = spec
        self.names = list(names)
        self.dof = spec.dof
        self.with_gripper = len(names) == spec.dof + 1
        self.filter = JointSafetyFilter.from_spec(spec, velocity_scale=self.config.velocity_scale,
                                                  margin=self.config.limit_margin, include_gripper=self.with_gripper)
        if self.filter.names != self.names:
            raise ValueError(f"leader joints {self.names} do not match the follower {self.filter.names}")
        self.state = WAITING
        self.failures = 0
        self.last_command: np.ndarray | None = None
        self.last_leader: np.ndarray | None = None
        self.ramp_requested = self.config.ramp_in
        self.last_error = ""
        self.reading_ok = False

    def request_ramp(self) -> None:
        """Ramp in slowly from the current misalignment (the user asked for it)."""
        self.ramp_requested = True

    def disengage(self, reason: str) -> None:
        self.state, self.last_command, self.last_leader = FAULT, None, None
        self.ramp_requested = self.config.ramp_in
        self.last_error = reason

    def _garbage(self, q: np.ndarray) -> str | None:
        if q.shape != (len(self.names),):
            return f"leader gave {q.size} values for {len(self.names)} joints"
        bad = [n for n, v in zip(self.names, q) if not np.isfinite(v)]
        if bad:
            return f"non-finite leader values for {bad}"
        far = self.filter.out_of_limits(q, tolerance=self.config.range_margin)
        if far:
            return "leader reading far outside the limits (miscalibrated or garbage): " + _fmt(far)
        if self.last_leader is not None:
            jump = np.abs(q[: self.dof] - self.last_leader[: self.dof])
            if np.any(jump > self.config.max_leader_jump):
                return "leader jumped in one read: " + _fmt(
                    {n: float(j) for n, j in zip(self.names, jump) if j > self.config.max_leader_jump})
        return None

    def step(self, leader: np.ndarray | None, follower: np.ndarray | None, dt: float,
             read_error: str | None = None, follower_age: float = 0.0) -> Tick:
        """One control tick. `follower` holds the arm joints (+ gripper when it reports one);
        `follower_age` (s) is how old that state is."""
        error = read_error if leader is None else self._garbage(np.asarray(leader, dtype=float))
        self.reading_ok = error is None
        if self.state in (ENGAGED, RAMPING) and follower is not None and follower_age <= 0.1:
            moved = self._follower_moved(np.asarray(follower, dtype=float))
            if moved is not None:
                return moved
        if error is not None:
            return self._on_failure(error or "leader read failed")
        q = np.asarray(leader, dtype=float)
        self.failures = 0
        self.last_leader = q
        if self.state == FAULT:
            self.state = ALIGNING
        if self.state in (WAITING, ALIGNING):
            return self._gate(q, follower)
        if self.state == RAMPING:
            res = self.filter.filter(q, self.last_command, dt * self.config.ramp_velocity_scale)
            self.last_command = res.command
            gap = np.abs(q[: self.dof] - res.command[: self.dof])
            if np.all(gap <= self.config.engage_threshold):
                self.state = ENGAGED
            return Tick(res.command, self.state, f"ramping in: largest gap {gap.max():.3f} rad", res.clamped, [])
        res = self.filter.filter(q, self.last_command, dt)
        self.last_command = res.command
        return Tick(res.command, ENGAGED, "engaged", res.clamped, res.rate_limited)

    def _follower_moved(self, follower: np.ndarray) -> Tick | None:
        limit = self.config.max_follower_deviation
        dev = follower[: self.dof] - self.last_command[: self.dof]
        if limit <= 0 or np.all(np.abs(dev) <= limit):
            return None
        # hold the follower where it now is (a last command that cancels the stale target), re-gate
        hold = self.last_command.copy()
        hold[: self.dof] = follower[: self.dof]
        hold, _ = self.filter.clamp(hold)
        self.state, self.last_command, self.last_leader = ALIGNING, None, None
        self.ramp_requested = self.config.ramp_in
        off = {n: float(d) for n, d in zip(self.names, dev) if abs(d) > limit}
        return Tick(hold, ALIGNING, "disengaged: the follower moved away from the command (reset or external "
                                    "force?): " + _fmt(off) + "; holding it there, re-aligning", [], [])

    def _gate(self, q: np.ndarray, follower: np.ndarray | None) -> Tick:
        if follower is None:
            self.state = WAITING
            return Tick(None, WAITING, "waiting for the follower's joint states", [], [])
        follower = np.asarray(follower, dtype=float)
        target, _ = self.filter.clamp(q)
        off = self.filter.misalignment(target[: self.dof], follower[: self.dof], self.config.engage_threshold)
        start = target.copy()
        start[: self.dof] = follower[: self.dof]
        if follower.size > self.dof:  # the follower reports its gripper: start from there
            start[self.dof:] = follower[self.dof:]
        start, _ = self.filter.clamp(start)
        if not off:
            self.state, self.last_command = ENGAGED, start
            return self.step_engaged_now(q)
        if self.ramp_requested:
            self.state, self.last_command = RAMPING, start
            return Tick(None, RAMPING, "ramping in from " + _fmt(off), [], [])
        self.state = ALIGNING
        return Tick(None, ALIGNING, f"not engaged: move the leader to the follower (threshold "
                                    f"{self.config.engage_threshold:.2f} rad); off: " + _fmt(off), [], [])

    def step_engaged_now(self, q: np.ndarray) -> Tick:
        # the first engaged tick only moves within one step of the follower (dt of one tick is
        # applied by the next call); sending the follower's own pose here is the safe choice
        return Tick(self.last_command.copy(), ENGAGED, "engaged", [], [])

    def _on_failure(self, error: str) -> Tick:
        self.failures += 1
        self.last_error = error
        if self.state in (ENGAGED, RAMPING):
            if self.failures >= self.config.max_read_failures:
                self.disengage(error)
                return Tick(None, FAULT, f"disengaged after {self.failures} consecutive bad leader reads: {error}",
                            [], [])
            # nothing new is sent: the JTC / forward controller keeps the last safe command (re-sending
            # it could drag a follower that was moved meanwhile, e.g. by a sim reset, back to it)
            return Tick(None, self.state,
                        f"holding the last safe command (bad read {self.failures}/"
                        f"{self.config.max_read_failures}): {error}", [], [])
        if self.failures >= self.config.max_read_failures:
            self.state = FAULT
            self.last_leader = None
        return Tick(None, self.state, f"leader not readable: {error}", [], [])


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(f"{n} {v:+.3f} rad" for n, v in values.items())
