"""fr3_driver against franky-sim over the real libfranka protocol (pylibfranka <-> franky-sim on
loopback), through real DDS: tracking in simulated time, joint order, replace semantics, the FR3's
limits enforced by the driver, rejected input, the Franka Hand. The simulator-killed and
missed-deadline cases are in test_fr3_faults.py."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicHermiteSpline

from robot_common.drivers.fr3_limits import DDDQ_MAX, DDQ_MAX, DQ_MAX, Q_MAX, Q_MIN, velocity_bounds
from tests.drivers.fr3_stack import NAMES, SPEC, Fr3Stack, wait_quiet

HOST = "127.0.0.55"


@pytest.fixture(scope="module")
def fr3(tmp_path_factory):
    stack = Fr3Stack(tmp_path_factory.mktemp("fr3"), HOST)
    yield stack
    code = stack.close()
    assert code == 0, f"fr3_driver exited with {code}{stack.log()}"


def home(fr3: Fr3Stack) -> np.ndarray:
    """Back to the spec's home pose (rest-to-rest), then at rest."""
    q = fr3.q()
    if np.abs(q - SPEC.home).max() > 1e-3:
        fr3.send([max(1.0, np.abs(q - SPEC.home).max() / 0.8)], [SPEC.home], [np.zeros(7)])
    return wait_quiet(fr3)


def best_lag_error(t: np.ndarray, q: np.ndarray, ref, t0: float, lag_max: float) -> tuple[float, float]:
    """Max |q(t) - ref(t - lag)| over the trajectory for the best lag in [0, lag_max] (the simulated
    arm's servo lags its command), and that lag."""
    best = (np.inf, 0.0)
    for lag in np.arange(0.0, lag_max + 1e-9, 0.005):
        during = (t - lag >= t0) & (t - lag <= t0 + ref.x[-1])
        err = float(np.abs(q[during] - ref(t[during] - lag - t0)).max())
        best = min(best, (err, float(lag)))
    return best


def test_tracks_a_trajectory_in_simulated_time(fr3):
    q0 = home(fr3)
    # three points with velocities (cubic), starting at a stamped arm time the test knows
    times = np.array([0.6, 1.2, 2.0])
    pos = q0 + np.array([[0.25, -0.2, 0.2, 0.3, -0.3, 0.25, 0.4],
                         [0.45, -0.35, 0.3, 0.45, -0.5, 0.4, 0.7],
                         [0.5, -0.4, 0.35, 0.5, -0.6, 0.45, 0.8]])
    vel = np.array([[0.5, -0.4, 0.3, 0.4, -0.6, 0.45, 0.8], [0.2, -0.15, 0.1, 0.15, -0.25, 0.15, 0.3], np.zeros(7)])
    n, m = len(fr3.js), len(fr3.cmd)
    t0 = fr3.now() + 0.3
    fr3.send(times, pos, vel, start=t0)
    fr3.wait_arm_time(t0 + times[-1] + 0.8)
    t, q, _ = fr3.samples(n)
    tc, qc = fr3.commands(m)
    # the controller's reference: a cubic from the state at arrival (rest at q0) through the points
    ref = CubicHermiteSpline(np.r_[0.0, times], np.vstack([q0, pos]), np.vstack([np.zeros(7), vel]))
    assert np.abs(q[t < t0 - 0.01] - q0).max() < 1e-3, "moved before the trajectory's stamp"
    # what the driver commanded: the reference, one control cycle behind at most
    during = (tc >= t0) & (tc <= t0 + times[-1])
    assert during.sum() > 100           # enough samples to compare (250 Hz are sent; a busy probe may miss some)
    cmd_err = np.abs(qc[during] - ref(tc[during] - t0)).max()
    # what the simulated arm did: franky-sim's PD servo (no velocity feed-forward) lags by kv/kp = 0.1 s
    err, lag = best_lag_error(t, q, ref, t0, 0.15)
    final = np.abs(q[t >= t0 + times[-1] + 0.5] - pos[-1]).max()
    print(f"command vs reference max {cmd_err:.5f} rad; arm vs reference max {err:.4f} rad at lag "
          f"{lag * 1e3:.0f} ms; final {final:.5f} rad")
    assert cmd_err < 2e-3, cmd_err
    assert err < 0.02, (err, lag)
    assert final < 2e-3


def test_joint_order_is_mapped_by_name(fr3):
    q0 = home(fr3)
    goal = q0 + np.array([0.1, -0.05, 0.08, 0.12, -0.1, 0.15, -0.2])
    order = [6, 2, 0, 5, 1, 4, 3]
    fr3.send([1.0], [goal[order]], [np.zeros(7)], names=[NAMES[i] for i in order])
    fr3.settle(1.6)
    q = wait_quiet(fr3)
    np.testing.assert_allclose(q, goal, atol=2e-3)
    msg = fr3.js[-1][1]
    assert list(msg.name) == NAMES + [SPEC.gripper.joint, *SPEC.gripper.mimic_joints]


def test_a_new_trajectory_replaces_the_running_one(fr3):
    q0 = home(fr3)
    a = q0 + np.array([0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    b = q0 + np.array([-0.3, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0])
    n, m = len(fr3.js), len(fr3.cmd)
    t0 = fr3.now() + 0.2
    fr3.send([3.0], [a], [np.zeros(7)], start=t0)
    fr3.wait_arm_time(t0 + 1.0)
    t_switch = fr3.now()
    fr3.send([1.5], [b], [np.zeros(7)])            # zero stamp: replaces on arrival
    fr3.wait_arm_time(t_switch + 2.5)
    t, q, _ = fr3.samples(n)
    tc, qc = fr3.commands(m)
    # the cubic to a would be half way at its midpoint; the command turned back long before a
    assert qc[:, 0].max() < q0[0] + 0.55, qc[:, 0].max()
    assert qc[tc < t_switch, 0].max() > q0[0] + 0.1     # it was on its way to a
    np.testing.assert_allclose(q[-1], b, atol=2e-3)
    # spliced from the state at arrival: the command through the switch keeps every limit (a restart
    # from rest or from the measured state would jump in velocity)
    commanded_motion_within_limits(fr3, m)
    speed = np.abs(np.diff(q, axis=0) / np.diff(t)[:, None]).max(axis=0)
    assert np.all(speed <= DQ_MAX * 1.03), speed


def divided_derivatives(t: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First, second and third derivatives of samples q(t) as divided differences (each is a value of
    the true derivative somewhere in its span, so each is within that derivative's bounds)."""
    d1 = np.diff(q, axis=0) / np.diff(t)[:, None]                 # f'(xi)
    d2 = np.diff(d1, axis=0) / (t[2:] - t[:-2])[:, None]          # f''(xi) / 2
    d3 = np.diff(d2, axis=0) / (t[3:] - t[:-3])[:, None]          # f'''(xi) / 6
    return d1, 2 * d2, 6 * d3


def commanded_motion_within_limits(fr3: Fr3Stack, m: int) -> np.ndarray:
    """Assert the commands since ~/command[m] keep the FR3's limits; returns the peak speeds.

    ~/command holds every 4th millisecond of the 1 kHz command (and skips the robot's extrapolation
    of a lost packet), so its divided differences bound the derivatives to within 2 %; the exact
    per-millisecond check of every command is test_fr3_command_rules.py's."""
    tc, qc = fr3.commands(m)
    assert np.all(np.diff(tc) > 0)
    v, a, j = divided_derivatives(tc, qc)
    lo, up = zip(*(velocity_bounds(x) for x in qc[:-1]))
    tol = 0.02
    assert np.all(v >= np.array(lo) * (1 + tol) - 1e-6) and np.all(v <= np.array(up) * (1 + tol) + 1e-6), \
        "velocity limits"
    assert np.abs(a).max() <= DDQ_MAX[0] * (1 + tol), np.abs(a).max()
    assert np.abs(j).max() <= DDDQ_MAX[0] * (1 + tol), np.abs(j).max()
    assert np.all(qc >= Q_MIN) and np.all(qc <= Q_MAX)
    return np.abs(v).max(axis=0)


def test_the_driver_enforces_the_fr3_limits(fr3):
    q0 = home(fr3)
    # joint 1 by 1.2 rad in 50 ms (24 rad/s asked, 2.62 allowed), all else still
    goal = q0.copy()
    goal[0] += 1.2
    n, m = len(fr3.js), len(fr3.cmd)
    t0 = fr3.now()
    fr3.send([0.05], [goal])
    fr3.wait_arm_time(t0 + 1.5)
    np.testing.assert_allclose(wait_quiet(fr3), goal, atol=2e-3)
    peak = commanded_motion_within_limits(fr3, m)
    print(f"peak commanded joint speeds {np.round(peak, 3)} (limits {DQ_MAX})")
    assert peak[0] > 0.99 * DQ_MAX[0], peak        # as fast as the limit allows, and no faster
    t, q, _ = fr3.samples(n)
    measured = np.abs(np.diff(q, axis=0) / np.diff(t)[:, None]).max(axis=0)
    assert np.all(measured <= DQ_MAX * 1.03), measured
    arrive = t[np.argmax(np.all(np.abs(q - goal) < 5e-3, axis=1))] - t0
    assert arrive > 1.2 / DQ_MAX[0], arrive
    # joint 4 fast to 2 cm from its upper limit, where the FR3's velocity limit falls to ~0.15 rad/s,
    # and joint 6 towards its lower limit: the position-dependent limits hold all the way
    near = goal.copy()
    near[3], near[5] = Q_MAX[3] - 0.02, Q_MIN[5] + 0.03
    m = len(fr3.cmd)
    t0 = fr3.now()
    fr3.send([0.1], [near])
    fr3.wait_arm_time(t0 + 3.0)
    np.testing.assert_allclose(wait_quiet(fr3), near, atol=3e-3)
    commanded_motion_within_limits(fr3, m)
    assert fr3.texts()[-1].startswith("running"), fr3.texts()[-1]


@pytest.mark.parametrize("case", ["nan", "unknown_joint", "missing_joint", "outside_limits", "stale", "times"])
def test_bad_input_is_rejected_and_the_arm_holds(fr3, case):
    q0 = home(fr3)
    goal = q0 + 0.3
    names = list(NAMES)
    times = [1.0]
    start = None
    if case == "nan":
        goal[3] = float("nan")
    elif case == "unknown_joint":
        names[2] = "fr3_joint9"
    elif case == "missing_joint":
        names, goal = names[:6], goal[:6]
    elif case == "outside_limits":
        goal[0] = SPEC.upper[0] + 0.1
    elif case == "stale":
        start = fr3.now() - 5.0                   # stamped 5 s ago, ended 4 s ago
    elif case == "times":
        times, goal = [1.0, 0.5], np.vstack([goal, goal])
    before = fr3.driver.log().count("trajectory rejected")
    fr3.send(times, np.atleast_2d(goal), names=names, start=start)
    fr3.settle(0.8)
    assert fr3.driver.log().count("trajectory rejected") == before + 1, fr3.driver.log()[-2000:]
    np.testing.assert_allclose(fr3.q(), q0, atol=1e-3)
    # the driver still takes good trajectories
    fr3.send([0.5], [q0 + 0.02], [np.zeros(7)])
    fr3.settle(1.0)
    np.testing.assert_allclose(wait_quiet(fr3), q0 + 0.02, atol=2e-3)


def test_the_franka_hand_follows_position_commands(fr3):
    fr3.gripper(0.01)
    fr3.settle(1.5)
    n = len(fr3.js)
    fr3.settle(0.2)
    _, _, g = fr3.samples(n)
    assert abs(g[-1] - 0.01) < 2e-3, g[-1]
    msg = fr3.js[-1][1]
    assert msg.position[-1] == msg.position[-2]     # the mimic finger
    before = fr3.driver.log().count("gripper command rejected")
    fr3.gripper(0.2)                                 # outside [0, 0.04]
    fr3.gripper(0.01, 0.02)                          # two values
    fr3.gripper(float("nan"))
    fr3.settle(0.5)
    assert fr3.driver.log().count("gripper command rejected") == before + 3
    fr3.gripper(SPEC.gripper.open)
    fr3.settle(1.5)
    n = len(fr3.js)
    fr3.settle(0.2)
    _, _, g = fr3.samples(n)
    assert abs(g[-1] - SPEC.gripper.open) < 2e-3, g[-1]
