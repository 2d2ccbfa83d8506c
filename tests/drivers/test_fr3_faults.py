"""fr3_driver when things go wrong, against franky-sim over the real protocol: the simulator killed
mid-motion (a clear error, fault state, no hang, recovery once it is back), a stalled control loop
(the missed deadlines a real FR3 aborts for, which franky-sim does not check), the command timeout,
and no robot at the address."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from std_srvs.srv import Trigger

from robot_common.testing import NodeProcess, python_module_cmd, wait_for
from tests.drivers.fr3_stack import Fr3Stack, FrankySim, wait_quiet

HOST = "127.0.0.56"


def test_the_simulator_killed_mid_motion_gives_a_clear_fault_and_no_hang(tmp_path):
    stack = Fr3Stack(tmp_path, HOST)
    try:
        diag = stack.probe.collect(DiagnosticArray, "/diagnostics", 50)
        q0 = wait_quiet(stack)
        goal = q0 + np.array([0.6, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0])
        stack.send([3.0], [goal], [np.zeros(7)])
        stack.settle(1.0)
        n_status = len(stack.texts())
        stack.sim.kill()                                  # SIGKILL, by PID: no goodbye on the wire
        text = stack.wait_status("fault", 20, after=n_status)
        assert "connection to the FR3 lost" in text and "UDP receive: Timeout" in text, text
        n_js = len(stack.js)
        time.sleep(1.0)
        assert len(stack.js) == n_js, "joint_states after the connection was lost"
        wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and s.name.endswith("fr3_driver: arm")
                             for _, m in diag for s in m.status), 10, what="an ERROR diagnostic")
        # the driver stays up and answers, and refuses motion until recovered
        reply = stack.call(Trigger, "/fr3_driver/recover")
        assert not reply.success and "recovery failed" in reply.message, reply.message
        before = stack.driver.log().count("trajectory rejected")
        stack.send([1.0], [q0], [np.zeros(7)])
        wait_for(lambda: stack.driver.log().count("trajectory rejected") > before, 10, what="a rejection")
        assert "in fault" in stack.driver.log().splitlines()[-1] or "in fault" in stack.driver.log()
        # the simulator back (a fresh robot at its start pose): recover, and it moves again
        stack.sim = FrankySim(HOST, tmp_path / "franky_sim_2.log")
        reply = stack.call(Trigger, "/fr3_driver/recover")
        assert reply.success, reply.message
        stack.wait_status("running", 30, after=n_status + 1)
        wait_for(lambda: len(stack.js) > n_js + 20, 30, what="joint_states after recovery")
        q1 = wait_quiet(stack)
        stack.send([1.0], [q1 + 0.05], [np.zeros(7)])
        stack.settle(1.5)
        np.testing.assert_allclose(wait_quiet(stack), q1 + 0.05, atol=2e-3)
    finally:
        t = time.monotonic()
        code = stack.close()
        stopped_in = time.monotonic() - t
    assert code == 0, stack.log()
    assert stopped_in < 15, f"the driver took {stopped_in:.1f} s to stop"


def test_a_stalled_control_loop_faults_as_the_robot_would(tmp_path):
    stack = Fr3Stack(tmp_path, HOST, "-p", "cmd_timeout:=0.4")
    try:
        q0 = wait_quiet(stack)
        # cmd_timeout: a 3 s trajectory with nothing after it is stopped after 0.4 s of wall clock
        # (0.2 s of the half-speed simulator's: it starts slowly, a cubic from rest)
        goal = q0.copy()
        goal[0] += 1.0
        stack.send([3.0], [goal], [np.zeros(7)])
        time.sleep(2.0)
        stopped = wait_quiet(stack)
        assert 2e-4 < stopped[0] - q0[0] < 0.1, stopped[0] - q0[0]   # on its way, stopped far short of 1 rad
        assert "cmd_timeout" in stack.driver.log()
        # stall the driver (every process of it) for 0.3 s of wall clock while the robot runs on:
        # ~150 command packets lost in a row
        n_status = len(stack.texts())
        os.killpg(stack.driver.proc.pid, signal.SIGSTOP)
        time.sleep(0.3)
        os.killpg(stack.driver.proc.pid, signal.SIGCONT)
        text = stack.wait_status("fault", 20, after=n_status)
        assert "communication_constraints_violation" in text and "lost in a row" in text, text
        reply = stack.call(Trigger, "/fr3_driver/recover")
        assert reply.success, reply.message
        stack.wait_status("running", 20, after=n_status + 1)
        q1 = wait_quiet(stack)
        stack.send([0.1], [q1 - 0.02], [np.zeros(7)])    # short: done before cmd_timeout strikes
        stack.settle(0.5)
        np.testing.assert_allclose(wait_quiet(stack), q1 - 0.02, atol=2e-3)
    finally:
        code = stack.close()
    assert code == 0, stack.log()


@pytest.mark.parametrize("ip", ["127.0.0.59", ""])
def test_no_robot_or_no_address_is_one_line_and_exit_2(tmp_path, ip):
    args = ["-p", f"robot_ip:={ip}"] if ip else []     # no address: the parameter's default, empty
    proc = NodeProcess(python_module_cmd("robot_common.drivers.fr3_driver", "--ros-args", *args,
                                         "-p", "realtime_config:=ignore", "-p", "realtime_priority:=0"),
                       tmp_path / "driver.log")
    try:
        wait_for(lambda: not proc.alive, 60, what="fr3_driver to exit")
    finally:
        code = proc.stop()
    log = proc.log_path.read_text()
    assert code == 2, log
    assert "Traceback" not in log, log
    errors = [line for line in log.splitlines() if "error" in line]
    assert len(errors) == 1, log
    if ip:
        assert f"cannot connect to the FR3 at {ip}" in errors[0], log
    else:
        assert "robot_ip" in errors[0], log
