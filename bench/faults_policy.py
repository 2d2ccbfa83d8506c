"""bench_faults.py's policy loops, on a small ACT checkpoint trained here on a synthetic dataset (they need
the policy package with its follower guard, issue 14.3: `ready()` says whether the installed one has it):
  - input faults: policy_node acting for a probe that plays the robot (a perfect follower: it reports
    the first point of each command as its state) gets, in turn, NaN joint states, stale joint states,
    stale images, joint states missing a joint and joint states whose name and position lengths differ;
    each must make it hold (a one-point trajectory), name the problem on policy/status, and resume
    once the input is good. Every point of every trajectory is checked against the joint limits and
    the velocity cap;
  - a pushed follower: the node acts on the MuJoCo sim while a second publisher on the arm's JTC topic
    pushes the arm away slowly and holds it, releases it, and jumps it; every command is checked
    against the measured state it was bounded from (the node's ~/command_origin): none may ask for more
    than the arm's velocity limit. Counts the node's re-plans and follower-limited ticks, and the
    follower's top speed after each release."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INPUT_FAULTS = ("NaN joint states", "stale joint states", "stale images", "a joint missing", "length mismatch")
TINY_MODEL = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 64, "n_heads": 4, "dim_feedforward": 128,
              "n_encoder_layers": 2, "n_decoder_layers": 2, "n_vae_encoder_layers": 1, "latent_dim": 8,
              "dropout": 0.0, "optimizer_lr": 2e-3, "optimizer_lr_backbone": 2e-3}


def ready() -> str:
    """'' when the installed policy node has the follower guard (max_follower_deviation, ~/command_origin),
    else why the loops cannot run."""
    try:
        from policy.policy_node import PARAMS
    except ImportError as exc:
        return f"policy_node cannot be imported ({exc})"
    names = PARAMS.names() if hasattr(PARAMS, "names") else list(PARAMS)
    if "max_follower_deviation" not in names:
        return "the installed policy_node has no follower guard (max_follower_deviation): the policy rework is not merged"
    return ""


def small_checkpoint(work: Path) -> Path:
    """A briefly trained ACT (so101 joints, one 48x64 camera 'front'): what it outputs does not matter,
    only that it acts on every input a real one has."""
    from policy.config import TrainConfig
    from policy.synthetic_dataset import write_dataset
    from policy.train import train
    from robot_common.spec import load_robot_spec

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    ds = write_dataset(work / "dataset", episodes=2, frames=30, dim=6, cameras=("front",), height=48, width=64,
                       joint_names=names)
    out = work / "run"
    train(ds, out, dict(TINY_MODEL), {"image_size": [32, 32], "backbone_norm": "batch"},
          TrainConfig(steps=20, batch_size=8, log_every=10, save_every=1000, device="cpu"), progress=False)
    return out


@dataclass
class InputFaultResult:
    held: dict[str, bool] = field(default_factory=dict)
    reported: dict[str, str] = field(default_factory=dict)     # fault -> policy/status last_problem
    resumed: dict[str, bool] = field(default_factory=dict)
    points: int = 0
    violations: int = 0
    failures: list[str] = field(default_factory=list)


def input_fault_loop(checkpoint: Path, work: Path, on_running=None) -> InputFaultResult:
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import numpy_to_image, trajectory_to_arrays
    from robot_common.safety import JointSafetyFilter
    from robot_common.spec import load_robot_spec
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    res = InputFaultResult()
    node = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101",
                                         "-p", f"checkpoint:={checkpoint}", "-p", "torch_threads:=1",
                                         "-p", "stale_timeout_s:=0.5", "-p", "velocity_scale:=0.5"),
                       work / "policy_inputs.log")
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    state = {"q": np.r_[spec.home, 0.5], "fault": None}
    try:
        with ProbeNode("bench_faults_policy") as probe:
            pub_js = probe.node.create_publisher(JointState, "/joint_states", 10)
            pub_img = probe.node.create_publisher(Image, "/cameras/front/image_raw", 10)
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            status = probe.collect(String, "/policy/status")

            def publish() -> None:
                fault, q = state["fault"], state["q"]
                if trajs:                                   # a perfect follower: where it was last sent
                    q = np.r_[trajectory_to_arrays(trajs[-1][1])[2][0], q[-1]]
                    state["q"] = q
                msg = JointState(name=list(names), position=[float(v) for v in q])
                msg.header.stamp = probe.node.get_clock().now().to_msg()
                if fault == INPUT_FAULTS[0]:
                    msg.position = [float("nan")] * 5 + [float(q[-1])]
                elif fault == INPUT_FAULTS[3]:
                    msg.name, msg.position = list(names[1:]), [float(v) for v in q[1:]]
                elif fault == INPUT_FAULTS[4]:
                    msg.position = [float(v) for v in q[:-2]]
                if fault != INPUT_FAULTS[1]:
                    pub_js.publish(msg)
                if fault != INPUT_FAULTS[2]:
                    pub_img.publish(numpy_to_image(frame, "rgb8"))

            probe.node.create_timer(1 / 30, publish)

            def start() -> None:
                reply = probe.call_until(Trigger, "/policy/start")
                if not reply.success:
                    raise TimeoutError(f"policy/start never succeeded: {reply.message}")

            def acting(since: int) -> bool:
                return any(len(m.points) > 1 for _, m in trajs[since:])

            start()
            wait_for(lambda: acting(0), 120, what="the policy acting")
            if on_running is not None:
                on_running({"policy_node": node.proc.pid})
            for fault in INPUT_FAULTS:
                time.sleep(1.0)
                n, n_status = len(trajs), len(status)
                state["fault"] = fault
                try:
                    wait_for(lambda n=n: any(len(m.points) == 1 for _, m in trajs[n:]), 15, what=f"a hold ({fault})")
                    hold = next(i for i in range(n, len(trajs)) if len(trajs[i][1].points) == 1)
                    time.sleep(1.5)
                    moving = sum(len(m.points) > 1 for _, m in trajs[hold + 1:])
                    res.held[fault] = moving == 0
                    reports = [json.loads(m.data)["last_problem"] for _, m in status[n_status:]]
                    res.reported[fault] = next((r for r in reversed(reports) if r), "")
                    if moving:
                        res.failures.append(f"{fault}: {moving} moving commands after the hold")
                except TimeoutError:
                    res.held[fault] = False
                    res.failures.append(f"{fault}: no hold")
                state["fault"] = None
                n = len(trajs)
                try:
                    wait_for(lambda n=n: acting(n), 10, what="acting again")
                except TimeoutError:
                    start()                                 # the node may want policy/start again
                    try:
                        wait_for(lambda n=n: acting(n), 30, what="acting again after policy/start")
                    except TimeoutError:
                        res.failures.append(f"{fault}: did not act again")
                res.resumed[fault] = acting(n)
            probe.call(Trigger, "/policy/stop")
            filt = JointSafetyFilter.from_spec(spec, velocity_scale=0.5, margin=0.01)
            cap = filt.step_cap(1 / 30)
            previous = None
            for _, msg in list(trajs):
                _, _, pos = trajectory_to_arrays(msg)
                res.points += len(pos)
                res.violations += sum(bool(filt.out_of_limits(p, 1e-9)) for p in pos)
                steps = np.diff(pos if previous is None else np.vstack([previous, pos]), axis=0)
                res.violations += int(np.any(np.abs(steps) > cap + 1e-9, axis=1).sum())
                previous = pos[0]
    finally:
        node.stop()
    return res


@dataclass
class PushResult:
    pushes: int = 0
    moved: int = 0                   # pushes that displaced the follower > 0.3 rad
    checked: int = 0                 # commands paired with their ~/command_origin
    over_limit: int = 0              # of those, asking for more than the velocity limit
    worst: float = -np.inf           # rad beyond (or, negative, within) the limit's reach
    replans: int = 0
    follower_limited: int = 0
    peak_speed: float = 0.0          # follower, while only the node commanded it (rad/s)
    speed_limit: float = 0.0
    failures: list[str] = field(default_factory=list)


def push_loop(checkpoint: Path, work: Path, pushes: int, on_running=None) -> PushResult:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import joint_state_to_arrays, make_trajectory, trajectory_to_arrays
    from robot_common.spec import load_robot_spec
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

    spec = load_robot_spec("so101")
    vmax = np.asarray(spec.max_velocity, dtype=float)
    res = PushResult(speed_limit=float(vmax.min()))
    sim = NodeProcess(python_module_cmd("sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=['front']",
                                        "-p", "tactile:=false", "-p", "seed:=5"), work / "push_sim.log")
    policy = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101",
                                           "-p", f"checkpoint:={checkpoint}", "-p", "torch_threads:=1",
                                           "-p", "stale_timeout_s:=1.0", "-p", "max_follower_deviation:=0.15"),
                         work / "push_policy.log")
    try:
        with ProbeNode("bench_faults_push") as probe:
            states = probe.collect(JointState, "/joint_states")
            trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
            status = probe.collect(String, "/policy/status")
            origins = probe.collect(JointState, "/policy_node/command_origin")
            pusher = probe.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", 10)
            wait_for(lambda: len(states) > 5, 120, what="sim joint_states")
            probe.call_until(Trigger, "/policy/start")
            wait_for(lambda: len(trajs) >= 20, 120, what="20 trajectories")
            if on_running is not None:
                on_running({"sim_node": sim.proc.pid, "policy_node": policy.proc.pid})

            def measured() -> np.ndarray:
                return joint_state_to_arrays(states[-1][1], spec.joint_names)[0]

            def push(target: np.ndarray, seconds: float, speed: float | None) -> None:
                start, t0 = measured(), time.monotonic()
                while time.monotonic() - t0 < seconds:
                    step = target - start if speed is None else np.clip(target - start, -speed * (time.monotonic() - t0),
                                                                        speed * (time.monotonic() - t0))
                    msg = make_trajectory(spec.joint_names, (start + step)[None, :], [0.02])
                    msg.header.frame_id = "pusher"
                    pusher.publish(msg)
                    time.sleep(0.01)

            lo, hi = spec.lower + 0.05, spec.upper - 0.05
            releases = []
            for k in range(pushes):
                q0 = measured()
                joint = k % 4
                offset = np.zeros(5)
                offset[joint] = 0.6 if q0[joint] < 0 else -0.6
                target = np.clip(q0 + offset, lo, hi)
                if k % 2 == 0:
                    push(target, 2.0, speed=1.0)            # slowly away, then held there
                else:
                    push(target, 0.3, speed=None)           # a jump, as fast as the servos go
                res.pushes += 1
                res.moved += int(np.abs(measured() - q0).max() > 0.3)
                releases.append(time.monotonic())
                time.sleep(1.5)                              # released: the node takes it on
            probe.call(Trigger, "/policy/stop")
            time.sleep(0.3)
            report = json.loads(status[-1][1].data) if status else {}
            res.replans, res.follower_limited = report.get("replans", 0), report.get("follower_limited_ticks", 0)
            origin_list = [(np.asarray(m.position), np.asarray(m.velocity)) for _, m in list(origins)]
            for _, msg in list(trajs):
                if msg.header.frame_id == "pusher":
                    continue
                _, times, pos = trajectory_to_arrays(msg)
                pair = [q for q, v in origin_list if np.allclose(q + v * times[0], pos[0], rtol=0, atol=1e-9)]
                if not pair:
                    continue
                over = min(float(np.max(np.abs(pos - q) - vmax * times[:, None])) for q in pair)
                res.checked += 1
                res.over_limit += int(over > 1e-9)
                res.worst = max(res.worst, over)
            js = list(states)
            t_rx = np.array([t for t, _ in js]) * 1e-9
            stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in js])
            q = np.array([joint_state_to_arrays(m, spec.joint_names)[0] for _, m in js])
            for r in releases:
                alone = (t_rx > r + 0.05) & (t_rx < r + 1.4)
                if alone.sum() > 2:
                    speed = np.abs(np.diff(q[alone], axis=0)) / np.maximum(np.diff(stamps[alone]), 1e-6)[:, None]
                    res.peak_speed = max(res.peak_speed, float(speed.max()))
        if not (policy.alive and sim.alive):
            res.failures.append("a node exited")
    finally:
        policy.stop()
        sim.stop()
    return res
