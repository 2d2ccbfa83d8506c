import numpy as np
import pytest
import yaml

from robot_common.conversions import make_trajectory
from robot_common.paths import source_root
from robot_common.spec import list_robots, load_robot_spec
from robot_common.trajectory_check import TrajectoryRejected, check_trajectory, check_trajectory_data


@pytest.mark.parametrize("robot", list_robots())
def test_controller_config_matches_robot(robot):
    spec = load_robot_spec(robot)
    cfg = yaml.safe_load((source_root() / "config" / "controllers" / f"{robot}.yaml").read_text())
    cm = cfg["/**/controller_manager"]["ros__parameters"]
    assert cm["update_rate"] == spec.controllers["update_rate"]
    assert cm["arm_controller"]["type"] == "joint_trajectory_controller/JointTrajectoryController"
    assert cm["gripper_controller"]["type"] == "position_controllers/JointGroupPositionController"
    assert cm["joint_state_broadcaster"]["type"] == "joint_state_broadcaster/JointStateBroadcaster"
    arm = cfg["/**/arm_controller"]["ros__parameters"]
    assert arm["joints"] == spec.joint_names
    assert arm["command_interfaces"] == ["position"]
    assert arm["state_interfaces"] == ["position", "velocity"]
    assert set(arm["constraints"]) >= set(spec.joint_names) | {"goal_time", "stopped_velocity_tolerance"}
    assert cfg["/**/gripper_controller"]["ros__parameters"]["joints"] == [spec.gripper.joint]


@pytest.fixture
def spec():
    return load_robot_spec("so101")


def traj(spec, positions, times, names=None):
    return make_trajectory(names or spec.joint_names, np.asarray(positions, dtype=float), times)


def test_valid_trajectory_passes(spec):
    check_trajectory(traj(spec, [spec.home, spec.home * 0.5], [0.1, 0.2]), spec)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: traj(s, [s.home], [0.1], names=s.joint_names[:-1] + ["elbow"]), "unknown joints \\['elbow'\\]"),
        (lambda s: traj(s, [s.home[:4]], [0.1], names=s.joint_names[:4]), "joints \\['wrist_roll'\\] missing"),
        (lambda s: traj(s, np.zeros((0, 5)), []), "no points"),
        (lambda s: traj(s, [s.home, s.home], [0.2, 0.2]), "strictly increasing: point 1"),
        (lambda s: traj(s, [np.r_[s.home[:2], np.nan, s.home[3:]]], [0.1]), "non-finite position for joint elbow_flex"),
        (lambda s: traj(s, [np.r_[3.0, s.home[1:]]], [0.1]), "position 3 of shoulder_pan is outside its limits"),
    ],
)
def test_bad_trajectories_are_rejected_with_reason(spec, mutate, message):
    with pytest.raises(TrajectoryRejected, match=message):
        check_trajectory(mutate(spec), spec)


def test_checked_trajectory_is_in_controller_order_and_partial_goals_keep_their_joints():
    names, lo, hi = ["a", "b", "c"], np.full(3, -1.0), np.full(3, 1.0)
    t = check_trajectory_data(["c", "a"], [0.5], [[0.3, 0.1]], [[]], [[]], names, lo, hi, allow_partial=True)
    assert t.joint_indices.tolist() == [0, 2] and t.positions.tolist() == [[0.1, 0.3]]
    assert t.velocities is None and t.accelerations is None
    with pytest.raises(TrajectoryRejected, match=r"position -2 of c is outside its limits"):
        check_trajectory_data(["c", "a"], [0.5], [[-2.0, 0.1]], [[]], [[]], names, lo, hi, allow_partial=True)


def test_velocities_in_some_points_only_unless_uniform_fields():
    args = (["a"], [0.5, 1.0], [[0.1], [0.2]], [[0.3], []], [[], []], ["a"], np.array([-1.0]), np.array([1.0]))
    t = check_trajectory_data(*args)                              # JTC checks each point on its own
    assert t.velocities[0, 0] == 0.3 and np.isnan(t.velocities[1, 0])
    with pytest.raises(TrajectoryRejected, match="point 1: velocities has 0 values for 1 joints"):
        check_trajectory_data(*args, uniform_fields=True)
    with pytest.raises(TrajectoryRejected, match="final velocity must be zero"):
        check_trajectory_data(["a"], [0.5], [[0.1]], [[0.3]], [[]], ["a"], np.array([-1.0]), np.array([1.0]),
                              allow_nonzero_velocity_at_trajectory_end=False)

