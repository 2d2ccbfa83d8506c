"""policy_node over real DDS against a probe publishing joint states and camera images."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from policy.policy_node import camera_topics
from robot_common.conversions import make_joint_state, numpy_to_image, trajectory_to_arrays
from robot_common.safety import JointSafetyFilter
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for


def test_camera_topics_from_feature_names():
    keys = ["observation.images.front", "observation.images.top"]
    assert camera_topics(keys, "/cameras/{name}/image_raw", [""]) == {
        "observation.images.front": "/cameras/front/image_raw", "observation.images.top": "/cameras/top/image_raw"}
    remapped = camera_topics(keys, "/cameras/{name}/image_raw", ["top=wrist", "front=/my/cam"])
    assert remapped == {"observation.images.front": "/my/cam", "observation.images.top": "/cameras/wrist/image_raw"}
    with pytest.raises(ValueError, match="does not use"):
        camera_topics(keys, "/cameras/{name}/image_raw", ["side=front"])


@pytest.mark.timeout(600)
def test_node_streams_safe_trajectories_and_holds(tiny_checkpoint, tmp_path):
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray, String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    cmd = python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p", f"checkpoint:={tiny_checkpoint}",
                            "-p", "torch_threads:=1", "-p", "stale_timeout_s:=0.5", "-p", "velocity_scale:=0.5")
    node = NodeProcess(cmd, tmp_path / "node.log")
    try:
        with ProbeNode("policy_probe") as probe:
            pub_js = probe.node.create_publisher(JointState, "/joint_states", 10)
            pub_img = probe.node.create_publisher(Image, "/cameras/front/image_raw", 10)
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            grips = probe.collect(Float64MultiArray, "/gripper_controller/commands")
            status = probe.collect(String, "/policy/status")
            state = {"q": np.r_[spec.home, 0.5], "images": True}
            frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)

            def publish() -> None:
                pub_js.publish(make_joint_state(names, state["q"]))
                if state["images"]:
                    pub_img.publish(numpy_to_image(frame, "rgb8"))

            probe.node.create_timer(1 / 30, publish)
            reply = probe.call_until(Trigger, "/policy/start", timeout=120)
            assert reply.success, reply.message + node.log()
            wait_for(lambda: len(trajs) >= 30, timeout=60, what="30 trajectories")

            filt = JointSafetyFilter.from_spec(spec, velocity_scale=0.5, margin=0.01)
            cap = filt.step_cap(1 / 30)
            firsts = [spec.home]
            for _, msg in list(trajs):
                jn, times, pos = trajectory_to_arrays(msg)
                assert jn == spec.joint_names
                assert len(times) >= 2 and np.all(np.diff(times) > 0) and times[0] > 0
                assert not filt.out_of_limits(pos.min(0), 1e-9) and not filt.out_of_limits(pos.max(0), 1e-9)
                assert np.all(np.abs(np.diff(pos, axis=0)) <= cap + 1e-9)
                firsts.append(pos[0])
            assert np.all(np.abs(np.diff(np.array(firsts), axis=0)) <= cap + 1e-9)
            g = [m.data[0] for _, m in grips]
            assert g and all(spec.gripper.lower <= v <= spec.gripper.upper for v in g)

            # camera goes silent: the node holds (single point at its last command) and says why
            state["images"] = False
            wait_for(lambda: any(len(m.points) == 1 for _, m in trajs[-5:]), timeout=30, what="a hold after stale images")
            held = trajectory_to_arrays(trajs[-1][1])[2][0]
            assert np.all(np.abs(held - firsts[-1]) <= cap * 20)  # near where it was, no jump
            wait_for(lambda: status and "stale" in json.loads(status[-1][1].data)["last_problem"], timeout=30,
                     what="stale reported on /policy/status")

            # NaN joint states: hold as well
            state["images"], state["q"] = True, np.r_[np.full(5, np.nan), 0.5]
            wait_for(lambda: status and "NaN" in json.loads(status[-1][1].data)["last_problem"], timeout=30,
                     what="NaN joint_states reported")
            assert len(trajs[-1][1].points) == 1
            state["q"] = np.r_[spec.home, 0.5]

            reply = probe.call(Trigger, "/policy/stop")
            assert reply.success
            time.sleep(1.5)   # a trajectory already in flight may still arrive on a loaded machine
            n = len(trajs)
            time.sleep(1.0)
            assert len(trajs) == n, "trajectories after /policy/stop"
        assert node.alive, node.log()
    finally:
        node.stop()


def test_node_refuses_bad_checkpoint(tmp_path):
    node = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", f"checkpoint:={tmp_path / 'none'}"),
                       tmp_path / "bad.log")
    try:
        wait_for(lambda: not node.alive, timeout=60, what="the node to exit")
        assert node.proc.returncode == 2
        assert "does not exist" in node.log()
    finally:
        node.stop()


@pytest.mark.timeout(600)
def test_node_reads_object_poses_and_holds_without_them(tmp_path, so101_names, tiny_cfg):
    """A checkpoint with an object pose and no camera: the node waits for the pose topic, acts on
    it, and holds when the tracker goes silent."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from policy.config import TrainConfig
    from policy.synthetic_dataset import write_dataset
    from policy.train import train

    ds = write_dataset(tmp_path / "ds", episodes=2, frames=30, dim=6, cameras=(), joint_names=so101_names,
                       poses=("cube",))
    model, ws = tiny_cfg
    train(ds, tmp_path / "run", model, ws, TrainConfig(steps=10, batch_size=8, log_every=10, save_every=1000,
                                                       device="cpu"), progress=False)
    ckpt = tmp_path / "run" / "checkpoints" / "last" / "pretrained_model"
    assert json.loads((ckpt / "config.json").read_text())["input_features"]["observation.environment_state"]["shape"] == [7]
    spec = load_robot_spec("so101")
    node = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p",
                                         f"checkpoint:={ckpt}", "-p", "torch_threads:=1",
                                         "-p", "pose_topic_template:=/tracker/{name}/pose"), tmp_path / "node.log")
    try:
        with ProbeNode("policy_pose_probe") as probe:
            pub_js = probe.node.create_publisher(JointState, "/joint_states", 10)
            pub_pose = probe.node.create_publisher(PoseStamped, "/tracker/cube/pose", 10)
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            state = {"pose": False}

            def publish() -> None:
                pub_js.publish(make_joint_state(so101_names, np.r_[spec.home, 0.5]))
                if state["pose"]:
                    msg = PoseStamped()
                    msg.pose.position.x, msg.pose.orientation.w = 0.2, 1.0
                    pub_pose.publish(msg)

            probe.node.create_timer(1 / 30, publish)
            wait_for(lambda: probe.node.count_subscribers("/tracker/cube/pose") > 0, timeout=120,
                     what="the node's subscription on /tracker/cube/pose")

            def refused_for_the_pose() -> bool:   # joint states come first, then the missing pose is the reason
                reply = probe.call(Trigger, "/policy/start", timeout=30)
                assert not reply.success, "started without an object pose"
                return "no data yet for observation.pose.cube" in reply.message

            wait_for(refused_for_the_pose, timeout=30, period=0.5, what="/policy/start refused for the missing pose")
            state["pose"] = True
            wait_for(lambda: probe.call(Trigger, "/policy/start", timeout=30).success, timeout=30,
                     what="/policy/start to succeed once the pose arrives")
            wait_for(lambda: sum(len(m.points) > 1 for _, m in trajs) >= 10, timeout=60, what="10 trajectories")
            state["pose"] = False     # the tracker goes silent: hold
            wait_for(lambda: any(len(m.points) == 1 for _, m in trajs[-5:]), timeout=30, what="a hold without poses")
        assert node.alive, node.log()
    finally:
        node.stop()
