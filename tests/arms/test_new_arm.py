"""One arm = one spec: an arm that exists nowhere in the tree (a UR5e-class 6-DoF arm, with
Universal Robots' published DH parameters and UR's own joint names) is added by writing files
into a folder listed in ROBOT_WS_PATH, exactly the files README "Adding an arm" lists, and no
Python. Its description and controllers are generated, the sim builds from them, teleop_node and
policy_node drive it over DDS, and the launch files accept it."""
from __future__ import annotations

import math
import os
import textwrap
import time

import numpy as np
import pytest
import yaml

from robot_common.paths import source_root
from robot_common.spec import list_robots, load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

ARM = "ur5e"
JOINTS = ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"]
# Universal Robots' published (standard, distal) DH parameters of the UR5e, in m and rad
UR5E_DH = dict(a=[0, -0.425, -0.3922, 0, 0, 0], d=[0.1625, 0, 0, 0.1333, 0.0997, 0.0996],
               alpha=[math.pi / 2, 0, 0, math.pi / 2, -math.pi / 2, 0])
HOME = [0.0, -1.3, 1.6, -1.87, -1.5708, 0.0]

# Standard DH rows Rz(q) Tz(d) Tx(a) Rx(alpha) regroup into modified rows
# Rx(alpha_(i-1)) Tx(a_(i-1)) Rz(q_i) Tz(d_i): the spec's table is the same numbers shifted by one.
SPEC = f"""
name: {ARM}
description: UR5e-class 6-DoF arm with a two-finger gripper
family: ur
base_link: {ARM}_base_link
flange_link: {ARM}_flange
tcp_link: {ARM}_tcp
joints:
""" + "".join(f"  - {{name: {j}, lower: {lo}, upper: {hi}, max_velocity: 3.14, max_acceleration: 5.0, max_effort: {e}}}\n"
              for j, lo, hi, e in zip(JOINTS, [-6.28, -6.28, -3.14, -6.28, -6.28, -6.28], [6.28, 6.28, 3.14, 6.28, 6.28, 6.28],
                                      [150, 150, 150, 28, 28, 28])) + f"""
home: {HOME}
kinematics:
  convention: modified_dh
  units: {{length: m, angle: rad}}
  links: [{ARM}_shoulder_link, {ARM}_upper_arm_link, {ARM}_forearm_link, {ARM}_wrist_1_link, {ARM}_wrist_2_link,
          {ARM}_wrist_3_link]
  a: [0, 0, -0.425, -0.3922, 0, 0]
  alpha: [0, pi/2, 0, 0, pi/2, -pi/2]
  d: [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
  flange: {{joint: {ARM}_flange_joint}}
geometry:
  radius: 0.045
  masses: [4.0, 3.7, 8.1, 2.8, 1.4, 1.3, 0.37]
  min_length: 0.05
gripper:
  joint: {ARM}_finger_joint
  mimic_joints: [{ARM}_finger_mimic_joint]
  type: prismatic
  lower: 0.0
  upper: 0.04
  open: 0.04
  closed: 0.0
  max_velocity: 0.1
  max_effort: 40.0
  hand: {{kind: parallel, link: {ARM}_hand, palm_size: [0.04, 0.14, 0.06], palm_z: 0.03, finger_prefix: {ARM}_,
         finger_z: 0.06, tcp_z: 0.13}}
controllers:
  update_rate: 500
hardware:
  real_plugin: ur_robot_driver/URPositionHardwareInterface
  plugin_params: {{robot_ip: $(arg robot_ip)}}
  gripper_in_ros2_control_real: false
  launch_arguments: {{robot_ip: 192.168.56.101}}
"""
SIM = f"""
timestep: 0.002
arm:
  kp: [4500, 4500, 3500, 2000, 2000, 1000]
  kv: [300, 300, 220, 80, 80, 40]
  armature: [0.3, 0.3, 0.3, 0.15, 0.15, 0.15]
  damping: [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
  frictionloss: [0.2, 0.2, 0.2, 0.1, 0.1, 0.1]
  gravity_compensation: true
gripper: {{kp: 800, kv: 20, force_limit: 35, armature: 0.05, left_link: {ARM}_leftfinger, right_link: {ARM}_rightfinger,
          approach_axis: [0, 0, 1], closing_axis: [0, 1, 0]}}
grasp_frame: {{link: {ARM}_tcp, pos: [0, 0, 0]}}
collision_links: [{ARM}_wrist_3_link, {ARM}_hand, {ARM}_leftfinger, {ARM}_rightfinger]
task:
  cube_size: 0.04
  cube_mass: 0.08
  spawn: {{x: [0.40, 0.55], y: [-0.25, -0.05], yaw: [-0.7, 0.7]}}
  target: {{center: [0.45, 0.25], radius: 0.07}}
cameras:
  front: {{pos: [1.4, 0.0, 1.0], lookat: [0.3, 0.0, 0.2], fovy: 60}}
expert: {{hover_height: 0.12, lift_height: 0.15, grasp_depth: 0.0, velocity_scale: 0.35, closing_time: 0.7}}
"""
TELEOP = "/**:\n  ros__parameters:\n    leader:\n      type: topic\n"


def dh_standard(q) -> np.ndarray:
    t = np.eye(4)
    for qi, a, d, al in zip(q, UR5E_DH["a"], UR5E_DH["d"], UR5E_DH["alpha"]):
        c, s, ca, sa = math.cos(qi), math.sin(qi), math.cos(al), math.sin(al)
        t = t @ np.array([[c, -s * ca, s * sa, a * c], [s, c * ca, -c * sa, a * s], [0, sa, ca, d], [0, 0, 0, 1.0]])
    return t


@pytest.fixture(scope="module")
def overlay(tmp_path_factory):
    """The user's folder: the spec, the sim scene and a leader config; nothing in the tree changes."""
    assert ARM not in list_robots()
    root = tmp_path_factory.mktemp("my_arms")
    for rel, text in ((f"config/robots/{ARM}.yaml", SPEC), (f"config/sim/{ARM}.yaml", SIM),
                      (f"config/teleop/topic_{ARM}.yaml", TELEOP)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    old = os.environ.get("ROBOT_WS_PATH")
    os.environ["ROBOT_WS_PATH"] = os.pathsep.join([str(root)] + ([old] if old else []))
    try:
        yield root
    finally:
        if old is None:
            os.environ.pop("ROBOT_WS_PATH")
        else:
            os.environ["ROBOT_WS_PATH"] = old


@pytest.fixture(scope="module")
def generated(overlay):
    """`ros2 run robot_common gen_descriptions ur5e` (the same main) on the user's folder."""
    from robot_common.description import main

    assert main([ARM]) == 0
    return overlay


def test_the_arm_exists_nowhere_in_the_tree():
    for folder in ("config", "urdf", "src", "launch", "docker", "tools"):
        for path in (source_root() / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".yaml", ".xacro", ".xml", ".json"):
                assert ARM not in path.read_text(errors="ignore"), f"{path} mentions {ARM}"


def test_description_and_controllers_are_generated(generated):
    from robot_common.description import main
    from robot_common.urdf_model import UrdfModel, expand_xacro

    overlay = generated
    assert ARM in list_robots()
    urdf, controllers = overlay / f"urdf/{ARM}.urdf.xacro", overlay / f"config/controllers/{ARM}.yaml"
    assert urdf.is_file() and controllers.is_file()
    assert main([ARM, "--check"]) == 0, "regenerating changes nothing"
    spec = load_robot_spec(ARM)
    assert spec.urdf_path() == urdf
    model = UrdfModel(expand_xacro(urdf))
    rng = np.random.default_rng(0)
    for q in rng.uniform(spec.lower, spec.upper, size=(50, spec.dof)):
        pose = model.fk(dict(zip(JOINTS, q)), f"{ARM}_flange")
        ref = dh_standard(q)
        assert np.abs(pose[:3, 3] - ref[:3, 3]).max() < 1e-6 and np.abs(pose[:3, :3] - ref[:3, :3]).max() < 1e-6
    real = UrdfModel(expand_xacro(urdf, hardware="real", robot_ip="10.1.2.3"))
    assert [p.text for p in real.root_element.iter("plugin")] == ["ur_robot_driver/URPositionHardwareInterface"]
    cfg = yaml.safe_load(controllers.read_text())
    assert cfg["/**/arm_controller"]["ros__parameters"]["joints"] == JOINTS
    assert cfg["/**/gripper_controller"]["ros__parameters"]["joints"] == [f"{ARM}_finger_joint"]


def test_the_sim_builds_and_tracks(generated):
    from sim.env import SimEnv
    from sim.trajectory import JointTrajectoryGoal, TrajectoryPoint

    env = SimEnv(ARM, cameras=["front"])
    assert np.allclose(env.arm_state()[0], HOME, atol=1e-3)
    target = np.array(HOME) + np.array([0.3, -0.2, 0.2, 0.2, -0.3, 0.4])
    env.submit_trajectory(JointTrajectoryGoal(JOINTS, [TrajectoryPoint(target.tolist(), 1.5)]))
    env.step_for(2.0)
    assert np.allclose(env.arm_state()[0], target, atol=5e-3)
    assert env.render("front", 64, 48).shape == (48, 64, 3)
    env.close()


@pytest.fixture(scope="module")
def checkpoint(overlay, tmp_path_factory):
    """A tiny policy trained on a synthetic dataset in this arm's joint space (state + object pose)."""
    import torch

    from policy.config import TrainConfig
    from policy.synthetic_dataset import write_dataset
    from policy.train import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("policy")
    ds = write_dataset(root / "ds", episodes=2, frames=30, dim=len(JOINTS) + 1, cameras=(), poses=("object",),
                       joint_names=JOINTS + [f"{ARM}_finger_joint"])
    model = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 32, "n_heads": 2, "dim_feedforward": 64,
             "n_encoder_layers": 1, "n_decoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 8,
             "dropout": 0.0, "optimizer_lr": 2e-3, "optimizer_lr_backbone": 2e-3}
    train(ds, root / "run", model, {}, TrainConfig(steps=10, batch_size=8, log_every=10, save_every=1000, device="cpu"),
          progress=False)
    return root / "run"


@pytest.mark.timeout(600)
def test_teleop_and_policy_drive_it_over_dds(generated, checkpoint, tmp_path):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import joint_state_to_arrays

    overlay = generated
    assert load_robot_spec(ARM).urdf_path().is_relative_to(overlay)
    names = JOINTS + [f"{ARM}_finger_joint"]
    sim = NodeProcess(python_module_cmd("sim.sim_node", "--ros-args", "-p", f"robot:={ARM}", "-p", "cameras:=['']",
                                        "-p", "tactile:=false"), tmp_path / "sim.log")
    nodes = [sim]
    try:
        with ProbeNode("new_arm_probe") as probe:
            states = probe.collect(JointState, "joint_states")
            wait_for(lambda: len(states) > 5, 120, what="sim joint_states\n" + sim.log())
            assert list(states[-1][1].name)[:len(names)] == names    # (+ the mimic finger)
            # teleop: a topic leader the test feeds, in the new arm's joint space
            teleop = NodeProcess(python_module_cmd(
                "teleop.teleop_node", "--ros-args", "--params-file", str(overlay / f"config/teleop/topic_{ARM}.yaml"),
                "-p", f"robot:={ARM}", "-p", "leader.topic:=test_leader", "-p", "rate_hz:=100.0"), tmp_path / "teleop.log")
            nodes.append(teleop)
            engaged = probe.collect(Bool, "teleop_node/engaged")
            leader = probe.node.create_publisher(JointState, "test_leader", 10)
            start = joint_state_to_arrays(states[-1][1], names)[0]
            goal = start.copy()
            goal[:6] += [0.25, -0.15, 0.15, 0.1, -0.2, 0.3]

            def lead(q):
                msg = JointState(name=names, position=[float(v) for v in q])
                msg.header.stamp = probe.node.get_clock().now().to_msg()
                leader.publish(msg)

            t0 = time.monotonic()
            while not (engaged and engaged[-1][1].data):
                assert time.monotonic() - t0 < 120, "teleop never engaged\n" + teleop.log()
                lead(start)
                time.sleep(0.02)
            for k in range(1, 151):          # a 3 s ramp from the follower's pose to the goal
                lead(start + (goal - start) * k / 150)
                time.sleep(0.02)
            deadline = time.monotonic() + 30
            while np.abs(joint_state_to_arrays(states[-1][1], names)[0][:6] - goal[:6]).max() > 0.02:
                assert time.monotonic() < deadline, "the sim arm did not follow the leader\n" + teleop.log()
                lead(goal)
                time.sleep(0.02)
            teleop.stop()
            # the policy node: trajectories in the new arm's joint names, and the arm moves
            trajs = probe.collect(JointTrajectory, "arm_controller/joint_trajectory")
            policy = NodeProcess(python_module_cmd(
                "policy.policy_node", "--ros-args", "-p", f"robot:={ARM}", "-p", f"checkpoint:={checkpoint}",
                "-p", "autostart:=true", "-p", "torch_threads:=1", "-p", "stale_timeout_s:=2.0"), tmp_path / "policy.log")
            nodes.append(policy)
            wait_for(lambda: len(trajs) >= 1, 240, what="a policy trajectory\n" + policy.log())
            q_first = joint_state_to_arrays(states[-1][1], names)[0]
            wait_for(lambda: len(trajs) >= 30, 240, what="30 policy trajectories\n" + policy.log())
            assert all(list(m.joint_names) == JOINTS for _, m in trajs)
            moved = np.abs(joint_state_to_arrays(states[-1][1], names)[0][:6] - q_first[:6]).max()
            assert moved > 1e-3, f"the arm did not move under the policy ({moved:.5f} rad)"
            assert policy.alive and sim.alive, policy.log() + sim.log()
    finally:
        for n in reversed(nodes):
            n.stop()


def test_the_launch_files_take_it(generated):
    """Under the launch model (tests/static), with no launch file edited."""
    from tests.static import launch_model as lm
    from tests.static.launch_check import ROOT, check_evaluation, evaluate

    cases = [("robot_common/bringup.launch.py", {"robot": ARM, "hardware": "mock"}),
             ("robot_common/bringup.launch.py", {"robot": ARM, "hardware": "real", "robot_ip": "10.0.0.2"}),
             ("sim/sim.launch.py", {"robot": ARM, "expert": "true"}),
             ("teleop/teleop.launch.py", {"robot": ARM, "leader_config": f"topic_{ARM}", "leader": "expert"}),
             ("policy/policy.launch.py", {"robot": ARM, "checkpoint": "/tmp/ckpt", "namespace": "left"})]
    for rel, args in cases:
        with lm.installed():
            ev = evaluate(ROOT / "launch" / rel, args)
        assert check_evaluation(ev) == [], (rel, args)
        assert ev.record.processes
    with lm.installed():
        ev = evaluate(ROOT / "launch/robot_common/bringup.launch.py", {"robot": ARM, "hardware": "real"})
    xacro = [p for p in ev.record.processes if p.executable == "robot_state_publisher"][0]
    assert "URPositionHardwareInterface" in xacro.parameters[0]["robot_description"]
    assert sorted(p.arguments[0] for p in ev.record.processes if p.executable == "spawner") == \
        ["arm_controller", "joint_state_broadcaster"]     # the real gripper is not in ros2_control
