"""The policy node's follower guard over real DDS (issue 14.3).

- On the MuJoCo sim, a second publisher on the arm's JTC topic pushes the follower away (slowly, then in
  a jump) while the policy acts: no command point lies beyond the joint limits or further from the
  measured state it was bounded from (~/command_origin) than the velocity limit allows in its
  time_from_start.
- Against a probe that plays the follower: joint states that jump past max_follower_deviation make the
  node hold where the follower is and stop until policy/start; a gripper read a hair beyond its limit is
  never commanded beyond it (holds included)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from robot_common.conversions import (
    joint_state_to_arrays,
    make_joint_state,
    make_trajectory,
    numpy_to_image,
    trajectory_to_arrays,
)
from robot_common.safety import JointSafetyFilter
from robot_common.spec import load_robot_spec
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

SPEC = load_robot_spec("so101")


def _start(probe, what: str) -> None:
    from std_srvs.srv import Trigger

    reply = probe.call_until(Trigger, "/policy/start")   # the node loads its checkpoint, then needs a frame and a state
    if not reply.success:
        raise AssertionError(f"policy/start never succeeded: {reply.message}\n{what}")


def _paired(trajs, origins) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(times, points, measured origin) of every node trajectory whose ~/command_origin arrived."""
    table = [(np.asarray(m.position), np.asarray(m.velocity)) for _, m in list(origins)]
    out = []
    for _, msg in list(trajs):
        if msg.header.frame_id == "pusher":
            continue
        _, times, pos = trajectory_to_arrays(msg)
        match = [q for q, v in table if np.allclose(q + v * times[0], pos[0], rtol=0, atol=1e-9)]
        if match:
            out.append((times, pos, match[-1]))
    return out


@pytest.mark.timeout(600)
def test_a_pushed_sim_follower_is_never_commanded_beyond_its_velocity_limit(so101_checkpoint, tmp_path):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    sim = NodeProcess(python_module_cmd(
        "sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=[front]", "-p", "image_width:=128",
        "-p", "image_height:=96", "-p", "camera_rate:=15.0", "-p", "tactile:=false", "-p", "seed:=3"),
        tmp_path / "sim.log")
    policy = NodeProcess(python_module_cmd(
        "policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p", f"checkpoint:={so101_checkpoint}",
        "-p", "torch_threads:=1", "-p", "stale_timeout_s:=1.0", "-p", "max_follower_deviation:=0.3"),
        tmp_path / "policy.log")
    vmax = np.asarray(SPEC.max_velocity, dtype=float)
    try:
        with ProbeNode("guard_sim_probe") as probe:
            states = probe.collect(JointState, "/joint_states")
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            origins = probe.collect(JointState, "/policy_node/command_origin")
            status = probe.collect(String, "/policy/status")
            pusher = probe.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", 10)
            wait_for(lambda: len(states) > 5, timeout=120, what="sim joint_states\n" + sim.log())
            _start(probe, policy.log())
            wait_for(lambda: len(trajs) >= 20, timeout=180, what="20 trajectories\n" + policy.log())

            def measured() -> np.ndarray:
                return joint_state_to_arrays(states[-1][1], SPEC.joint_names)[0]

            def push(joint: int, offset: float, seconds: float, speed: float | None) -> float:
                """Drive the follower by `offset` rad on `joint` (at `speed` rad/s, or at once), hold it for
                the rest of `seconds`; how far it moved."""
                start, t0 = measured(), time.monotonic()
                target = start.copy()
                target[joint] = np.clip(start[joint] + offset, SPEC.lower[joint] + 0.05, SPEC.upper[joint] - 0.05)
                while time.monotonic() - t0 < seconds:
                    step = target - start
                    if speed is not None:
                        step = np.clip(step, -speed * (time.monotonic() - t0), speed * (time.monotonic() - t0))
                    msg = make_trajectory(SPEC.joint_names, (start + step)[None, :], [0.02])
                    msg.header.frame_id = "pusher"
                    pusher.publish(msg)
                    time.sleep(0.01)
                return float(np.abs(measured() - start).max())

            moved = [push(0, 0.6 if measured()[0] < 0 else -0.6, 2.0, speed=1.0)]   # slowly away, held
            time.sleep(1.5)                                                            # released
            _start(probe, policy.log())        # (a no-op if it still acts; needed if the push stopped it)
            moved.append(push(2, 0.6 if measured()[2] < 0 else -0.6, 0.4, speed=None))  # a jump
            time.sleep(1.5)
            probe.call(Trigger, "/policy/stop")
            time.sleep(0.5)
            assert max(moved) > 0.3, f"the pushes hardly moved the follower: {moved}"

            ours = [m for _, m in list(trajs) if m.header.frame_id != "pusher"]
            pairs = _paired(trajs, origins)
            assert len(pairs) >= 0.9 * len(ours) and len(pairs) > 50, (len(pairs), len(ours))
            filt = JointSafetyFilter.from_spec(SPEC, margin=0.0)
            worst = -np.inf
            for times, pos, q in pairs:
                assert not filt.out_of_limits(pos.min(0), 1e-9) and not filt.out_of_limits(pos.max(0), 1e-9)
                worst = max(worst, float(np.max(np.abs(pos - q) - vmax * times[:, None])))
            assert worst <= 1e-9, f"a command asks for more than the velocity limit: {worst:.4f} rad beyond reach"
            report = json.loads(status[-1][1].data)
            assert report["follower_limited_ticks"] > 0, report   # the guard did bound commands
        assert policy.alive and sim.alive, policy.log() + sim.log()
    finally:
        policy.stop()
        sim.stop()


@pytest.mark.timeout(600)
def test_a_jumping_follower_stops_the_policy_and_the_gripper_stays_clamped(so101_checkpoint, tmp_path):
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray, String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    names = SPEC.joint_names + [SPEC.gripper.joint]
    g = SPEC.gripper
    node = NodeProcess(python_module_cmd(
        "policy.policy_node", "--ros-args", "-p", "robot:=so101", "-p", f"checkpoint:={so101_checkpoint}",
        "-p", "torch_threads:=1", "-p", "stale_timeout_s:=1.0", "-p", "max_follower_deviation:=0.2"),
        tmp_path / "policy.log")
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    state = {"q": np.array(SPEC.home, dtype=float), "grip": g.lower - 2e-7}   # the servo reads -0.1750002
    try:
        with ProbeNode("guard_probe") as probe:
            pub_js = probe.node.create_publisher(JointState, "/joint_states", 10)
            pub_img = probe.node.create_publisher(Image, "/cameras/front/image_raw", 10)
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            grips = probe.collect(Float64MultiArray, "/gripper_controller/commands")
            status = probe.collect(String, "/policy/status")
            probe.node.create_timer(1 / 30, lambda: (pub_js.publish(make_joint_state(names, np.r_[state["q"], state["grip"]])),
                                                     pub_img.publish(numpy_to_image(frame, "rgb8"))))
            _start(probe, node.log())
            probe.call(Trigger, "/policy/stop")   # a hold straight away: at the gripper read at start
            wait_for(lambda: len(grips) > 0, timeout=30, what="the stop's gripper command")
            _start(probe, node.log())
            wait_for(lambda: sum(len(m.points) > 1 for _, m in trajs) >= 10, timeout=120, what="10 trajectories")
            n = len(trajs)
            jumped = state["q"] + np.r_[0.0, 0.0, 0.5, 0.0, 0.0]
            state["q"] = jumped
            wait_for(lambda: any(len(m.points) == 1 for _, m in trajs[n:]), timeout=30, what="a hold after the jump")
            hold = next(m for _, m in trajs[n:] if len(m.points) == 1)
            np.testing.assert_allclose(trajectory_to_arrays(hold)[2][0], jumped, atol=1e-9)
            wait_for(lambda: status and json.loads(status[-1][1].data)["deviation_stops"], timeout=30,
                     what="policy/status reporting the deviation stop")
            report = json.loads(status[-1][1].data)
            assert not report["active"] and report["deviation_stops"] == 1, report
            assert "max_follower_deviation" in report["last_problem"], report
            time.sleep(1.0)
            m = len(trajs)
            time.sleep(1.0)
            assert len(trajs) == m, "commands after the deviation stop, without policy/start"
            _start(probe, node.log())
            wait_for(lambda: sum(len(t.points) > 1 for _, t in trajs[m:]) >= 5, timeout=60, what="acting again")
            first = trajectory_to_arrays(next(t for _, t in trajs[m:] if len(t.points) > 1))[2][0]
            reach = 0.75 * np.asarray(SPEC.max_velocity) / 30.0
            assert np.all(np.abs(first - jumped) <= reach + 1e-9), "did not re-plan from where the follower is"
        values = [msg.data[0] for _, msg in grips]
        assert values and all(g.lower <= v <= g.upper for v in values), (min(values), max(values))
        assert node.alive, node.log()
    finally:
        node.stop()
