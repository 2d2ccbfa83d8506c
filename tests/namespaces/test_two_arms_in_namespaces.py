"""Two arms on one ROS graph, each stack in its own namespace (`--ros-args -r __ns:=/left` and
`/right`): two MuJoCo sims and two teleop nodes with software leaders, over real DDS at once.
Each follower moves with its own leader only, and every name of the stacks lands in its namespace.
"""
import threading
import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from robot_common.conversions import joint_state_to_arrays, make_joint_state
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
from teleop.leaders import follower_names

SPEC = load_robot_spec("so101")
NAMES = follower_names(SPEC)
SIDES = ("left", "right")
MOVE = np.array([0.3, -0.2, 0.0, 0.0, 0.0, 0.0])   # what one leader does (rad), the other holds


class Leaders:
    """Software leaders for both namespaces, published from the probe at 100 Hz: each starts at its
    follower's pose and slews (0.5 rad/s, a hand's pace) toward its own target."""

    def __init__(self, probe: ProbeNode, start: dict[str, np.ndarray]) -> None:
        self.pubs = {s: probe.node.create_publisher(JointState, f"/{s}/expert/joint_states", 10) for s in SIDES}
        self.q = {s: start[s].copy() for s in SIDES}
        self.target = {s: start[s].copy() for s in SIDES}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        step = 0.5 * 0.01
        while self.running:
            for s in SIDES:
                self.q[s] = self.q[s] + np.clip(self.target[s] - self.q[s], -step, step)
                self.pubs[s].publish(make_joint_state(NAMES, self.q[s]))
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def stack_cmd(module: str, side: str, *params: str) -> list[str]:
    args = ["--ros-args", "-r", f"__ns:=/{side}"]
    for p in params:
        args += ["-p", p]
    return python_module_cmd(module, *args)


@pytest.fixture()
def stacks(tmp_path):
    procs = []
    try:
        for side in SIDES:
            procs.append(NodeProcess(stack_cmd("sim.sim_node", side, "robot:=so101", "cameras:=['']", "tactile:=false",
                                               f"seed:={1 if side == 'left' else 2}"), tmp_path / f"sim_{side}.log"))
        for side in SIDES:
            procs.append(NodeProcess(stack_cmd("teleop.teleop_node", side, "robot:=so101", "rate_hz:=100.0",
                                               "leader.stale_after:=1.5"), tmp_path / f"teleop_{side}.log"))
        yield procs
    finally:
        for p in procs:
            p.stop()


def logs(procs) -> str:
    return "".join(f"\n--- {p.log_path.name}\n{p.log()[-1500:]}" for p in procs)


def test_each_follower_moves_with_its_own_leader_only(stacks):
    with ProbeNode("namespace_probe") as probe:
        follower = {s: probe.collect(JointState, f"/{s}/joint_states") for s in SIDES}
        status = {s: probe.collect(String, f"/{s}/teleop_node/status") for s in SIDES}
        root_states = probe.collect(JointState, "/joint_states")

        def pose(side: str) -> np.ndarray:
            return joint_state_to_arrays(follower[side][-1][1], NAMES)[0]

        wait_for(lambda: all(len(follower[s]) > 10 for s in SIDES), 90, what=f"both sims{logs(stacks)}")
        start = {s: pose(s) for s in SIDES}
        leaders = Leaders(probe, start)
        try:
            for s in SIDES:
                wait_for(lambda s=s: any(m.data.startswith("engaged") for _, m in status[s]), 60,
                         what=f"/{s}/teleop_node engaged{logs(stacks)}")

            # the graph: every node and topic of a stack is in its namespace, none in the root one
            nodes = set(probe.node.get_node_names_and_namespaces())
            assert {("sim_node", "/left"), ("sim_node", "/right"),
                    ("teleop_node", "/left"), ("teleop_node", "/right")} <= nodes
            assert not {n for n in nodes if n[1] == "/" and n[0] in ("sim_node", "teleop_node")}
            for s in SIDES:
                topic = f"/{s}/arm_controller/joint_trajectory"
                assert probe.node.count_publishers(topic) == 1 and probe.node.count_subscribers(topic) == 1, topic
            assert probe.node.count_publishers("/joint_states") == 0 and root_states == []

            # move the left leader: the left follower follows, the right one holds still
            for first, other in (("left", "right"), ("right", "left")):
                before = {s: pose(s) for s in SIDES}
                leaders.target[first] = before[first] + MOVE
                wait_for(lambda f=first, b=before: np.allclose(pose(f)[:2], (b[f] + MOVE)[:2], atol=0.02), 30,
                         what=f"/{first} follower at its leader's target{logs(stacks)}")
                time.sleep(0.5)
                np.testing.assert_allclose(pose(other)[:5], before[other][:5], atol=0.01,
                                           err_msg=f"/{other} moved with /{first}'s leader")
                np.testing.assert_allclose(pose(first)[:5], (before[first] + MOVE)[:5], atol=0.02)
        finally:
            leaders.stop()
    for p in stacks:
        assert p.alive, f"{p.log_path.name} exited:{logs(stacks)}"
