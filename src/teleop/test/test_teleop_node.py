"""teleop_node over real DDS: an SO-101 leader on the emulated Feetech bus, a probe as follower."""
import math
import threading
import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from robot_common.conversions import make_joint_state
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
from teleop.calibration import Calibration, save_calibration
from teleop.leaders import follower_names
from teleop.servo_emulator import BusEmulator

SPEC = load_robot_spec("so101")
NAMES = follower_names(SPEC)
RATE = 250.0
# offsets pi: joint zero at tick 2048; gripper raw pi-0.5 (closed) .. pi+0.5 (open)
CAL = Calibration(offsets=[math.pi] * 5, signs=[1, 1, 1, 1, -1], lower=SPEC.lower, upper=SPEC.upper,
                  gripper_open=math.pi + 0.5, gripper_closed=math.pi - 0.5, style="so101")


def leader_raw(q: np.ndarray, grip01: float = 0.5) -> dict[int, float]:
    raw = {i + 1: math.pi + CAL.signs[i] * q[i] for i in range(5)}
    raw[6] = CAL.gripper_closed + grip01 * (CAL.gripper_open - CAL.gripper_closed)
    return raw


def node_cmd(port: str, cal_file, *extra: str) -> list[str]:
    return python_module_cmd(
        "teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "leader.type:=so101",
        "-p", f"leader.port:={port}", "-p", "leader.ids:=[1,2,3,4,5]", "-p", "leader.gripper_id:=6",
        "-p", f"calibration_file:={cal_file}", "-p", f"rate_hz:={RATE}",
        "-p", "leader.timeout_ms:=50.0",  # the emulator shares this process's GIL with the probe
        *extra)


class Follower:
    """Publishes the follower pose on /joint_states at 100 Hz from the probe: `q`, or, given the
    collected trajectories, a perfect follower at the last commanded arm pose."""

    def __init__(self, probe: ProbeNode, q: np.ndarray, trajs: list | None = None) -> None:
        self.q = q
        self.trajs = trajs
        self.pub = probe.node.create_publisher(JointState, "/joint_states", 10)
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while self.running:
            if self.trajs:
                self.q = np.append(self.trajs[-1][1].points[0].positions, self.q[5])
            self.pub.publish(make_joint_state(NAMES, self.q))
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def positions(trajs, start=0) -> np.ndarray:
    return np.array([list(m.points[0].positions) for _, m in trajs[start:]])


def test_gate_tracking_caps_and_unplug(tmp_path):
    cal_file = save_calibration(tmp_path / "cal.yaml", CAL)
    home = np.append(SPEC.home, 0.55)  # follower gripper jaw mid-way
    with BusEmulator("feetech", [1, 2, 3, 4, 5, 6]) as emu, ProbeNode() as probe:
        misaligned = SPEC.home.copy()
        misaligned[1] += 0.5
        emu.set_angles(leader_raw(misaligned))
        trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
        grips = probe.collect(Float64MultiArray, "/gripper_controller/commands")
        leader_states = probe.collect(JointState, "/leader/joint_states")
        status = probe.collect(String, "/teleop_node/status")
        follower = Follower(probe, home, trajs)
        node = NodeProcess(node_cmd(emu.port, cal_file), tmp_path / "node.log")
        try:
            wait_for(lambda: any("aligning" in m.data for _, m in status), 30, what="aligning status")
            time.sleep(0.5)
            assert trajs == [], "commanded while misaligned"
            last = [m.data for _, m in status if m.data.startswith("aligning")][-1]
            assert "shoulder_lift +0.500 rad" in last and "elbow_flex" not in last, last
            assert leader_states and list(leader_states[-1][1].name) == NAMES
            np.testing.assert_allclose(leader_states[-1][1].position[:5], misaligned, atol=3e-3)

            # align: engages from the follower's pose, then tracks a moving leader
            emu.set_angles(leader_raw(SPEC.home + 0.05))
            wait_for(lambda: len(trajs) > 20, 20, what="trajectories after aligning")
            first = trajs[0][1]
            assert list(first.joint_names) == SPEC.joint_names
            assert first.header.stamp.sec == 0 and first.header.stamp.nanosec == 0  # JTC: start now
            t0 = time.monotonic()
            emu.script = lambda t: leader_raw(SPEC.home + 0.05 + 0.2 * math.sin(2 * math.pi * 0.5 * (t - 0)))
            time.sleep(1.5)
            emu.script = None
            target = SPEC.home + 0.1
            emu.set_angles(leader_raw(target, grip01=1.0))
            wait_for(lambda: np.allclose(positions(trajs, -1)[0], target, atol=3e-3), 10, what="tracking")
            wait_for(lambda: grips and abs(grips[-1][1].data[0] - SPEC.gripper.open) < 1e-3, 10, what="gripper")
            assert time.monotonic() - t0 < 60

            # a jumping leader (0.4 rad in one read, up to beyond the joint limit): clamped and capped
            n0 = len(trajs)
            jump = target.copy()
            while jump[0] < SPEC.upper[0]:  # 0.4 rad per read (not yet garbage), past the limit
                jump[0] += 0.4
                emu.set_angles(leader_raw(jump, grip01=1.0))
                time.sleep(0.1)
            wait_for(lambda: abs(positions(trajs, -1)[0][0] - SPEC.upper[0]) < 1e-9, 10, what="clamp at limit")
            p = positions(trajs, max(0, n0 - 1))
            steps = np.abs(np.diff(p, axis=0))
            assert np.all(steps <= SPEC.max_velocity * 3 / RATE + 1e-9)   # dt is capped at 3 periods
            assert np.all(p[:, 0] <= SPEC.upper[0] + 1e-12)
            assert len(p) > 5  # it took several capped ticks to get there

            # unplug the bus mid-run: commands hold the last one, then stop; status reports a fault
            held = positions(trajs, -1)[0]
            n_unplug = len(trajs)
            emu.unplug()
            wait_for(lambda: any(m.data.startswith("fault") for _, m in status), 20, what="fault status")
            n_fault = len(trajs)
            time.sleep(0.5)
            assert len(trajs) == n_fault, "commands after the fault"
            for q in positions(trajs, n_unplug):  # at most the in-flight ones, all at the held pose
                np.testing.assert_allclose(q, held)
            assert node.alive
        finally:
            follower.stop()
            node.stop()
    log = (tmp_path / "node.log").read_text()
    assert "disengaged after" in log and "no status packet" in log


@pytest.mark.parametrize("case", ["missing_port", "uncalibrated"])
def test_node_refuses_to_start_without_a_real_leader(tmp_path, case):
    with BusEmulator("feetech", [1, 2, 3, 4, 5, 6]) as emu:
        if case == "missing_port":
            cmd = node_cmd(str(tmp_path / "ttyACM7"), save_calibration(tmp_path / "c.yaml", CAL))
            expect = "does not exist"
        else:
            from robot_common.paths import source_root
            cmd = node_cmd(emu.port, source_root() / "config" / "teleop" / "so101_leader.yaml")
            expect = "uncalibrated template"
        node = NodeProcess(cmd, tmp_path / "node.log")
        try:
            wait_for(lambda: not node.alive, 30, what="the node to exit")
        finally:
            code = node.stop()
    assert code == 2  # a configuration / input error (CONVENTIONS: exit 2)
    assert expect in (tmp_path / "node.log").read_text()


def test_topic_leader_forward_mode_rejects_nan_and_stale(tmp_path):
    """The software leader (the sim's scripted expert publishes on /expert/joint_states) through the
    same gates, commanding a forward position controller."""
    home = np.append(SPEC.home, 0.55)
    with ProbeNode() as probe:
        fwd = probe.collect(Float64MultiArray, "/forward_position_controller/commands")
        grips = probe.collect(Float64MultiArray, "/gripper_controller/commands")
        leader_states = probe.collect(JointState, "/leader/joint_states")
        status = probe.collect(String, "/teleop_node/status")
        expert = probe.node.create_publisher(JointState, "/expert/joint_states", 10)
        follower = Follower(probe, home)
        node = NodeProcess(python_module_cmd(
            "teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "leader.type:=topic",
            "-p", "command.mode:=forward", "-p", "rate_hz:=200.0", "-p", "safety.max_read_failures:=10"),
            tmp_path / "node.log")
        try:
            target = home + np.array([0.05, -0.05, 0.05, 0.0, 0.1, 0.2])

            def publish_for(q, seconds):
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    expert.publish(make_joint_state(NAMES[::-1], q[::-1]))  # any name order
                    time.sleep(0.01)

            wait_for(lambda: any("leader" in m.data for _, m in status), 30, what="status")
            publish_for(target, 1.5)
            wait_for(lambda: fwd and np.allclose(fwd[-1][1].data, target[:5], atol=1e-9), 10, what="forward cmd")
            assert grips and abs(grips[-1][1].data[0] - target[5]) < 1e-9
            n = len(fwd)
            bad = target.copy()
            bad[2] = np.nan
            publish_for(bad, 0.03)  # a few NaN messages: held, never forwarded, not republished
            publish_for(target, 0.3)
            assert all(np.all(np.isfinite(m.data)) for _, m in fwd[n:])
            assert all(np.all(np.isfinite(m.position)) for _, m in leader_states)
            n = len(fwd)
            wait_for(lambda: any(m.data.startswith("fault") and "stale" in m.data for _, m in status), 10,
                     what="stale-leader fault")
            assert all(np.allclose(m.data, target[:5]) for _, m in fwd[n:])  # nothing new, nothing else
        finally:
            follower.stop()
            node.stop()


def test_topic_leader_start_up_waits_for_the_leader_without_faults(tmp_path):
    """Before a software leader's first message the node waits (INFO), it does not fault; once the
    leader and the follower are there it engages."""
    home = np.append(SPEC.home, 0.55)
    with ProbeNode() as probe:
        status = probe.collect(String, "/teleop_node/status")
        node = NodeProcess(python_module_cmd("teleop.teleop_node", "--ros-args", "-p", "robot:=so101"),
                           tmp_path / "node.log")
        follower = None
        try:
            wait_for(lambda: len(status) >= 3, 30, what="status")
            time.sleep(1.0)   # 500 ticks without a leader: 20 x safety.max_read_failures
            texts = [m.data for _, m in status]
            assert all(t == "waiting: waiting for the leader on /expert/joint_states" for t in texts), texts[-3:]
            log = node.log()
            assert "[ERROR]" not in log and "[WARN]" not in log and "fault" not in log, log
            assert "[INFO]" in log and "waiting for the leader on /expert/joint_states" in log

            follower = Follower(probe, home)
            expert = probe.node.create_publisher(JointState, "/expert/joint_states", 10)
            end = time.monotonic() + 20
            while time.monotonic() < end and not any(m.data.startswith("engaged") for _, m in status):
                expert.publish(make_joint_state(NAMES, home))
                time.sleep(0.01)
            assert any(m.data.startswith("engaged") for _, m in status), [m.data for _, m in status][-3:]
        finally:
            if follower is not None:
                follower.stop()
            node.stop()
