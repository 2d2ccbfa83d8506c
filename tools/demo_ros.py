"""ROS side of the end-to-end demo: node processes, service calls, the recording and evaluation loops.

Every node runs in its own process over real DDS (LOCALHOST discovery, the run's ROS_DOMAIN_ID),
exactly as `ros2 launch` would start them; this module only starts them and calls their services.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_common.testing import NodeProcess, ProbeNode, ros_env, wait_for


def node_cmd(module: str, **params) -> list[str]:
    """`python -m <module> --ros-args -p k:=v ...` (what the console script runs)."""
    cmd = [sys.executable, "-m", module, "--ros-args"]
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list | tuple):
            v = "[" + ",".join(f"'{x}'" if isinstance(x, str) else str(x) for x in v) + "]"
        cmd += ["-p", f"{k}:={v}"]
    return cmd


class Stack:
    """Node processes that live for one stage; logs under <logs>/<name>.log; all stopped on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, NodeProcess] = {}
        self._exit = ExitStack()

    def start(self, name: str, module: str, **params) -> NodeProcess:
        proc = NodeProcess(node_cmd(module, **params), self.logs / f"{name}.log", ros_env())
        self.procs[name] = proc
        self._exit.callback(proc.stop)
        return proc

    def check_alive(self) -> None:
        dead = [n for n, p in self.procs.items() if not p.alive]
        if dead:
            tails = "\n".join(f"--- {n} ({self.procs[n].log_path}):\n{self.procs[n].log()[-1500:]}" for n in dead)
            raise RuntimeError(f"node process(es) {dead} exited unexpectedly\n{tails}")

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self._exit.close()


@dataclass(frozen=True)
class SimSettings:
    """The simulated arm a stage runs against (sim_node parameters)."""
    robot: str
    seed: int                  # of the reset sequence: the k-th reset of a seed is always the same
    width: int                 # camera images (the demo policy's input size)
    height: int
    fps: float                 # camera rate, sim time

    def params(self) -> dict:
        return {"robot": self.robot, "seed": self.seed, "image_width": self.width, "image_height": self.height,
                "camera_rate": self.fps}


def trigger(probe: ProbeNode, name: str, timeout: float = 30.0, check: bool = True) -> tuple[bool, str]:
    from std_srvs.srv import Trigger

    res = probe.call(Trigger, name, timeout=timeout)
    if check and not res.success:
        raise RuntimeError(f"{name} failed: {res.message}")
    return res.success, res.message


def set_bool(probe: ProbeNode, name: str, value: bool) -> None:
    from std_srvs.srv import SetBool

    res = probe.call(SetBool, name, SetBool.Request(data=value))
    if not res.success:
        raise RuntimeError(f"{name} failed: {res.message}")


@dataclass
class RecordResult:
    saved: int = 0
    discarded: int = 0
    durations: list[float] = field(default_factory=list)


def record_episodes(sim: SimSettings, session: Path, episodes: int, *, task: str, logs: Path,
                    progress: Callable[[str], None], through_teleop: bool = True) -> RecordResult:
    """The scripted expert demonstrates through the teleop node (a `topic` leader), or commands the
    follower directly; the recorder writes one bag per episode into `session`; failed
    demonstrations are discarded and re-recorded. Node logs go to `logs`."""
    from std_srvs.srv import Trigger

    robot = sim.robot
    result = RecordResult()
    with ProbeNode("demo_recording") as probe, Stack(logs) as stack:  # nodes stop first
        stack.start("sim", "sim.sim_node", **sim.params())
        if through_teleop:  # a software leader on a busy CPU can pause: tolerate 1.5 s before a fault
            stack.start("teleop", "teleop.teleop_node", robot=robot,
                        **{"leader.type": "topic", "leader.stale_after": 1.5})
        stack.start("expert", "sim.expert_node", robot=robot, mode="leader" if through_teleop else "direct")
        stack.start("recorder", "recorder.recorder_node", setup="sim", robot=robot, session_dir=str(session),
                    task=task, operator="scripted expert", robot_type=robot)
        for name in ("/sim/reset", "/expert/run_episode", "/recorder/start"):
            probe.node.create_client(Trigger, name).wait_for_service(60)
        attempts = 0
        while result.saved < episodes:
            stack.check_alive()
            attempts += 1
            if attempts > 2 * episodes + 5:
                raise RuntimeError(f"the expert failed too often ({result.discarded} discarded demonstrations)")
            trigger(probe, "/sim/reset")
            time.sleep(0.5)  # teleop re-engages on the reset follower before recording starts
            trigger(probe, "/recorder/start")
            t0 = time.monotonic()
            try:  # a machine too loaded to keep real time slows every stage down
                ok, message = trigger(probe, "/expert/run_episode", timeout=300.0, check=False)
            except TimeoutError as e:
                ok, message = False, str(e)
            result.durations.append(time.monotonic() - t0)
            set_bool(probe, "/recorder/set_success", ok)
            if ok:
                trigger(probe, "/recorder/save")
                result.saved += 1
            else:
                trigger(probe, "/recorder/discard")
                result.discarded += 1
            progress(f"episode {result.saved}/{episodes} ({'saved' if ok else 'discarded: ' + message})")
        time.sleep(1.0)  # the recorder finishes the last bag in its writer thread
    return result


def start_policy(probe: ProbeNode, timeout: float = 60.0) -> None:
    """/policy/start, retried while the node still waits for its first observations."""
    deadline = time.monotonic() + timeout
    while True:
        ok, message = trigger(probe, "/policy/start", check=False)
        if ok:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"/policy/start failed: {message}")
        time.sleep(0.2)


@dataclass
class EvalResult:
    successes: list[bool] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    max_step: float = 0.0             # largest command step seen between consecutive trajectory messages
    out_of_limits: int = 0            # commanded points outside the joint limits (must stay 0)
    commands: int = 0
    outcomes: list[str] = field(default_factory=list)   # what happened to the cube, per episode
    points_per_trajectory: list[int] = field(default_factory=list)  # distinct point counts seen

    @property
    def rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else 0.0


def evaluate_policy(sim: SimSettings, checkpoint: Path, episodes: int, *, timeout_s: float, logs: Path,
                    video: Path | None, progress: Callable[[str], None],
                    node_params: dict | None = None) -> EvalResult:
    """Run the policy node (from `checkpoint`, with `node_params` on top of its defaults) against the
    sim on `episodes` seeded resets, each for at most `timeout_s`; success = sim/task_success. The
    first episode's front camera goes to `video` (None: no video). Node logs go to `logs`."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import Bool
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import image_to_numpy
    from robot_common.spec import load_robot_spec

    spec = load_robot_spec(sim.robot)
    result = EvalResult()
    frames: list[np.ndarray] = []
    with ProbeNode("demo_evaluation") as probe, Stack(logs) as stack:  # nodes stop first
        stack.start("sim", "sim.sim_node", **sim.params())
        stack.start("policy", "policy.policy_node", **(node_params or {}), robot=sim.robot, checkpoint=str(checkpoint))
        success = probe.collect(Bool, "/sim/task_success")
        poses = probe.collect(PoseStamped, "/sim/object_pose")
        trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
        recording = {"on": False}
        starts: list[int] = []  # index of each episode's first trajectory: steps are measured within episodes

        def on_image(msg) -> None:
            if recording["on"]:
                frames.append(image_to_numpy(msg))
        probe.node.create_subscription(Image, "/cameras/front/image_raw", on_image, 5)
        from std_srvs.srv import Trigger

        for name in ("/sim/reset", "/policy/start", "/policy/stop"):
            probe.node.create_client(Trigger, name).wait_for_service(120)
        for i in range(episodes):
            stack.check_alive()
            trigger(probe, "/sim/reset")
            time.sleep(0.3)
            n0, p0 = len(success), len(poses)
            recording["on"] = video is not None and i == 0
            t0 = time.monotonic()
            starts.append(len(trajs))
            start_policy(probe)
            try:
                wait_for(lambda n0=n0: any(m.data for _, m in success[n0:]), timeout=timeout_s, what="task success")
                ok = True
            except TimeoutError:
                ok = False
            result.times.append(time.monotonic() - t0)
            trigger(probe, "/policy/stop", check=False)
            recording["on"] = False
            result.successes.append(ok)
            result.outcomes.append("placed" if ok else cube_outcome([m for _, m in poses[p0:]]))
            progress(f"evaluation {i + 1}/{episodes}: {'success' if ok else 'failure: ' + result.outcomes[-1]}")
        count_commands(result, [m for _, m in trajs], set(starts), spec)
    if video is not None and frames:
        write_mp4(frames, video, sim.fps)
    return result


def count_commands(result: EvalResult, trajectories: list, episode_starts: set[int], spec) -> None:
    """Commands, points outside the joint limits and the largest step between consecutive commands
    within an episode (the index of each episode's first trajectory is in `episode_starts`)."""
    from robot_common.conversions import trajectory_to_arrays

    prev = None
    for k, msg in enumerate(trajectories):
        if k in episode_starts:
            prev = None  # the sim reset moved the arm; the policy starts from the new pose
        names, _, pos = trajectory_to_arrays(msg)
        pos = pos[:, [names.index(n) for n in spec.joint_names]]
        result.commands += 1
        if len(pos) not in result.points_per_trajectory:
            result.points_per_trajectory = sorted([*result.points_per_trajectory, len(pos)])
        result.out_of_limits += int(np.sum((pos < spec.lower - 1e-6) | (pos > spec.upper + 1e-6)))
        if prev is not None:
            result.max_step = max(result.max_step, float(np.max(np.abs(pos[0] - prev))))
        prev = pos[0]


def cube_outcome(poses: list) -> str:
    """What a failed episode did to the cube, from its /sim/object_pose messages."""
    if len(poses) < 2:
        return "no cube pose received"
    xyz = np.array([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in poses])
    if np.max(np.linalg.norm(xyz - xyz[0], axis=1)) < 0.01:
        return "cube never moved (missed grasp or no attempt)"
    lifted = np.max(xyz[:, 2]) > xyz[0, 2] + 0.02
    if xyz[-1, 2] > xyz[0, 2] + 0.01:
        return "cube still held at the timeout"
    return ("cube lifted, then dropped or placed outside the target" if lifted
            else "cube pushed, never lifted") + f" (ends at {np.round(xyz[-1, :2], 3).tolist()})"


def write_mp4(frames: list[np.ndarray], path: Path, fps: float) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
