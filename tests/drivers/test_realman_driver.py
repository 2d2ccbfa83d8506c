"""realman_driver through RealMan's own Python API (Robotic_Arm 1.1.6 and its libapi_c.so) against
an emulator of the controller's JSON-over-TCP protocol on 127.0.0.1: what the library sends, the
pass-through stream it carries, joint_states, the gripper, a controller error and recovery, the
controller gone."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_common.conversions import joint_state_to_arrays, make_trajectory
from robot_common.drivers.realman_emulator import RealmanEmulator
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

SPEC = load_robot_spec("rm65")
DEG = 180 / math.pi
QUANTUM = 1e-3 / DEG * 1.01   # the protocol carries joints in 0.001 deg


def test_the_official_library_talks_to_the_emulator():
    """Robotic_Arm against the emulator, in this process: the connection handshake the library
    runs (rm_create_robot_arm reports the arm's DoF only when every answer parsed), state, the
    pass-through command as the library encodes it, the gripper."""
    from Robotic_Arm.rm_robot_interface import RoboticArm, rm_thread_mode_e

    with RealmanEmulator("rm65") as emu:
        arm = RoboticArm(rm_thread_mode_e.RM_DUAL_MODE_E)
        handle = arm.rm_create_robot_arm(emu.host, emu.port, 3)
        try:
            assert handle.id != -1 and arm.arm_dof == 6
            ret, state = arm.rm_get_current_arm_state()
            assert ret == 0
            np.testing.assert_allclose(np.array(state["joint"][:6]) / DEG, SPEC.home, atol=1e-5)
            target = (SPEC.home + 0.01) * DEG
            assert arm.rm_movej_canfd(target.tolist(), True) == 0
            wait_for(lambda: emu.commands("movej_canfd"), 5, what="movej_canfd at the emulator")
            sent = emu.commands("movej_canfd")[-1]
            # what the library puts on the wire: joints in 0.001 deg, the follow flag, the mode fields
            assert sent["follow"] is True and sent["trajectory_mode"] == 0
            np.testing.assert_allclose(np.array(sent["joint"][:6]) / 1000, target, atol=1e-3)
            ret, state = arm.rm_get_current_arm_state()
            np.testing.assert_allclose(np.array(state["joint"][:6]), target, atol=1e-3)
            assert arm.rm_set_gripper_position(500, False, 0) == 0
            ret, grip = arm.rm_get_gripper_state()
            assert ret == 0 and 1 <= grip["actpos"] <= 1000
            handshake = [r["command"] for r in emu.requests[:11]]
            assert handshake[0] == "get_arm_software_info" and "get_DH_data" in handshake, handshake
        finally:
            arm.rm_delete_robot_arm()


class RealmanStack:
    """The emulator, realman_driver in namespace `ns` (relative names: a second stack runs beside the
    first), and a probe."""

    def __init__(self, tmp, ns: str = "") -> None:
        self.ns = ns
        self.emu = RealmanEmulator("rm65")
        self.probe = ProbeNode("realman_test_probe")
        self.js = self.probe.collect(JointState, f"{ns}/joint_states")
        self.status = self.probe.collect(String, f"{ns}/realman_driver/status",
                                         QoSProfile(depth=50, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.pub = self.probe.node.create_publisher(JointTrajectory, f"{ns}/arm_controller/joint_trajectory", 10)
        self.grip = self.probe.node.create_publisher(Float64MultiArray, f"{ns}/gripper_controller/commands", 10)
        self.driver = NodeProcess(python_module_cmd(
            "robot_common.drivers.realman_driver", "--ros-args", "-r", f"__ns:={ns or '/'}", "-p", "robot:=rm65",
            "-p", f"robot_ip:={self.emu.host}", "-p", f"port:={self.emu.port}"), tmp / "realman_driver.log")
        try:
            self.wait_status("running", 60)
            wait_for(lambda: len(self.js) > 5, 30, what="joint_states from realman_driver")
            wait_for(lambda: self.probe.node.count_subscribers(f"{ns}/arm_controller/joint_trajectory") > 0, 30,
                     what="the driver's subscription")
        except BaseException:
            self.close()
            raise

    def texts(self) -> list[str]:
        return [m.data for _, m in self.status]

    def wait_status(self, prefix: str, timeout: float, after: int = 0) -> str:
        try:
            wait_for(lambda: any(t.startswith(prefix) for t in self.texts()[after:]), timeout,
                     what=f"status {prefix!r}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {self.texts()[-4:]}\n{self.driver.log()[-3000:]}") from None
        return next(t for t in self.texts()[after:] if t.startswith(prefix))

    def q(self) -> np.ndarray:
        return joint_state_to_arrays(self.js[-1][1], SPEC.joint_names)[0]

    def still(self, span: float = 0.3, timeout: float = 20.0) -> np.ndarray:
        """Wait until the joints stop changing; returns them."""
        deadline = time.monotonic() + timeout
        q = self.q()
        while time.monotonic() < deadline:
            time.sleep(span)
            q2 = self.q()
            if np.array_equal(q, q2):
                return q2
            q = q2
        raise AssertionError("the arm did not come to rest")

    def close(self) -> int | None:
        code = self.driver.stop(timeout=20)
        self.probe.close()
        self.emu.close()
        return code


@pytest.fixture(scope="module")
def rm(tmp_path_factory):
    stack = RealmanStack(tmp_path_factory.mktemp("realman"))
    yield stack
    code = stack.close()
    assert code == 0, stack.driver.log_path.read_text()[-3000:]


def canfd_targets(emu: RealmanEmulator, start: int) -> np.ndarray:
    return np.array([r["joint"][:6] for r in emu.commands("movej_canfd")[start:]]) / 1000 / DEG


def test_a_trajectory_is_streamed_with_the_pass_through_command(rm):
    q0 = rm.still()
    np.testing.assert_allclose(q0, SPEC.home, atol=QUANTUM)
    goal = q0 + np.array([0.3, -0.2, 0.25, 0.4, -0.3, 0.5])
    n = len(rm.emu.commands("movej_canfd"))
    rm.pub.publish(make_trajectory(SPEC.joint_names, goal[None], [1.5], np.zeros((1, 6))))
    wait_for(lambda: np.abs(rm.q() - goal).max() < 1e-4, 30, what="the arm at the goal")
    rm.still()
    sent = rm.emu.commands("movej_canfd")[n:]
    assert all(r["follow"] is True for r in sent)
    targets = canfd_targets(rm.emu, n)
    # a continuous stream of small steps (never more than the velocity limit allows in a 5 ms cycle,
    # allowing a late cycle of the shared machine), ending at the goal; the emulated controller
    # refused none (it would have for a step over 5 deg)
    steps = np.abs(np.diff(targets, axis=0))
    assert len(targets) > 200 and np.all(steps <= SPEC.max_velocity * 0.005 * 4 + 1e-9), steps.max(axis=0)
    np.testing.assert_allclose(targets[-1], goal, atol=QUANTUM)
    assert rm.emu.arm.canfd_rejected == 0 and not rm.emu.arm.errors
    # joint order is mapped by name
    order = [5, 3, 1, 0, 2, 4]
    msg = make_trajectory([SPEC.joint_names[i] for i in order], q0[order][None], [1.0], np.zeros((1, 6)))
    rm.pub.publish(msg)
    wait_for(lambda: np.abs(rm.q() - q0).max() < 1e-4, 30, what="the arm back at the start")


def test_bad_input_is_rejected_and_nothing_moves(rm):
    q0 = rm.still()
    bad = q0.copy()
    bad[0] = SPEC.upper[0] + 0.2
    n_logs = rm.driver.log().count("trajectory rejected")
    rm.pub.publish(make_trajectory(SPEC.joint_names, bad[None], [1.0]))
    rm.pub.publish(make_trajectory(SPEC.joint_names[:5] + ["joint9"], q0[None], [1.0]))
    wait_for(lambda: rm.driver.log().count("trajectory rejected") == n_logs + 2, 10, what="two rejections")
    time.sleep(0.5)
    np.testing.assert_allclose(rm.q(), q0, atol=QUANTUM)


def test_the_gripper_follows_position_commands(rm):
    g = SPEC.gripper
    rm.grip.publish(Float64MultiArray(data=[0.01]))
    wait_for(lambda: rm.emu.commands("set_gripper_position"), 10, what="set_gripper_position")
    assert rm.emu.commands("set_gripper_position")[-1]["position"] == round(1 + 999 * (0.01 - g.closed) / (g.open - g.closed))
    name = g.joint

    def gripper() -> float:
        msg = rm.js[-1][1]
        return msg.position[list(msg.name).index(name)]
    wait_for(lambda: abs(gripper() - 0.01) < 5e-4, 10, what="the gripper at 0.01 m")
    rm.grip.publish(Float64MultiArray(data=[g.open]))
    wait_for(lambda: abs(gripper() - g.open) < 5e-4, 10, what="the gripper open")


def test_a_controller_error_stops_the_stream_until_recovered(rm):
    n_status = len(rm.texts())
    rm.emu.arm.errors.append(0x100D)          # the controller reports a collision
    text = rm.wait_status("fault", 10, after=n_status)
    assert "0x100D" in text, text
    n = len(rm.emu.commands("movej_canfd"))
    time.sleep(0.5)
    assert len(rm.emu.commands("movej_canfd")) == n, "still streaming in fault"
    reply = rm.probe.call(Trigger, "/realman_driver/recover")
    assert reply.success, reply.message
    assert rm.emu.commands("clear_system_err")
    rm.wait_status("running", 10, after=n_status + 1)
    q0 = rm.still()
    rm.pub.publish(make_trajectory(SPEC.joint_names, (q0 + 0.05)[None], [0.5], np.zeros((1, 6))))
    wait_for(lambda: np.abs(rm.q() - (q0 + 0.05)).max() < 1e-4, 20, what="motion after recovery")


def test_the_controller_gone_is_a_clear_fault_and_no_hang(tmp_path):
    stack = RealmanStack(tmp_path, "/second")
    try:
        n_status = len(stack.texts())
        stack.emu.close()
        text = stack.wait_status("fault", 20, after=n_status)
        assert "connection to the controller is lost" in text or "did not answer" in text, text
        reply = stack.probe.call(Trigger, "/second/realman_driver/recover")
        assert not reply.success and "recovery failed" in reply.message, reply.message
    finally:
        t = time.monotonic()
        code = stack.close()
    assert code == 0 and time.monotonic() - t < 15, stack.driver.log_path.read_text()[-3000:]
