"""recorder live_view: what a teleop/recorder session publishes reaches the rerun stream (saved to
.rrd here and read back with rerun's own reader); the pieces that keep it cheap."""
from __future__ import annotations

import time

import numpy as np
import pytest

from recorder.live_view import image_array
from recorder.record_cli import live_view_command
from robot_common.testing import ProbeNode, node_process, python_module_cmd, ros_env, wait_for

from .rrd import rrd_columns, rrd_values

pytestmark = pytest.mark.timeout(120)
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def test_image_array_handles_bgr_mono_and_row_padding():
    from sensor_msgs.msg import Image

    px = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = px.reshape(2, 9)
    img = image_array(Image(height=2, width=3, encoding="bgr8", step=12, data=padded.tobytes()))
    np.testing.assert_array_equal(img, px[..., ::-1])
    mono = image_array(Image(height=2, width=3, encoding="mono8", step=3, data=bytes(range(6))))
    assert mono.shape == (2, 3) and mono[1, 2] == 5
    assert image_array(Image(height=2, width=3, encoding="16UC1", step=6, data=bytes(12))) is None


def test_record_cli_display_starts_the_node_in_the_namespace():
    cmd = live_view_command("real", "left")
    assert cmd[1:3] == ["-m", "recorder.live_view"] and "setup:=real" in cmd and "__ns:=/left" in cmd


def test_live_view_streams_joints_commands_tactile_and_cameras(tmp_path):
    from geometry_msgs.msg import WrenchStamped
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    out = tmp_path / "live.rrd"
    cmd = python_module_cmd("recorder.live_view", "--ros-args", "-r", "__ns:=/lv", "-p", "setup:=sim",
                            "-p", f"save:={out}", "-p", "max_plot_hz:=0.0", "-p", "max_image_hz:=0.0")
    sent = {"follower": 0, "leader": 0, "traj": 0, "wrench": 0, "image": 0}
    with ProbeNode("live_view_feed") as probe, node_process(cmd, tmp_path / "live_view.log", ros_env()) as proc:
        n = probe.node
        pubs = {"follower": n.create_publisher(JointState, "/lv/joint_states", 10),
                "leader": n.create_publisher(JointState, "/lv/leader/joint_states", 10),
                "traj": n.create_publisher(JointTrajectory, "/lv/arm_controller/joint_trajectory", 10),
                "wrench": n.create_publisher(WrenchStamped, "/lv/tactile/left_finger/wrench", 10),
                "image": n.create_publisher(Image, "/lv/cameras/front/image_raw", 10)}
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), timeout=30,
                 what=f"live_view subscriptions\n{proc.log()}")
        pixels = np.full((24, 32, 3), 200, np.uint8).tobytes()
        # warm-up samples (negative i) until the reader side has matched every publisher too
        for i in [*range(-50, 0), *range(40)]:
            stamp = n.get_clock().now().to_msg()
            q = [0.01 * i] * len(JOINTS)
            pubs["follower"].publish(JointState(name=JOINTS, position=q))
            pubs["leader"].publish(JointState(name=JOINTS, position=[v + 1.0 for v in q]))
            pubs["traj"].publish(JointTrajectory(joint_names=JOINTS, points=[JointTrajectoryPoint(positions=q)]))
            w = WrenchStamped()
            w.header.stamp = stamp
            w.wrench.force.z = float(i)
            pubs["wrench"].publish(w)
            if i % 4 == 0 and i >= 0:
                img = Image(height=24, width=32, encoding="rgb8", step=96, data=pixels)
                img.header.stamp = stamp
                pubs["image"].publish(img)
                sent["image"] += 1
            for k in ("follower", "leader", "traj", "wrench"):
                sent[k] += i >= 0
            time.sleep(0.02)
        time.sleep(1.0)
        assert proc.stop() == 0, proc.log()
    def counted(entity: str, index: int, offset: float = 0.0) -> int:
        return sum(1 for v in rrd_values(out, entity, "Scalars:scalars") if v[index] >= offset - 1e-9)

    got = {"follower": counted("/lv/joint_states/position", 0),
           "leader": counted("/lv/leader/joint_states/position", 0, 1.0),
           "traj": counted("/lv/arm_controller/joint_trajectory/positions", 0),
           "wrench": counted("/lv/tactile/left_finger/wrench/force", 2),
           "image": rrd_columns(out)[("/lv/cameras/front/image_raw", "Image:buffer")]["_rows"]}
    last = rrd_values(out, "/lv/leader/joint_states/position", "Scalars:scalars")[-1]
    assert last == pytest.approx([1.39] * len(JOINTS))   # the leader's last sample, as published
    # best effort, depth 1 on loopback at 50 Hz: every sample arrives; allow a lost one per stream
    for k, v in got.items():
        assert sent[k] - 1 <= v <= sent[k], (k, got, sent)


def test_polled_streams_are_logged_at_most_at_the_view_rate(tmp_path):
    """A 500 Hz stream polled at max_plot_hz 20: at most 20 samples a second reach rerun, the newest
    ones (the reader keeps the latest sample only)."""
    from sensor_msgs.msg import JointState

    out = tmp_path / "polled.rrd"
    cmd = python_module_cmd("recorder.live_view", "--ros-args", "-r", "__ns:=/lvp", "-p", "setup:=sim",
                            "-p", f"save:={out}", "-p", "max_plot_hz:=20.0")
    with ProbeNode("live_view_fast") as probe, node_process(cmd, tmp_path / "live_view.log", ros_env()) as proc:
        pub = probe.node.create_publisher(JointState, "/lvp/leader/joint_states", 10)
        wait_for(lambda: pub.get_subscription_count() > 0, timeout=30, what=f"live_view reader\n{proc.log()}")
        for i in range(-100, 0):       # warm-up: until the reader has matched
            pub.publish(JointState(name=JOINTS, position=[float(i)] * len(JOINTS)))
            time.sleep(0.002)
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 1.5:
            pub.publish(JointState(name=JOINTS, position=[float(i)] * len(JOINTS)))
            i += 1
            time.sleep(0.002)
        published_s = time.monotonic() - t0
        time.sleep(0.5)
        assert proc.stop() == 0, proc.log()
    values = [v[0] for v in rrd_values(out, "/lvp/leader/joint_states/position", "Scalars:scalars")]
    measured = [v for v in values if v >= 0]
    assert i > 300 and 1 <= len(measured) <= 20 * (published_s + 0.2) + 1, (i, len(measured))
    assert measured == sorted(measured) and max(measured) >= i - 1 - 500 * 0.05 * 2   # the newest, not the oldest
