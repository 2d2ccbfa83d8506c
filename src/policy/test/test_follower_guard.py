"""The follower guard without ROS (issue 14.3): commands are bounded from the measured follower state,
a follower pushed past max_follower_deviation makes the controller hold where it is and stop, and
gripper commands (holds included) stay inside the gripper's limits."""
from __future__ import annotations

import numpy as np
import pytest

from policy.controller import ControlParams, PolicyController
from policy.inference import ACTPolicy
from robot_common.spec import load_robot_spec


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _controller(checkpoint, **params) -> tuple:
    spec = load_robot_spec("so101")
    clock = FakeClock()
    ctl = PolicyController(spec, ACTPolicy.from_checkpoint(checkpoint),
                           ControlParams(rate_hz=30.0, trajectory_points=4, velocity_scale=0.5, **params), clock)
    ctl._ensure_worker = lambda: None  # the test delivers chunks itself
    return spec, clock, ctl


def _feed(ctl, spec, clock, q, grip=0.5) -> None:
    ctl.on_joint_state(dict(zip(spec.joint_names + [spec.gripper.joint], np.r_[q, grip])), clock())
    ctl.obs.update_image("observation.images.front", np.zeros((48, 64, 3), np.uint8), clock())


def _tick(ctl, spec, clock, q, chunk, grip=0.5):
    clock.t += ctl.dt
    _feed(ctl, spec, clock, q, grip)
    if ctl.scheduler.needs_inference(ctl.step):
        ctl.submit_chunk(ctl.step, chunk)
    return ctl.tick()


def _within_reach(ctl, cmd) -> float:
    """How far (rad) the command's points lie beyond the follower's reach from cmd.origin (<= 0: within)."""
    vmax = np.asarray(ctl.spec.max_velocity) * ctl.p.follower_velocity_fraction
    return float(np.max(np.abs(cmd.arm - cmd.origin) - vmax * cmd.times[:, None]))


@pytest.fixture
def guarded(tiny_checkpoint):
    spec, clock, ctl = _controller(tiny_checkpoint, max_follower_deviation=0.3)
    yield spec, clock, ctl
    ctl.shutdown()


def test_a_slowly_pushed_follower_is_never_commanded_beyond_its_reach(guarded):
    spec, clock, ctl = guarded
    _feed(ctl, spec, clock, spec.home)
    assert ctl.start()[0]
    target = np.r_[spec.home, 0.5]
    chunk = np.tile(target, (ctl.policy.cfg.chunk_size, 1))   # the policy wants to stay at home
    q = spec.home.copy()
    pushed = []
    for k in range(60):                  # pushed away at 2 rad/s on shoulder_pan for 0.25 s, then held
        if k < 8:
            q = q + np.r_[2.0 * ctl.dt, 0, 0, 0, 0]
        cmd = _tick(ctl, spec, clock, q, chunk)
        assert cmd is not None and cmd.origin is not None
        np.testing.assert_array_equal(cmd.origin, q)
        assert _within_reach(ctl, cmd) <= 1e-12, (k, cmd.arm, q)
        assert np.all(cmd.arm >= ctl.arm_filter.lower - 1e-12) and np.all(cmd.arm <= ctl.arm_filter.upper + 1e-12)
        pushed.append(cmd)
    assert ctl.active, "a slow push below max_follower_deviation must not stop the policy"
    assert ctl.stats["follower_limited"] > 0 and ctl.stats["replans"] > 0
    # the follower is held 0.53 rad away: the commands lead it back at most at the reach per period
    reach = ctl.p.follower_velocity_fraction * spec.max_velocity[0] * ctl.dt
    assert abs(pushed[-1].arm[0][0] - q[0]) <= reach + 1e-12


def test_a_jumped_follower_holds_where_it_is_and_needs_start(guarded):
    spec, clock, ctl = guarded
    _feed(ctl, spec, clock, spec.home)
    assert ctl.start()[0]
    chunk = np.tile(np.r_[spec.home, 0.5], (ctl.policy.cfg.chunk_size, 1))
    for _ in range(5):
        assert not _tick(ctl, spec, clock, spec.home, chunk).hold
    jumped = spec.home + np.r_[0.0, 0.0, -0.6, 0.0, 0.0]
    cmd = _tick(ctl, spec, clock, jumped, chunk)
    assert cmd.hold and "max_follower_deviation" in cmd.reason and "policy/start" in cmd.reason
    np.testing.assert_allclose(cmd.arm[0], jumped)
    assert not ctl.active and ctl.stats["deviation_stops"] == 1
    assert _tick(ctl, spec, clock, jumped, chunk) is None, "no command after the stop"
    assert ctl.start()[0]
    cmd = _tick(ctl, spec, clock, jumped, chunk)
    assert cmd is not None and not cmd.hold and _within_reach(ctl, cmd) <= 1e-12


def test_a_deviation_of_zero_turns_the_stop_off(tiny_checkpoint):
    spec, clock, ctl = _controller(tiny_checkpoint, max_follower_deviation=0.0)
    try:
        _feed(ctl, spec, clock, spec.home)
        assert ctl.start()[0]
        chunk = np.tile(np.r_[spec.home, 0.5], (ctl.policy.cfg.chunk_size, 1))
        _tick(ctl, spec, clock, spec.home, chunk)
        jumped = spec.home + np.r_[0.0, 0.0, -0.6, 0.0, 0.0]
        cmd = _tick(ctl, spec, clock, jumped, chunk)
        assert ctl.active and not cmd.hold and _within_reach(ctl, cmd) <= 1e-12
    finally:
        ctl.shutdown()


def test_gripper_commands_and_holds_stay_inside_the_gripper_limits(guarded):
    spec, clock, ctl = guarded
    g = spec.gripper
    below = g.lower - 2e-7                       # a servo reading a hair beyond its limit (-0.1750002)
    _feed(ctl, spec, clock, spec.home, grip=below)
    assert ctl.start()[0]
    clock.t += ctl.dt
    ctl.obs.update_image("observation.images.front", np.zeros((48, 64, 3), np.uint8), clock())  # joint states stale
    clock.t += ctl.p.stale_timeout_s
    ctl.obs.update_image("observation.images.front", np.zeros((48, 64, 3), np.uint8), clock())
    hold = ctl.tick()
    assert hold.hold and hold.gripper is not None
    assert g.lower <= hold.gripper <= g.upper, hold.gripper
    # actions beyond both gripper limits: clamped too
    for value in (g.upper + 1.0, g.lower - 1.0):
        chunk = np.tile(np.r_[spec.home, value], (ctl.policy.cfg.chunk_size, 1))
        for _ in range(40):
            cmd = _tick(ctl, spec, clock, spec.home, chunk, grip=below)
            assert cmd.gripper is not None and g.lower <= cmd.gripper <= g.upper, cmd.gripper
    stop = ctl.stop()
    assert stop.hold and g.lower <= stop.gripper <= g.upper
