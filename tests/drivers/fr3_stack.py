"""A simulated FR3 for driver tests: franky-sim (the libfranka protocol on a loopback address) in one
process, `fr3_driver` in another, and a probe node that talks to the driver over real DDS.

The driver runs with stamp_clock:=arm, so joint_states stamps are the simulator's own clock: every
timing assertion is in simulated time. No realtime kernel (realtime_config:=ignore) and no mlockall.
The control loop gets SCHED_FIFO priority 20 where that is allowed, as on a real setup (harmless:
as root libfranka would make it 99 anyway); CI containers refuse it even to root, and the loop then
runs at normal scheduling, which the driver is built to survive on a loaded 2-core machine (one
reference per cycle, no GIL held by its sender thread). The pipeline tests (teleop, the policy
node) always run the loop at normal scheduling with the simulator at NORMAL_SCHEDULING_SPEED; the
others use SIM_SPEED. Its clock stays exact either way, and it runs niced.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np

from robot_common.conversions import joint_state_to_arrays, make_trajectory, ns_to_stamp, stamp_to_ns
from robot_common.drivers.franky_sim_server import ports_taken
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

SPEC = load_robot_spec("fr3")
NAMES = SPEC.joint_names
SIM_SPEED = 0.5


# Simulator speed for a stack whose loop runs at normal scheduling beside other nodes (teleop, the
# policy): the loop is descheduled for tens of ms at times on 2 busy cores, and the FR3 rule (20 lost
# packets in a row abort) is in simulated ms, so a slower simulator gives the loop proportionally
# more wall time before it faults as a real FR3 would. At 0.2 (100 ms of wall time) one clean-clone
# CI run in several still faulted on a loaded runner; at 0.1 the loop may miss 200 ms.
NORMAL_SCHEDULING_SPEED = 0.1
DRIVER_ARGS = ("-p", "realtime_config:=ignore", "-p", "realtime_priority:=20", "-p", "lock_memory:=false",
               "-p", "stamp_clock:=arm", "-p", "joint_state_rate:=250.0")


class FrankySim:
    """franky-sim as a subprocess, stopped by PID."""

    def __init__(self, host: str, log: Path, speed: float = SIM_SPEED) -> None:
        taken = ports_taken(host)
        if taken:
            raise RuntimeError(f"franky-sim ports {taken} on {host} are taken: another server (a previous test run "
                               f"that did not stop?) uses them; find it with `ss -ltnp | grep {host}`")
        self.host = host
        # niced: every timing rule is in the simulator's clock, so a simulator that yields the CPU to
        # the driver's loop only runs slower; a loop that yields it to the simulator loses packets
        self.proc = NodeProcess(["nice", "-n", "10"] + python_module_cmd(
            "robot_common.drivers.franky_sim_server", "--host", host, "--speed", str(speed)), log)
        wait_for(lambda: "FRANKY_SIM_READY" in self.proc.log() or not self.proc.alive, 60,
                 what=f"franky-sim on {host}")
        if not self.proc.alive:
            raise RuntimeError(f"franky-sim did not start:\n{self.proc.log()}")

    @property
    def pid(self) -> int:
        return self.proc.proc.pid

    def kill(self) -> None:
        self.proc.kill()

    def stop(self) -> None:
        self.proc.stop(timeout=5, sig=signal.SIGTERM)


class Fr3Stack:
    """franky-sim + fr3_driver + a probe (joint_states, ~/status, trajectory and gripper publishers)."""

    def __init__(self, tmp: Path, host: str, *driver_args: str, speed: float = SIM_SPEED) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray, String
        from trajectory_msgs.msg import JointTrajectory

        self.tmp = tmp
        self.sim = FrankySim(host, tmp / "franky_sim.log", speed)
        self.driver = None
        self.probe = ProbeNode("fr3_driver_test_probe")
        try:
            self.js = self.probe.collect(JointState, "/joint_states")
            self.cmd = self.probe.collect(JointState, "/fr3_driver/command")
            self.status = self.probe.collect(String, "/fr3_driver/status",
                                             QoSProfile(depth=50, durability=DurabilityPolicy.TRANSIENT_LOCAL))
            self.pub_traj = self.probe.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", 10)
            self.pub_grip = self.probe.node.create_publisher(Float64MultiArray, "/gripper_controller/commands", 10)
            self.driver = NodeProcess(python_module_cmd(
                "robot_common.drivers.fr3_driver", "--ros-args", "-p", f"robot_ip:={host}", *DRIVER_ARGS,
                *driver_args), tmp / "fr3_driver.log")
            self.wait_status("running", 90)
            wait_for(lambda: len(self.js) > 5, 30, what="joint_states from fr3_driver")
            wait_for(lambda: self.probe.node.count_subscribers("/arm_controller/joint_trajectory") > 0, 30,
                     what="the driver's trajectory subscription")
        except BaseException:
            self.close()
            raise

    # ---- reading ---------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        return [m.data for _, m in self.status]

    def wait_status(self, prefix: str, timeout: float = 30.0, after: int = 0) -> str:
        def found():
            return any(t.startswith(prefix) for t in self.texts()[after:])
        try:
            wait_for(lambda: found() or (self.driver is not None and not self.driver.alive), timeout,
                     what=f"status '{prefix}...'")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; status so far {self.texts()[-5:]}\n{self.log()}") from None
        if not found():
            raise AssertionError(f"the driver exited before status '{prefix}':\n{self.log()}")
        return next(t for t in self.texts()[after:] if t.startswith(prefix))

    def log(self) -> str:
        out = ""
        for name in ("fr3_driver.log", "franky_sim.log"):
            p = self.tmp / name
            if p.exists():
                out += f"\n--- {name}\n" + p.read_text(errors="replace")[-3000:]
        return out

    def samples(self, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(arm time s, arm positions [n, 7], gripper positions [n]) of joint_states[start:]."""
        msgs = [m for _, m in self.js[start:]]
        t = np.array([stamp_to_ns(m.header.stamp) * 1e-9 for m in msgs])
        q = np.array([joint_state_to_arrays(m, NAMES + [SPEC.gripper.joint])[0] for m in msgs])
        return t, q[:, :7], q[:, 7]

    def commands(self, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(arm time s, commanded positions [n, 7]) of ~/command[start:]."""
        msgs = [m for _, m in self.cmd[start:]]
        return (np.array([stamp_to_ns(m.header.stamp) * 1e-9 for m in msgs]),
                np.array([joint_state_to_arrays(m, NAMES)[0] for m in msgs]))

    def now(self) -> float:
        """The arm's clock at the latest joint_states (s)."""
        return stamp_to_ns(self.js[-1][1].header.stamp) * 1e-9

    def q(self) -> np.ndarray:
        return joint_state_to_arrays(self.js[-1][1], NAMES)[0]

    def wait_arm_time(self, t: float, timeout: float = 60.0) -> None:
        wait_for(lambda: self.now() >= t, timeout, what=f"arm time {t:.3f} s")

    def settle(self, seconds: float) -> None:
        self.wait_arm_time(self.now() + seconds)

    # ---- commanding ------------------------------------------------------------------------------
    def send(self, times, positions, velocities=None, names=None, start: float | None = None):
        """Publish a trajectory (start: arm time to start at, as a header stamp; None = now)."""
        msg = make_trajectory(names or NAMES, np.asarray(positions, dtype=float), list(times),
                              None if velocities is None else np.asarray(velocities, dtype=float))
        if start is not None:
            msg.header.stamp = ns_to_stamp(int(round(start * 1e9)))
        self.pub_traj.publish(msg)
        return msg

    def publish(self, msg) -> None:
        self.pub_traj.publish(msg)

    def gripper(self, *values: float) -> None:
        from std_msgs.msg import Float64MultiArray

        self.pub_grip.publish(Float64MultiArray(data=list(values)))

    def call(self, srv_type, name: str, timeout: float = 30.0):
        return self.probe.call(srv_type, name, timeout=timeout)

    def close(self) -> int | None:
        code = None
        if self.driver is not None:
            code = self.driver.stop(timeout=20)
        self.probe.close()
        self.sim.stop()
        return code


def wait_quiet(stack: Fr3Stack, tol: float = 2e-4, span: float = 0.2, timeout: float = 30.0) -> np.ndarray:
    """Wait until the arm stands still (over `span` s of arm time); returns its position."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(stack.js)
        stack.settle(span)
        _, q, _ = stack.samples(n)
        if len(q) > 2 and np.ptp(q, axis=0).max() < tol:
            return q[-1]
    raise AssertionError(f"the arm did not come to rest within {timeout} s")
