"""sim_node and the expert over real DDS: joint_states, JTC semantics, rejections, cameras, reset, expert."""
import time

import numpy as np
import pytest

from robot_common.conversions import image_to_numpy, joint_state_to_arrays, make_trajectory
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

ROBOT = "so101"
W, H = 160, 120
TRACKING_BOUND = 0.02   # rad between the commanded path and /joint_states (includes DDS latency)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp("sim") / "sim_node.log"
    proc = NodeProcess(python_module_cmd(
        "sim.sim_node", "--ros-args", "-p", f"robot:={ROBOT}", "-p", "cameras:=[front]",
        "-p", f"image_width:={W}", "-p", f"image_height:={H}", "-p", "camera_rate:=10.0", "-p", "seed:=5",
        "-p", "tactile_rate:=10.0"), log)
    probe = ProbeNode("sim_test_probe")
    from sensor_msgs.msg import JointState

    probe.js = probe.collect(JointState, "/joint_states")
    try:
        wait_for(lambda: len(probe.js) > 5, 60, what=f"/joint_states from sim_node (log: {log})")
        yield proc, probe
    finally:
        probe.close()
        proc.stop()


def positions(probe, spec):
    return joint_state_to_arrays(probe.js[-1][1], spec.joint_names)[0]


def reset(probe):
    from std_srvs.srv import Trigger

    res = probe.call(Trigger, "/sim/reset", timeout=30)
    assert res.success, res.message
    time.sleep(0.3)
    return res.message


def publisher(probe, cache={}):  # noqa: B006 - one publisher per probe
    from trajectory_msgs.msg import JointTrajectory

    if "traj" not in cache:
        cache["traj"] = probe.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", 10)
        wait_for(lambda: cache["traj"].get_subscription_count() > 0, 20, what="sim subscription")
    return cache["traj"]


def test_joint_states_rate_and_names(sim):
    _, probe = sim
    spec = load_robot_spec(ROBOT)
    n0 = len(probe.js)
    wait_for(lambda: len(probe.js) > n0 + 50, 30, what="50 more joint_states")
    msg = probe.js[-1][1]
    assert list(msg.name) == spec.joint_names + [spec.gripper.joint]
    assert len(msg.velocity) == len(msg.name) == len(msg.effort)
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in probe.js[n0:]])
    gaps = np.diff(stamps)
    assert np.all(gaps > 0), "stamps strictly increase"
    assert np.median(gaps) == pytest.approx(0.01, abs=1e-3), "100 Hz in sim time (wall rate depends on load)"


def test_trajectory_is_tracked_within_bound(sim):
    _, probe = sim
    spec = load_robot_spec(ROBOT)
    reset(probe)
    q0 = positions(probe, spec)
    q1 = q0 + np.array([0.4, 0.3, -0.3, 0.2, 0.5])
    start = len(probe.js)
    publisher(probe).publish(make_trajectory(spec.joint_names, [q1], [1.5]))
    wait_for(lambda: np.allclose(positions(probe, spec), q1, atol=5e-3), 20, what="arm at the goal")
    # compare every received state with the linear path, aligned on the state's own stamp
    samples = [m for _, m in probe.js[start:]]
    moving = [m for m in samples if np.max(np.abs(joint_state_to_arrays(m, spec.joint_names)[0] - q0)) > 1e-3]
    assert moving, "the arm never moved"
    t_start = moving[0].header.stamp.sec + moving[0].header.stamp.nanosec * 1e-9 - 0.01
    worst = 0.0
    for m in moving:
        t = m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 - t_start
        ref = q0 + (q1 - q0) * min(1.0, t / 1.5)
        worst = max(worst, float(np.max(np.abs(joint_state_to_arrays(m, spec.joint_names)[0] - ref))))
    assert worst < TRACKING_BOUND, f"tracking error {worst:.4f} rad"


def test_new_trajectory_replaces_the_running_one(sim):
    _, probe = sim
    spec = load_robot_spec(ROBOT)
    reset(probe)
    q0 = positions(probe, spec)
    far = q0 + np.array([1.0, 0, 0, 0, 0])
    back = q0 + np.array([-0.3, 0, 0, 0, 0])
    pub = publisher(probe)
    pub.publish(make_trajectory(spec.joint_names, [far], [4.0]))
    wait_for(lambda: positions(probe, spec)[0] > q0[0] + 0.1, 20, what="first trajectory under way")
    before = positions(probe, spec)[0]
    n = len(probe.js)
    pub.publish(make_trajectory(spec.joint_names, [back], [1.0]))
    wait_for(lambda: abs(positions(probe, spec)[0] - back[0]) < 5e-3, 20, what="second goal reached")
    pans = [joint_state_to_arrays(m, spec.joint_names)[0][0] for _, m in probe.js[n:]]
    assert max(pans) < before + 0.1, "spliced from the current state, without running on toward the old goal"
    assert np.max(np.abs(np.diff(pans))) < 0.05, "no jump at the splice"
    time.sleep(1.0)
    assert abs(positions(probe, spec)[0] - back[0]) < 5e-3, "the replaced goal never resumes"


@pytest.mark.parametrize("case, expected", [
    ("unknown", "unknown joints ['elbow']"),
    ("missing", "joints ['wrist_roll'] missing"),
    ("empty", "empty trajectory"),
    ("order", "time_from_start must be strictly increasing"),
    ("nan", "non-finite position for joint elbow_flex"),
    ("limit", "of shoulder_lift is outside its limits"),
    ("past", "trajectory ends in the past"),
    ("final_velocity", "final velocity must be zero"),
])
def test_bad_trajectories_are_rejected_with_a_specific_error(sim, case, expected):
    proc, probe = sim
    spec = load_robot_spec(ROBOT)
    reset(probe)
    q0 = positions(probe, spec)
    names, q = list(spec.joint_names), q0.copy() + 0.2
    pts, times = [q], [1.0]
    if case == "unknown":
        names[2] = "elbow"
    elif case == "missing":
        names, pts = names[:-1], [q[:-1]]
    elif case == "empty":
        pts, times = np.zeros((0, 5)), []
    elif case == "order":
        pts, times = [q, q + 0.1], [1.0, 1.0]
    elif case == "nan":
        q[2] = float("nan")
    elif case == "limit":
        q[1] = 2.0
    stamp_ns, vel = 0, None
    if case == "past":
        stamp_ns = 1_000_000_000          # 1970: ends long before now
    elif case == "final_velocity":
        vel = np.full((1, len(names)), 0.1)
    publisher(probe).publish(make_trajectory(names, pts, times, velocities=vel, stamp_ns=stamp_ns))
    wait_for(lambda: expected in proc.log(), 20, what=f"'{expected}' in the sim log")
    time.sleep(0.5)
    assert np.allclose(positions(probe, spec), q0, atol=2e-3), "a rejected trajectory moved the arm"


def test_gripper_command_and_rejection(sim):
    proc, probe = sim
    from std_msgs.msg import Float64MultiArray

    spec = load_robot_spec(ROBOT)
    reset(probe)
    pub = probe.node.create_publisher(Float64MultiArray, "/gripper_controller/commands", 10)
    wait_for(lambda: pub.get_subscription_count() > 0, 20, what="gripper subscription")
    pub.publish(Float64MultiArray(data=[5.0]))
    wait_for(lambda: "gripper command 5 outside its limits" in proc.log(), 20, what="gripper rejection logged")
    pub.publish(Float64MultiArray(data=[0.3]))
    grip = lambda: joint_state_to_arrays(probe.js[-1][1], [spec.gripper.joint])[0][0]  # noqa: E731
    wait_for(lambda: abs(grip() - 0.3) < 0.02, 20, what="gripper at 0.3 rad")


def test_camera_image_and_info(sim):
    _, probe = sim
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from sim.env import SimEnv

    imgs = probe.collect(Image, "/cameras/front/image_raw", qos_profile_sensor_data)
    infos = probe.collect(CameraInfo, "/cameras/front/camera_info", qos_profile_sensor_data)
    wait_for(lambda: imgs and infos, 30, what="camera image and info")
    img, info = imgs[-1][1], infos[-1][1]
    assert (img.encoding, img.width, img.height, img.step) == ("rgb8", W, H, 3 * W)
    assert img.header.frame_id == info.header.frame_id == "front_optical_frame"
    arr = image_to_numpy(img)
    assert arr.shape == (H, W, 3) and arr.std() > 5          # a rendered scene, not a blank frame
    k = SimEnv(ROBOT, cameras=["front"]).camera_intrinsics("front", W, H)
    assert np.allclose(np.reshape(info.k, (3, 3)), k) and (info.width, info.height) == (W, H)
    assert info.distortion_model == "plumb_bob" and np.allclose(info.p[:3], k[0])


def test_tactile_topics_and_task_success(sim):
    _, probe = sim
    from geometry_msgs.msg import WrenchStamped
    from std_msgs.msg import Bool, Float32

    wrench = probe.collect(WrenchStamped, "/tactile/left_finger/wrench")
    area = probe.collect(Float32, "/tactile/right_finger/contact_area")
    success = probe.collect(Bool, "/sim/task_success")
    wait_for(lambda: wrench and area and success, 30, what="tactile and task topics")
    assert wrench[-1][1].wrench.force.z == 0.0 and area[-1][1].data == 0.0   # nothing touched
    assert success[-1][1].data is False


def test_reset_sequence_is_reproducible_by_seed(sim):
    _, probe = sim
    from geometry_msgs.msg import PoseStamped

    from sim.env import SimEnv

    poses = probe.collect(PoseStamped, "/sim/object_pose")
    msg = reset(probe)
    episode = int(msg.split()[1].rstrip(":"))
    wait_for(lambda: len(poses) > 1, 20, what="object pose")
    p = poses[-1][1].pose.position
    ref = SimEnv(ROBOT, cameras=[], seed=5)      # construction is reset 1
    for _ in range(episode - 1):
        ref.reset()
    assert np.allclose([p.x, p.y], ref.task.cube_xy, atol=1e-3)


def test_expert_over_dds_leader_stream_then_direct_episode(sim, tmp_path):
    _, probe = sim
    from sensor_msgs.msg import JointState

    spec = load_robot_spec(ROBOT)
    reset(probe)
    leader = probe.collect(JointState, "/expert/joint_states")
    with_leader = NodeProcess(python_module_cmd("sim.expert_node", "--ros-args", "-p", f"robot:={ROBOT}",
                                                "-p", "mode:=leader", "-p", "leader_rate:=50.0"),
                              tmp_path / "leader.log")
    try:
        wait_for(lambda: len(leader) > 20, 30, what="expert/joint_states")
        msg = leader[-1][1]
        assert list(msg.name) == spec.joint_names + [spec.gripper.joint]
        q_follower = joint_state_to_arrays(probe.js[-1][1], msg.name)[0]
        assert np.allclose(msg.position, q_follower, atol=0.02), f"idle leader should mirror {q_follower}"
    finally:
        with_leader.stop()
    direct = NodeProcess(python_module_cmd("sim.expert_node", "--ros-args", "-p", f"robot:={ROBOT}",
                                           "-p", "episodes:=1"), tmp_path / "direct.log")
    try:
        wait_for(lambda: not direct.alive, 120, what="the expert's episode")
        assert direct.proc.returncode == 0 and "EXPERT_RESULT 1/1" in direct.log(), direct.log()[-2000:]
    finally:
        direct.stop()


def test_expert_as_software_leader_through_the_teleop_node(sim, tmp_path):
    """The demonstration path: expert/joint_states -> teleop_node (topic leader, safety gate) -> sim."""
    teleop = NodeProcess(python_module_cmd("teleop.teleop_node", "--ros-args", "-p", f"robot:={ROBOT}"),
                         tmp_path / "teleop.log")
    expert = None
    try:
        expert = NodeProcess(python_module_cmd("sim.expert_node", "--ros-args", "-p", f"robot:={ROBOT}",
                                               "-p", "mode:=leader", "-p", "episodes:=1"), tmp_path / "expert.log")
        wait_for(lambda: not expert.alive, 150, what="the expert's leader episode")
        assert "EXPERT_RESULT 1/1" in expert.log(), expert.log()[-2000:] + "\n--- teleop:\n" + teleop.log()[-2000:]
    finally:
        if expert is not None:
            expert.stop()
        teleop.stop()
