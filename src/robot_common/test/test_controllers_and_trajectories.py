import numpy as np
import pytest
import yaml

from robot_common.conversions import make_trajectory
from robot_common.paths import source_root
from robot_common.spec import ROBOTS, load_robot_spec
from robot_common.trajectory_check import TrajectoryRejected, check_trajectory


@pytest.mark.parametrize("robot", ROBOTS)
def test_controller_config_matches_robot(robot):
    spec = load_robot_spec(robot)
    cfg = yaml.safe_load((source_root() / "config" / "controllers" / f"{robot}.yaml").read_text())
    cm = cfg["controller_manager"]["ros__parameters"]
    assert cm["update_rate"] == spec.controllers["update_rate"]
    assert cm["arm_controller"]["type"] == "joint_trajectory_controller/JointTrajectoryController"
    assert cm["gripper_controller"]["type"] == "position_controllers/JointGroupPositionController"
    assert cm["joint_state_broadcaster"]["type"] == "joint_state_broadcaster/JointStateBroadcaster"
    arm = cfg["arm_controller"]["ros__parameters"]
    assert arm["joints"] == spec.joint_names
    assert arm["command_interfaces"] == ["position"]
    assert arm["state_interfaces"] == ["position", "velocity"]
    assert set(arm["constraints"]) >= set(spec.joint_names) | {"goal_time", "stopped_velocity_tolerance"}
    assert cfg["gripper_controller"]["ros__parameters"]["joints"] == [spec.gripper.joint]


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
        (lambda s: traj(s, [s.home[:4]], [0.1], names=s.joint_names[:4]), "missing joints \\['wrist_roll'\\]"),
        (lambda s: traj(s, np.zeros((0, 5)), []), "no points"),
        (lambda s: traj(s, [s.home, s.home], [0.2, 0.2]), "increase strictly: point 1"),
        (lambda s: traj(s, [np.r_[s.home[:2], np.nan, s.home[3:]]], [0.1]), "non-finite positions for \\['elbow_flex'\\]"),
        (lambda s: traj(s, [np.r_[3.0, s.home[1:]]], [0.1]), "outside the joint limits: shoulder_pan=3.0000"),
    ],
)
def test_bad_trajectories_are_rejected_with_reason(spec, mutate, message):
    with pytest.raises(TrajectoryRejected, match=message):
        check_trajectory(mutate(spec), spec)
