"""policy_node driving the MuJoCo sim over DDS: trajectories stay inside the limits and continuous
across chunk boundaries (no step above the per-step cap); the simulated arm follows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from robot_common.conversions import joint_state_to_arrays, trajectory_to_arrays
from robot_common.safety import JointSafetyFilter
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for


@pytest.mark.timeout(600)
@pytest.mark.parametrize("execution", ["chunk", "ensemble"])
def test_policy_node_drives_sim(so101_checkpoint, tmp_path, execution):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot_spec("so101")
    sim = NodeProcess(python_module_cmd(
        "sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=[front]", "-p", "image_width:=128",
        "-p", "image_height:=96", "-p", "camera_rate:=15.0", "-p", "tactile:=false", "-p", "seed:=3"),
        tmp_path / "sim.log")
    policy = NodeProcess(python_module_cmd(
        "policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p", f"checkpoint:={so101_checkpoint}",
        "-p", f"execution:={execution}", "-p", "n_action_steps:=4", "-p", "overlap_steps:=2",
        "-p", "torch_threads:=1", "-p", "velocity_scale:=0.5", "-p", "stale_timeout_s:=1.0"),
        tmp_path / "policy.log")
    try:
        with ProbeNode("sim_policy_probe") as probe:
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            states = probe.collect(JointState, "/joint_states")
            status = probe.collect(String, "/policy/status")
            wait_for(lambda: len(states) > 5, timeout=120, what="sim joint_states\n" + sim.log())
            q0 = joint_state_to_arrays(states[-1][1], spec.joint_names)[0]
            reply = probe.call_until(Trigger, "/policy/start")  # the first camera frame may take a moment
            assert reply.success, reply.message + policy.log()
            wait_for(lambda: len(trajs) >= 60, timeout=180, what="60 trajectories\n" + policy.log())
            probe.call(Trigger, "/policy/stop")

            filt = JointSafetyFilter.from_spec(spec, velocity_scale=0.5, margin=0.01)
            cap = filt.step_cap(1 / 30)
            firsts = []
            for _, msg in list(trajs):
                _, times, pos = trajectory_to_arrays(msg)
                assert np.all(np.diff(times) > 0) and times[0] > 0
                assert not filt.out_of_limits(pos.min(0), 1e-9) and not filt.out_of_limits(pos.max(0), 1e-9)
                assert np.all(np.abs(np.diff(pos, axis=0)) <= cap + 1e-9)
                firsts.append(pos[0])
            # the first command starts from the pose measured at /policy/start (q0 is a little older)
            assert np.all(np.abs(firsts[0] - q0) <= 2 * cap + 0.01)
            steps = np.abs(np.diff(np.array(firsts), axis=0))
            assert np.all(steps <= cap + 1e-9), f"largest step {steps.max():.4f} > cap {cap.max():.4f}"
            report = json.loads(status[-1][1].data)
            assert report["chunks"] >= 3 and report["nan_chunks"] == 0, report
            q = np.array([joint_state_to_arrays(m, spec.joint_names)[0] for _, m in states])
            lo, hi = np.array(spec.lower), np.array(spec.upper)
            assert np.all(q >= lo - 0.02) and np.all(q <= hi + 0.02)  # the simulated arm stayed inside
            assert np.abs(q[-1] - q0).max() > 0.02, "the sim arm never moved"
        assert policy.alive and sim.alive, policy.log() + sim.log()
    finally:
        policy.stop()
        sim.stop()
