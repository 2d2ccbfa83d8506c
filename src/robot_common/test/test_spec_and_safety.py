import numpy as np
import pytest
import yaml

from robot_common.safety import JointSafetyFilter, UnsafeCommandError, min_duration
from robot_common.spec import RobotSpecError, list_robots, load_robot_spec


@pytest.mark.parametrize("robot", list_robots())
def test_every_robot_spec_loads(robot):
    spec = load_robot_spec(robot)
    assert spec.name == robot
    assert spec.dof == len(spec.home) >= 5
    assert np.all(spec.lower < spec.upper)
    assert spec.arm_controller == "arm_controller" and spec.gripper_controller == "gripper_controller"
    assert spec.urdf_path().exists()


def test_unknown_robot_lists_known():
    with pytest.raises(RobotSpecError, match="known robots: .*fr3"):
        load_robot_spec("ur5")


def test_inconsistent_yaml_is_rejected(tmp_path):
    data = yaml.safe_load(open(load_robot_spec("so101").source))
    data["home"] = [0.0] * 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(RobotSpecError, match="home has 4 values for 5 joints"):
        load_robot_spec(bad)
    data["home"] = [5.0, 0, 0, 0, 0]
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(RobotSpecError, match="outside the limits.*shoulder_pan"):
        load_robot_spec(bad)


def test_gripper_normalization_round_trip():
    g = load_robot_spec("fr3").gripper
    assert g.from_normalized(0.0) == g.closed and g.from_normalized(1.0) == g.open
    assert g.to_normalized(g.from_normalized(0.3)) == pytest.approx(0.3)
    assert g.from_normalized(7.0) == g.open  # clipped


def test_filter_rejects_nan_and_wrong_size():
    f = JointSafetyFilter.from_spec(load_robot_spec("fr3"))
    q = load_robot_spec("fr3").home.copy()
    q[3] = np.nan
    with pytest.raises(UnsafeCommandError, match="fr3_joint4"):
        f.filter(q, None, 0.01)
    with pytest.raises(UnsafeCommandError, match="expected 7"):
        f.filter(q[:5], None, 0.01)


def test_filter_clamps_and_caps_steps():
    spec = load_robot_spec("fr3")
    f = JointSafetyFilter.from_spec(spec, velocity_scale=0.5)
    prev = spec.home.copy()
    target = prev + 10.0  # far outside the limits and far away
    res = f.filter(target, prev, dt=0.002)
    step = np.abs(res.command - prev)
    assert np.all(step <= spec.max_velocity * 0.5 * 0.002 + 1e-12)
    assert set(res.rate_limited) == set(spec.joint_names)
    # repeated filtering converges to the limit, never beyond
    q = prev
    for _ in range(5000):
        q = f.filter(target, q, dt=0.002).command
    assert np.allclose(q, spec.upper)
    assert f.out_of_limits(q) == {}


def test_misalignment_reports_joints_and_offsets():
    spec = load_robot_spec("so101")
    f = JointSafetyFilter.from_spec(spec)
    a = spec.home.copy()
    b = a.copy()
    b[2] += 0.9
    assert f.misalignment(a, b, 0.5) == {"elbow_flex": pytest.approx(-0.9)}


def test_min_duration_profiles():
    v, a = np.array([1.0]), np.array([2.0])
    assert min_duration(np.array([0.1]), v, a) == pytest.approx(2 * np.sqrt(0.1 / 2))  # triangular
    assert min_duration(np.array([2.0]), v, a) == pytest.approx(2.0 + 0.5)  # trapezoidal
