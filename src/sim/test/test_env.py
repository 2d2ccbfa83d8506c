"""The plain-Python sim: model vs URDF kinematics, tracking, gripper + tactile, cameras, task, expert."""
import mujoco
import numpy as np
import pytest

from robot_common.spec import list_robots
from robot_common.urdf_model import UrdfModel
from sim.config import load_sim_config
from sim.env import SimEnv
from sim.expert import ScriptedExpert, run_episode
from sim.mjcf import build_mjcf
from sim.trajectory import JointTrajectoryGoal, TrajectoryPoint, TrajectoryRejected

TRACKING_BOUND = 0.01     # rad: max |desired - measured| during a 1 s move at ~0.5 rad/s


@pytest.mark.parametrize("robot", list_robots())
def test_mjcf_kinematics_and_limits_match_the_description(robot):
    cfg = load_sim_config(robot)
    spec = cfg.spec
    m = mujoco.MjModel.from_xml_string(build_mjcf(cfg, cameras=[]))
    d = mujoco.MjData(m)
    urdf = UrdfModel.from_file(spec.urdf_path())
    rng = np.random.default_rng(1)
    for q in rng.uniform(spec.lower, spec.upper, size=(10, spec.dof)):
        d.qpos[[m.joint(n).qposadr[0] for n in spec.joint_names]] = q
        mujoco.mj_kinematics(m, d)
        t = urdf.fk(dict(zip(spec.joint_names, q)), spec.tcp_link)
        b = m.body(spec.tcp_link).id
        assert np.allclose(d.xpos[b], t[:3, 3], atol=1e-6)
        assert np.allclose(d.xmat[b].reshape(3, 3), t[:3, :3], atol=1e-5)
    for j in spec.joints:
        assert np.allclose(m.jnt_range[m.joint(j.name).id], [j.lower, j.upper])
        assert np.allclose(m.actuator_forcerange[m.actuator(j.name).id], [-j.max_effort, j.max_effort])


@pytest.mark.parametrize("robot", list_robots())
def test_tracking_error_stays_under_bound(robot):
    env = SimEnv(robot, cameras=[])
    q0 = env.spec.home
    q1 = q0 + np.where(np.arange(env.spec.dof) % 2 == 0, 0.5, -0.3)
    q1 = np.clip(q1, env.spec.lower + 0.05, env.spec.upper - 0.05)
    env.submit_trajectory(JointTrajectoryGoal(env.spec.joint_names, [TrajectoryPoint(q1.tolist(), 1.0)]))
    worst = 0.0
    for _ in range(int(1.5 / env.dt)):
        env.step()
        worst = max(worst, float(np.max(np.abs(env.arm.desired(env.time)[0] - env.arm_state()[0]))))
    assert worst < TRACKING_BOUND, f"{robot}: tracking error {worst:.4f} rad"
    assert np.allclose(env.arm_state()[0], q1, atol=2e-3)


def test_rejected_goal_leaves_the_arm_still():
    env = SimEnv("fr3", cameras=[])
    q = env.spec.home.copy()
    q[3] = 0.5   # fr3_joint4 upper limit is -0.1518
    with pytest.raises(TrajectoryRejected, match="fr3_joint4 is outside its limits"):
        env.submit_trajectory(JointTrajectoryGoal(env.spec.joint_names, [TrajectoryPoint(q.tolist(), 1.0)]))
    env.step_for(0.5)
    assert np.allclose(env.arm_state()[0], env.spec.home, atol=1e-3)


@pytest.mark.parametrize("robot", list_robots())
def test_gripper_closes_on_the_cube_and_fingertips_feel_it(robot):
    env = SimEnv(robot, cameras=[])
    expert = ScriptedExpert(env.cfg)
    pos, quat = env.cube_pose()
    stages = expert.plan(env.arm_state()[0], pos, quat, env.task.target_xy)
    for st in stages[:3]:                     # pregrasp, descend, close
        if st.gripper is not None:
            env.command_gripper(st.gripper)
        if st.q is not None:
            env.submit_trajectory(expert.goal(st))
        env.step_for(st.duration + 0.1)
    touch = env.tactile()
    for name in ("left_finger", "right_finger"):
        assert touch[name].in_contact and touch[name].force[2] > 0.5 and 0 < touch[name].area <= 1, (name, touch[name])
    g = env.spec.gripper
    assert g.closed < env.gripper_position() < g.open    # stopped by the cube, not closed


def test_camera_intrinsics_project_the_cube_onto_red_pixels():
    env = SimEnv("fr3", cameras=["front"])
    w, h = 320, 240
    img = env.render("front", w, h)
    assert img.shape == (h, w, 3) and img.dtype == np.uint8
    k = env.camera_intrinsics("front", w, h)
    cam_pos, cam_rot = env.camera_pose("front")
    cube, _ = env.cube_pose()
    p = cam_rot.T @ (cube - cam_pos)          # optical frame: z forward
    u, v = (k @ (p / p[2]))[:2]
    px = img[int(round(v)), int(round(u))].astype(int)
    assert px[0] > 150 and px[1] < 90 and px[2] < 90, f"pixel at ({u:.1f}, {v:.1f}) is {px}, not the red cube"
    env.close()


def test_reset_is_reproducible_by_seed():
    a, b, c = SimEnv("so101", cameras=[], seed=7), SimEnv("so101", cameras=[], seed=7), SimEnv("so101", cameras=[], seed=8)
    poses = [[e.reset().cube_xy.tolist() for _ in range(3)] for e in (a, b, c)]
    assert poses[0] == poses[1] and poses[0] != poses[2]
    assert np.allclose(a.reset(seed=3).cube_xy, c.reset(seed=3).cube_xy)
    assert np.allclose(a.arm_state()[0], a.spec.home)


@pytest.mark.parametrize("robot", ["fr3", "so101"])
def test_scripted_expert_solves_19_of_20_seeded_episodes(robot):
    env = SimEnv(robot, cameras=[], seed=2024)
    expert = ScriptedExpert(env.cfg)
    results = []
    for _ in range(20):
        env.reset()
        assert not env.task_success()
        results.append(run_episode(env, expert))
    assert sum(results) >= 19, f"{robot}: expert succeeded in {sum(results)}/20"


@pytest.mark.parametrize("robot", list_robots(family="realman"))
def test_scripted_expert_on_the_realman_arms(robot):
    env = SimEnv(robot, cameras=[], seed=11)
    expert = ScriptedExpert(env.cfg, env.model)
    results = []
    for _ in range(3):
        env.reset()
        results.append(run_episode(env, expert))
    assert all(results), f"{robot}: {results}"


def test_contact_mask_and_gel_image_show_the_patch():
    from sim.tactile import TactileReading, render_contact

    pts = np.array([[-0.005, -0.005], [0.005, -0.005], [0.005, 0.005], [-0.005, 0.005]])
    reading = TactileReading(np.array([0.0, 0.0, 10.0]), 0.1, pts, (0.02, 0.05), True)
    mask, img = render_contact(reading, 64, 48)
    assert mask.shape == (48, 64) and img.shape == (48, 64, 3)
    inside = mask > 0
    assert mask[24, 32] == 255 and mask[0, 0] == 0
    assert 0.05 < inside.mean() < 0.2                          # about a 1 x 1 cm patch on a 2 x 5 cm pad
    assert img[inside].mean() > img[~inside].mean()           # pressed gel is brighter
    empty, _ = render_contact(TactileReading(np.zeros(3), 0.0), 64, 48)
    assert not empty.any()
