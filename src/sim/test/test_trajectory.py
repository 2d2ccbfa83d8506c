"""JTC topic semantics without ROS: validation rules, splicing, interpolation by fields given."""
import numpy as np
import pytest

from sim.controllers import ArmTrajectoryController, GripperCommandError, GripperController
from sim.trajectory import JointTrajectoryGoal, TrajectoryPoint, TrajectoryRejected, interpolate, validate_goal

NAMES = ["a", "b"]
LO, HI = np.array([-1.0, -2.0]), np.array([1.0, 2.0])
STATE = (np.zeros(2), np.zeros(2), np.zeros(2))


def goal(points, names=NAMES, stamp=0.0):
    return JointTrajectoryGoal(names, [TrajectoryPoint(*p) for p in points], stamp)


@pytest.mark.parametrize("g, match", [
    (goal([([0.1, 0.2], 1.0)], names=["a", "x"]), r"unknown joints \['x'\]"),
    (goal([([0.1], 1.0)], names=["a"]), r"joints \['b'\] missing"),
    (goal([([0.1, 0.1], 1.0)], names=["a", "a"]), "duplicate joint names"),
    (goal([]), "empty trajectory"),
    (goal([([0.1, 0.1], 1.0), ([0.2, 0.2], 1.0)]), "strictly increasing: point 1 at 1 s follows 1 s"),
    (goal([([0.1, 0.1], 1.0), ([0.2, 0.2], 0.5)]), "strictly increasing"),
    (goal([([0.1, float("nan")], 1.0)]), "non-finite position for joint b"),
    (goal([([0.1, 2.5], 1.0)]), r"position 2.5 of b is outside its limits \[-2, 2\]"),
    (goal([([0.1, 0.2, 0.3], 1.0)]), "positions has 3 values for 2 joints"),
    (goal([([0.1, 0.2], 1.0, [0.0])]), "velocities has 1 values"),
    (goal([([0.1, 0.2], 1.0, [0.5, 0.0])]), "final velocity must be zero"),
    (goal([([0.1, 0.2], 1.0)], stamp=3.0), "trajectory ends in the past"),
])
def test_rejections_name_the_rule(g, match):
    ctrl = ArmTrajectoryController(NAMES, LO, HI)
    ctrl.reset(np.zeros(2))
    with pytest.raises(TrajectoryRejected, match=match):
        ctrl.submit(g, now=5.0, q=np.zeros(2), qd=np.zeros(2))
    assert ctrl.active is None and ctrl.rejected == 1
    assert np.allclose(ctrl.desired(5.5)[0], 0.0)      # nothing moves


def test_joint_order_is_taken_from_the_message():
    t = validate_goal(goal([([0.2, 0.1], 1.0)], names=["b", "a"]), NAMES, LO, HI, 0.0, STATE)
    assert np.allclose(t.sample(1.0)[0], [0.1, 0.2])


def test_linear_when_positions_only_splices_from_current_state():
    start = (np.array([0.5, -0.5]), np.zeros(2), np.zeros(2))
    t = validate_goal(goal([([0.0, 0.0], 1.0), ([0.5, 1.0], 2.0)]), NAMES, LO, HI, 10.0, start)
    assert np.allclose(t.sample(10.0)[0], [0.5, -0.5])        # starts where the arm is
    assert np.allclose(t.sample(10.5)[0], [0.25, -0.25])      # linear to the first point
    q, qd = t.sample(11.5)
    assert np.allclose(q, [0.25, 0.5]) and np.allclose(qd, [0.5, 1.0])
    assert np.allclose(t.sample(99.0)[0], [0.5, 1.0]) and t.done(12.0)


def test_cubic_and_quintic_meet_their_boundary_conditions():
    pa, va, aa = np.array([0.0]), np.array([0.3]), np.array([0.2])
    pb, vb, ab = np.array([1.0]), np.array([-0.1]), np.array([0.4])
    for has_acc in (False, True):
        p0, v0 = interpolate(pa, va, aa, pb, vb, ab, 2.0, 0.0, True, has_acc)
        p1, v1 = interpolate(pa, va, aa, pb, vb, ab, 2.0, 2.0, True, has_acc)
        assert np.allclose([p0, v0, p1, v1], [pa, va, pb, vb])
    # quintic: acceleration at the ends by finite differences
    eps = 1e-5
    acc0 = (interpolate(pa, va, aa, pb, vb, ab, 2.0, eps, True, True)[1] - va) / eps
    acc1 = (vb - interpolate(pa, va, aa, pb, vb, ab, 2.0, 2.0 - eps, True, True)[1]) / eps
    assert acc0 == pytest.approx(aa, abs=1e-3) and acc1 == pytest.approx(ab, abs=1e-3)


def test_first_point_at_zero_is_a_jump_and_future_stamp_holds():
    t = validate_goal(goal([([0.3, 0.3], 0.0), ([0.5, 0.5], 1.0)]), NAMES, LO, HI, 0.0, STATE)
    assert np.allclose(t.sample(0.0)[0], [0.3, 0.3])
    t = validate_goal(goal([([0.3, 0.3], 1.0)], stamp=5.0), NAMES, LO, HI, 2.0, STATE)
    assert np.allclose(t.sample(4.0)[0], 0.0) and np.allclose(t.sample(6.0)[0], 0.3)


def test_new_goal_replaces_the_running_one():
    ctrl = ArmTrajectoryController(NAMES, LO, HI)
    ctrl.reset(np.zeros(2))
    ctrl.submit(goal([([1.0, 1.0], 2.0)]), 0.0, np.zeros(2), np.zeros(2))
    q_mid = ctrl.desired(1.0)[0]
    ctrl.submit(goal([([-0.5, -0.5], 1.0)]), 1.0, q_mid, np.zeros(2))
    assert np.allclose(ctrl.desired(1.0)[0], q_mid)          # no jump at the splice
    assert np.allclose(ctrl.desired(2.5)[0], [-0.5, -0.5])   # the old goal is gone
    assert not ctrl.busy(2.5)


def test_gripper_checks_and_slews():
    g = GripperController(0.0, 0.04, 0.1, 0.04)
    for bad, match in (([0.01, 0.02], "exactly 1 value"), ([float("nan")], "not finite"), ([0.05], "outside its limits")):
        with pytest.raises(GripperCommandError, match=match):
            g.command(bad)
    assert g.target == 0.04
    g.command([0.0])
    assert g.update(0.1) == pytest.approx(0.03)              # 0.1 m/s
    for _ in range(10):
        g.update(0.1)
    assert g.setpoint == pytest.approx(0.0)


def test_the_rules_and_their_exception_are_robot_commons():
    import robot_common.trajectory_check as rc

    assert TrajectoryRejected is rc.TrajectoryRejected
    with pytest.raises(TrajectoryRejected, match="non-finite velocity for joint a"):   # sim-only: all or none
        validate_goal(goal([([0.1, 0.2], 0.5, [float("inf"), 0.0]), ([0.1, 0.2], 1.0, [0.0, 0.0])]),
                      NAMES, LO, HI, 0.0, STATE)
