"""The safety gate without ROS: engage gate, ramp-in, limits, step caps, bad reads."""
import numpy as np
import pytest

from robot_common.spec import load_robot_spec
from teleop.leaders import follower_names
from teleop.safety_gate import ALIGNING, ENGAGED, FAULT, RAMPING, WAITING, SafetyConfig, SafetyGate

SPEC = load_robot_spec("so101")
NAMES = follower_names(SPEC)
DT = 0.002
HOME = np.append(SPEC.home, 0.5)


def gate(**cfg) -> SafetyGate:
    return SafetyGate(SPEC, NAMES, SafetyConfig(**cfg))


def caps(dt=DT):
    return np.append(SPEC.max_velocity, SPEC.gripper.max_velocity) * dt


def test_gate_holds_while_misaligned_and_says_where():
    g = gate(engage_threshold=0.2)
    assert g.step(HOME, None, DT).state == WAITING
    leader = HOME.copy()
    leader[1] += 0.5
    leader[3] -= 0.3
    for _ in range(100):
        tick = g.step(leader, HOME, DT)
        assert tick.command is None and tick.state == ALIGNING
    assert "shoulder_lift +0.500 rad" in tick.status and "wrist_flex -0.300 rad" in tick.status
    assert "elbow_flex" not in tick.status
    leader = HOME + 0.1  # within the threshold: engages, starting exactly at the follower
    tick = g.step(leader, HOME, DT)
    assert tick.state == ENGAGED
    np.testing.assert_allclose(tick.command, HOME)
    tick = g.step(leader, HOME, DT)
    assert np.all(np.abs(tick.command - HOME) <= caps() + 1e-12)


def test_ramp_in_walks_slowly_to_the_leader():
    g = gate(engage_threshold=0.2, ramp_velocity_scale=0.1)
    leader = HOME.copy()
    leader[0] += 1.0
    assert g.step(leader, HOME, DT).state == ALIGNING
    g.request_ramp()
    tick = g.step(leader, HOME, DT)
    assert tick.state == RAMPING and tick.command is None
    prev, n = HOME.copy(), 0
    while tick.state != ENGAGED:
        tick = g.step(leader, prev, DT)  # a follower that keeps up with the command
        assert np.all(np.abs(tick.command - prev) <= 0.1 * caps() + 1e-12)
        prev, n = tick.command, n + 1
    # 0.8 rad at 10 % of 3 rad/s takes ~2.7 s of ticks
    assert n == pytest.approx(0.8 / (0.1 * 3.0 * DT), rel=0.02)


def test_limits_and_step_caps_hold_under_a_jumping_leader():
    g = gate(max_leader_jump=10.0, range_margin=1.0)  # let wild jumps through to the filter
    rng = np.random.default_rng(0)
    g.step(HOME, HOME, DT)
    prev = HOME
    lo = np.append(SPEC.lower, SPEC.gripper.lower)
    hi = np.append(SPEC.upper, SPEC.gripper.upper)
    for _ in range(2000):
        leader = rng.uniform(lo - 0.9, hi + 0.9)
        tick = g.step(leader, prev, DT)  # a follower that keeps up with the command
        assert tick.state == ENGAGED
        assert np.all(tick.command >= lo) and np.all(tick.command <= hi)
        assert np.all(np.abs(tick.command - prev) <= caps() + 1e-12)
        prev = tick.command


@pytest.mark.parametrize("bad", ["nan", "inf", "far", "jump", "error"])
def test_bad_reads_hold_then_disengage(bad):
    g = gate(max_read_failures=5)
    g.step(HOME, HOME, DT)
    held = g.step(HOME + 0.001, HOME, DT).command
    leader = HOME + 0.001
    if bad == "nan":
        leader = leader.copy()
        leader[2] = np.nan
    elif bad == "inf":
        leader = leader.copy()
        leader[4] = np.inf
    elif bad == "far":
        leader = leader.copy()
        leader[0] = SPEC.upper[0] + 2.0
    elif bad == "jump":
        leader = leader + 0.6
    for _ in range(4):
        tick = g.step(None if bad == "error" else leader, HOME, DT, read_error="no status packet")
        assert tick.state == ENGAGED and tick.command is None  # nothing new: the controller holds
        np.testing.assert_array_equal(g.last_command, held)  # the last safe command, unchanged
    tick = g.step(None if bad == "error" else leader, HOME, DT, read_error="no status packet")
    assert tick.state == FAULT and tick.command is None and "5 consecutive" in tick.status
    # good readings again: the gate starts over and only engages when aligned
    far = HOME.copy()
    far[1] += 0.5
    assert g.step(far, HOME, DT).state == ALIGNING
    assert g.step(HOME, HOME, DT).state == ENGAGED


def test_wrong_leader_joint_set_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        SafetyGate(SPEC, NAMES[::-1], SafetyConfig())
    with pytest.raises(ValueError):
        SafetyConfig(velocity_scale=0.0).validate()


def test_follower_moved_externally_is_held_where_it_is_and_regated():
    g = gate(max_follower_deviation=0.3)
    g.step(HOME, HOME, DT)
    g.step(HOME, HOME, DT)
    reset = HOME.copy()
    reset[1] -= 0.45  # e.g. a sim reset moved the follower
    tick = g.step(HOME, reset, DT, follower_age=0.01)
    assert tick.state == ALIGNING and "shoulder_lift -0.450 rad" in tick.status
    np.testing.assert_allclose(tick.command[:5], reset[:5])  # one command: stay where you are
    assert g.step(HOME, reset, DT).command is None           # and nothing until aligned again
    assert g.step(reset, reset, DT).state == ENGAGED
    # an old follower state is not trusted for this check
    g2 = gate()
    g2.step(HOME, HOME, DT)
    assert g2.step(HOME, reset, DT, follower_age=0.3).state == ENGAGED
