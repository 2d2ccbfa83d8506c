"""The FR3's command rules as the driver models them, and the command generator the 1 kHz loop runs
(Fr3Commander, exactly the loop's code), every millisecond checked: no robot, no simulator needed.

A real FR3 aborts a motion when the commanded joint positions, differentiated at its 1 kHz clock,
break a limit; franky-sim checks nothing, so these rules are the driver's, and these tests are what
makes them trustworthy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicHermiteSpline

from robot_common.drivers.fr3_commander import Fr3Commander
from robot_common.drivers.fr3_limits import (
    CYCLE,
    DDDQ_MAX,
    DDQ_MAX,
    DQ_MAX,
    Q_MAX,
    Q_MIN,
    FciCommandSignal,
    velocity_bounds,
)
from robot_common.drivers.motion import HoldReference, JtcReference, MotionState
from robot_common.spec import load_robot_spec

SPEC = load_robot_spec("fr3")
HOME = SPEC.home


def test_the_published_limits_match_the_spec():
    np.testing.assert_allclose(Q_MIN, SPEC.lower)
    np.testing.assert_allclose(Q_MAX, SPEC.upper)
    np.testing.assert_allclose(DQ_MAX, SPEC.max_velocity)
    np.testing.assert_allclose(DDQ_MAX, SPEC.max_acceleration)


def test_position_dependent_velocity_limits():
    lo, up = velocity_bounds(HOME)
    np.testing.assert_allclose(up, DQ_MAX)   # at home every joint may move at full speed upwards
    # joint 6 at pi/2 towards its lower limit 0.5445: -(sqrt(11 (q - 0.54092)) - 0.35)
    assert lo[5] == pytest.approx(-(np.sqrt(11 * (HOME[5] - 0.54092)) - 0.35))
    # at (or past) a limit there is no speed left towards it, full speed away from it
    # (the published curves reach zero within 5 mrad of the position limits)
    lo, up = velocity_bounds(Q_MAX)
    assert np.all(up < 5e-3) and np.allclose(lo, -DQ_MAX)
    lo, up = velocity_bounds(Q_MIN)
    assert np.all(lo > -5e-3) and np.allclose(up, DQ_MAX)
    # joint 4, 2 cm below its upper limit -0.1518: -0.3 + sqrt(8 (-0.1458 - q))
    q = HOME.copy()
    q[3] = Q_MAX[3] - 0.02
    assert velocity_bounds(q)[1][3] == pytest.approx(-0.3 + np.sqrt(8 * (-0.1458 - q[3])))


@pytest.mark.parametrize("step, reflex", [
    (8e-6, "joint_motion_generator_acceleration_discontinuity"),   # from rest: 8 rad/s^2 at once, jerk 8000
    (2e-3, "joint_motion_generator_velocity_discontinuity"),       # 2 rad/s at once: 2000 rad/s^2
    (5e-3, "joint_motion_generator_velocity_limits_violation"),    # 5 rad/s on joint 1 (2.62 allowed)
])
def test_the_signal_names_the_reflex_a_jump_raises(step, reflex):
    sig = FciCommandSignal(HOME, SPEC.joint_names)
    x = HOME.copy()
    x[0] += step
    bad = sig.check(x)
    assert bad is not None and bad.reflex == reflex, bad
    assert "fr3_joint1" in bad.detail
    assert sig.accept(x) is not None and np.array_equal(sig.position, HOME)   # not taken


def test_the_limiter_keeps_any_command_legal_and_leaves_legal_ones_alone():
    """The limiter is the last line of defence, not a planner (asked for a step every millisecond it
    swings about the target, as libfranka's limitRate does; it takes the velocity bound at the last
    command, so a swing deep into a falling position-dependent bound can still break it): for the
    small corrections the commander may need, what it returns passes the robot's checks."""
    rng = np.random.default_rng(0)
    sig = FciCommandSignal(HOME, SPEC.joint_names)
    for k in range(3000):
        target = HOME + 0.05 if k < 1500 else HOME + rng.uniform(-0.02, 0.02, 7)   # a step, then noise
        assert sig.accept(sig.limit(target)) is None
    assert sig.limited > 2000
    rest = FciCommandSignal(HOME, SPEC.joint_names)
    y = HOME + 1e-10        # 0.1 mrad/s from rest: within every limit
    assert np.array_equal(rest.limit(y), y) and rest.limited == 0


def test_a_position_beyond_the_limits_is_refused():
    sig = FciCommandSignal(Q_MAX - 1e-5, SPEC.joint_names)
    bad = sig.check(Q_MAX + 1e-4)
    assert bad is not None and bad.reflex == "joint_motion_generator_position_limits_violation"


def test_twenty_lost_packets_in_a_row_abort():
    cmdr = Fr3Commander(HOME, SPEC.joint_names)
    hold = HoldReference(HOME)
    _, bad = cmdr.cycle(hold, 0.001, lost=19)
    assert bad is None
    _, bad = cmdr.cycle(hold, 0.030, lost=20)
    assert bad is not None and bad.reflex == "communication_constraints_violation"


def run(cmdr: Fr3Commander, reference, t0: float, seconds: float, rng=None, losses=(0,)):
    """Drive the commander like the loop (with random lost packets); every command is checked."""
    t, out = t0, []
    while t < t0 + seconds:
        lost = int(rng.choice(losses)) if rng is not None else 0
        t = round(t + (lost + 1) * CYCLE, 6)
        x, bad = cmdr.cycle(reference, t, lost)
        assert bad is None, (t, bad)
        out.append((t, x))
    return np.array([a for a, _ in out]), np.array([b for _, b in out])


def test_a_feasible_trajectory_is_commanded_exactly():
    cmdr = Fr3Commander(HOME, SPEC.joint_names)
    times = np.array([0.6, 1.2, 2.0])
    pos = HOME + np.array([[0.25, -0.2, 0.2, 0.3, -0.3, 0.25, 0.4], [0.45, -0.35, 0.3, 0.45, -0.5, 0.4, 0.7],
                           [0.5, -0.4, 0.35, 0.5, -0.6, 0.45, 0.8]])
    vel = np.array([[0.5, -0.4, 0.3, 0.4, -0.6, 0.45, 0.8], [0.2, -0.15, 0.1, 0.15, -0.25, 0.15, 0.3], np.zeros(7)])
    ref = JtcReference(0.0, times, pos, vel, None, cmdr.state)
    t, x = run(cmdr, ref, 0.0, 2.5)
    cubic = CubicHermiteSpline(np.r_[0.0, times], np.vstack([HOME, pos]), np.vstack([np.zeros(7), vel]))
    err = np.abs(x - cubic(np.minimum(t, 2.0))).max()
    assert err < 5e-4, err          # (the cubic's acceleration steps at the knots take ruckig ~1 ms)
    np.testing.assert_allclose(x[-1], pos[-1], atol=1e-9)
    assert cmdr.signal.limited == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_goals_with_lost_packets_never_break_a_rule(seed):
    """Goals anywhere in the workspace, some asked 10x faster than the limits allow, some near the
    joint limits (where the velocity limits fall), with packets lost now and then: every command the
    loop would send passes the robot's checks (run() asserts it), and every goal is reached."""
    rng = np.random.default_rng(seed)
    cmdr = Fr3Commander(HOME, SPEC.joint_names)
    t = 0.0
    for _ in range(6):
        goal = np.clip(HOME + rng.uniform(-1.2, 1.2, 7), Q_MIN + 0.01, Q_MAX - 0.01)
        duration = float(rng.choice([0.05, 0.5, 1.5]))
        vel = None if rng.random() < 0.5 else np.zeros((1, 7))
        ref = JtcReference(t, np.array([duration]), goal[None], vel, None, cmdr.state)
        ts, x = run(cmdr, ref, t, 3.0, rng, losses=[0] * 40 + [1, 1, 2])
        t = ts[-1]
        np.testing.assert_allclose(x[-1], goal, atol=1e-6)
    assert cmdr.lost > 0


def test_a_jump_is_smoothed_within_the_limits():
    """A one-point trajectory at time 0 (a jump, JTC semantics) far away: the command gets there as
    fast as the limits allow, and no faster."""
    cmdr = Fr3Commander(HOME, SPEC.joint_names)
    goal = HOME.copy()
    goal[0] += 1.0
    ref = JtcReference(0.0, np.array([0.0]), goal[None], None, None, MotionState(HOME, np.zeros(7), np.zeros(7)))
    t, x = run(cmdr, ref, 0.0, 1.5)
    v = np.diff(x[:, 0]) / CYCLE
    # full speed, less the generator's margins (5 mrad/s, and room for 2 lost packets: 20 mrad/s)
    assert DQ_MAX[0] - 0.03 < v.max() <= DQ_MAX[0]
    a = np.diff(v) / CYCLE
    assert np.abs(a).max() <= DDQ_MAX[0] and np.abs(np.diff(a) / CYCLE).max() <= DDDQ_MAX[0]
    np.testing.assert_allclose(x[-1], goal, atol=1e-9)
