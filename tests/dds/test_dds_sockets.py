"""Where the DDS sockets of real nodes bind, in the workspace's default environment (issue 14.6).

sim_node, teleop_node (a software leader) and recorder_node run as their own processes with
robot_common.testing.ros_env() and talk over DDS: the probe's leader drives teleop, teleop drives
the sim, the sim's joint states come back to the probe and into a recorder episode that is saved
through the recorder's services. Then every inet socket of each process (and of this one) is read
from /proc: each one is bound to loopback. A process with plain LOCALHOST and no profile (a user's
`ros2 topic echo` in another shell) discovers the same nodes and receives from them.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np
import pytest
import yaml

from robot_common import dds
from robot_common.conversions import joint_state_to_arrays, make_joint_state
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, ros_env, wait_for

SPEC = load_robot_spec("so101")
NAMES = SPEC.joint_names + [SPEC.gripper.joint]
MOVE = np.array([0.25, -0.2, 0.0, 0.0, 0.0, 0.0])       # where the leader takes the follower (rad)

PLAIN_LISTENER = """
import sys, time, rclpy
from sensor_msgs.msg import JointState
rclpy.init()
node = rclpy.create_node('plain_localhost_listener')
got = []
node.create_subscription(JointState, '/joint_states', lambda m: got.append(1), 10)
deadline = time.monotonic() + 60
while time.monotonic() < deadline and len(got) < 20:
    rclpy.spin_once(node, timeout_sec=0.1)
print('received', len(got), flush=True)
"""


def workspace_env() -> dict[str, str]:
    """ros_env() as a fresh checkout gets it: no Fast DDS profile of the developer's own."""
    env = ros_env()
    for name in dds.PROFILE_VARS:
        env.pop(name, None)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    dds.apply(env)
    return env


class Leader:
    """A software leader at 100 Hz on /expert/joint_states, slewing to its target at 0.5 rad/s."""

    def __init__(self, probe: ProbeNode, start: np.ndarray) -> None:
        from sensor_msgs.msg import JointState

        self.pub = probe.node.create_publisher(JointState, "/expert/joint_states", 10)
        self.q, self.target = start.copy(), start.copy()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            self.q = self.q + np.clip(self.target - self.q, -0.005, 0.005)
            self.pub.publish(make_joint_state(NAMES, self.q))
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


@pytest.fixture()
def stack(tmp_path):
    env = workspace_env()
    setup = tmp_path / "setup.yaml"
    setup.write_text(yaml.safe_dump({"topics": [
        {"name": "joint_states", "type": "sensor_msgs/msg/JointState", "qos": "reliable", "depth": 200},
        {"name": "arm_controller/joint_trajectory", "type": "trajectory_msgs/msg/JointTrajectory",
         "qos": "reliable", "depth": 200}]}))
    cmds = {
        "sim": python_module_cmd("sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=['']",
                                 "-p", "tactile:=false"),
        "teleop": python_module_cmd("teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "rate_hz:=100.0",
                                    "-p", "leader.stale_after:=1.5"),
        "recorder": python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={setup}",
                                      "-p", f"session_dir:={tmp_path / 'session'}", "-p", "fsync:=false"),
    }
    procs = {}
    try:
        for name, cmd in cmds.items():
            procs[name] = NodeProcess(cmd, tmp_path / f"{name}.log", env)
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def logs(procs) -> str:
    return "".join(f"\n--- {p.log_path.name}\n{p.log()[-1500:]}" for p in procs.values())


def test_nodes_talk_and_no_socket_is_bound_beyond_loopback(stack, tmp_path):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from recorder.recorder_node import STATUS_QOS

    env = workspace_env()
    assert env[dds.PROFILE_VAR] == str(dds.localhost_profile())
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SYSTEM_DEFAULT" and dds.requested_range(env) == "LOCALHOST"
    plain_env = dict(env)
    plain_env.pop(dds.PROFILE_VAR)
    plain_env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with ProbeNode("dds_socket_probe") as probe:
        follower = probe.collect(JointState, "/joint_states")
        status = probe.collect(String, "/teleop_node/status")
        recorder = probe.collect(String, "/recorder/status", qos=STATUS_QOS)
        wait_for(lambda: len(follower) > 10, 90, what=f"sim joint_states{logs(stack)}")
        start = joint_state_to_arrays(follower[-1][1], NAMES)[0]
        leader = Leader(probe, start)
        plain = NodeProcess([sys.executable, "-c", PLAIN_LISTENER], tmp_path / "plain.log", plain_env)
        try:
            wait_for(lambda: any(m.data.startswith("engaged") for _, m in status), 60,
                     what=f"teleop engaged{logs(stack)}")
            wait_for(lambda: bool(recorder), 60, what=f"/recorder/status{logs(stack)}")
            assert probe.call(Trigger, "/recorder/start", timeout=30).success
            leader.target = start + MOVE
            # round trip: probe (leader) -> teleop_node -> sim_node -> probe (joint_states)
            wait_for(lambda: np.abs(joint_state_to_arrays(follower[-1][1], NAMES)[0] - (start + MOVE))[:2].max() < 0.03,
                     60, what=f"the follower at the leader's target{logs(stack)}")
            wait_for(lambda: json.loads(recorder[-1][1].data)["topics"]["/joint_states"]["count"] > 50, 30,
                     what="joint states recorded")
            saved = probe.call(Trigger, "/recorder/save", timeout=30)
            assert saved.success, saved.message
            wait_for(lambda: not plain.alive, 90, what="the plain LOCALHOST listener")
            assert "received 20" in plain.log(), plain.log()

            # every socket, after the traffic above (Fast DDS opens send sockets as it discovers peers)
            pids = {name: p.proc.pid for name, p in stack.items()}
            pids["test process (probe)"] = os.getpid()
            report = {name: dds.process_sockets(pid) for name, pid in pids.items()}
        finally:
            leader.stop()
            plain.stop()
    for name, sockets in report.items():
        assert any(s.proto == "udp" for s in sockets), f"{name}: no UDP socket found ({sockets}): nothing checked"
        beyond = [str(s) for s in sockets if not s.loopback]
        assert not beyond, f"{name} has sockets beyond loopback: {beyond} (all: {[str(s) for s in sockets]})"


def test_the_dds_command_lists_sockets_and_fails_on_one_beyond_loopback(tmp_path):
    """`ros2 run robot_common dds sockets <pid>`: exit 0 for a node in the workspace environment,
    1 for a process holding a socket on all interfaces (a plain UDP socket on 0.0.0.0)."""
    import socket
    import subprocess

    from robot_common.testing import python_module_cmd as cmd

    talker = "import rclpy, time\nrclpy.init()\nn = rclpy.create_node('t')\nprint('up', flush=True)\ntime.sleep(60)\n"
    proc = NodeProcess([sys.executable, "-c", talker], tmp_path / "t.log", workspace_env())
    try:
        wait_for(lambda: "up" in proc.log() and len(dds.process_sockets(proc.proc.pid)) >= 3, 30, what="a participant")
        ok = subprocess.run(cmd("robot_common.dds", "sockets", str(proc.proc.pid)), capture_output=True, text=True,
                            env=ros_env(), timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "udp 127.0.0.1:" in ok.stdout and "beyond" not in ok.stdout
    finally:
        proc.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        bad = subprocess.run(cmd("robot_common.dds", "sockets", str(os.getpid())), capture_output=True, text=True,
                             env=ros_env(), timeout=60)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"udp 0.0.0.0:{port}   <- beyond loopback" in bad.stdout
