"""`sim expert`: the scripted demonstrator over ROS.

mode:=direct  commands <arm controller>/joint_trajectory and <gripper controller>/commands itself;
mode:=leader  acts as a software leader: streams sensor_msgs/JointState (arm joints + gripper joint,
              follower units) on expert/joint_states at leader_rate, for the teleop node to forward.
              Between episodes it mirrors the follower, so a teleop start check always passes.
Per-episode control: the expert/run_episode service (std_srvs/Trigger) plans from the current
sim/object_pose and runs one episode, answering success = sim/task_success at the end; with
episodes:=N the node itself runs N episodes (sim/reset before each), prints a summary and exits.
"""
from __future__ import annotations

import queue
import re
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

PARAMS = ParamTable("expert", [
    Param("robot", "so101", "arm: config/robots/<robot>.yaml"),
    Param("mode", "direct", "direct: command the follower's controllers; leader: stream expert/joint_states",
          choices=("direct", "leader")),
    Param("leader_rate", 50.0, "expert/joint_states rate in leader mode, Hz", bounds=(1.0, 1000.0)),
    Param("episodes", 0, "run this many episodes (sim/reset before each) and exit; 0: serve expert/run_episode",
          bounds=(0, 1_000_000)),
    Param("reset_on_run", False, "expert/run_episode calls sim/reset first"),
    Param("engaged_topic", "teleop_node/engaged",
          "leader mode: wait until this Bool is true (when it has publishers) before moving"),
    Param("leader_max_step", 0.25, "leader mode: largest joint change between two expert/joint_states messages, "
          "rad (a hand-held leader cannot teleport; teleop rejects reads that jump over safety.max_leader_jump)",
          bounds=(1e-6, 10.0)),
    Param("leader_hold", 1.0, "leader mode: mirror the follower this long before moving, so the teleop gate "
          "engages, s", bounds=(0.0, 60.0)),
    Param("settle_time", 0.5, "wait after the last stage before reading sim/task_success, s", bounds=(0.0, 60.0)),
    Param("velocity_scale", 0.0, "fraction of the joint velocity limits (0: the config/sim value)",
          bounds=(0.0, 1.0)),
    Param("timeout", 20.0, "seconds to wait for joint_states, object pose and services", bounds=(0.1, 3600.0)),
], summary="the scripted pick-and-place demonstrator, commanding the follower or streaming a software leader")


@dataclass
class _EpisodeRequest:
    """An expert/run_episode call, handed from the executor thread to the episode thread."""
    reply: Future                 # set to (success, message) by the episode thread


class ExpertNode(Node):
    """One node, one single-threaded executor (spun in a thread of its own by `serve`), episodes in
    the main thread.

    An episode takes seconds and waits on this node's own subscriptions, so it cannot run inside a
    callback of the executor that delivers them. The expert/run_episode callback is a coroutine:
    it queues the request and awaits a Future that the episode thread completes. The executor
    keeps serving the streams meanwhile (the service has a callback group of its own), and it only
    looks at the awaiting callback when it wakes for other work (or is woken by `executor.wake()`
    when the episode ends): no polling loop, no thread pool. A MultiThreadedExecutor would do the
    same at several times the CPU (rclpy rebuilds its wait set and thread-pool work per event), and
    a starved expert streams a leader that jumps.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("expert", **kwargs)
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from sim.config import load_sim_config
        from sim.expert import ScriptedExpert

        self.p = PARAMS.declare(self)
        cfg = load_sim_config(self.p["robot"])
        if self.p["velocity_scale"] > 0:
            cfg.expert["velocity_scale"] = float(self.p["velocity_scale"])
        self.spec = spec = cfg.spec
        self.expert = ScriptedExpert(cfg)
        self.names = spec.joint_names + [spec.gripper.joint]
        # reliable, depth 10 on every topic, as the sim and the controllers publish them: a lost
        # command or reset would be a silent failure
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.joints: np.ndarray | None = None
        self.js_stamp: float | None = None
        self.object_stamp = 0           # ns
        self.fresh_after = 0            # ns: the last reset's stamp
        self.object_pose: tuple[np.ndarray, np.ndarray] | None = None
        self.target_xy: np.ndarray | None = None
        self.success: bool | None = None
        self.counts = {"pose": 0, "success": 0}
        self.create_subscription(JointState, "joint_states", self._on_joints, qos)
        self.create_subscription(PoseStamped, "sim/object_pose", self._on_object, qos)
        self.create_subscription(PoseStamped, "sim/target_pose", self._on_target, qos)
        self.create_subscription(Bool, "sim/task_success", self._on_success, qos)
        self.pub_traj = self.create_publisher(JointTrajectory, f"{spec.arm_controller}/joint_trajectory", qos)
        self.pub_grip = self.create_publisher(Float64MultiArray, f"{spec.gripper_controller}/commands", qos)
        self.pub_leader = self.create_publisher(JointState, "expert/joint_states", qos)
        self.engaged: bool | None = None   # the teleop gate, as last reported
        self.sub_engaged = self.create_subscription(Bool, self.p["engaged_topic"],
                                                    lambda m: setattr(self, "engaged", bool(m.data)), qos)
        self.pub_result = self.create_publisher(Bool, "expert/episode_result", qos)
        self.reset_client = self.create_client(Trigger, "sim/reset")
        # its own callback group: an awaiting call holds no group the streams need (the node's
        # default group is mutually exclusive), and, reentrant, a second call is answered at once
        self.create_service(Trigger, "expert/run_episode", self._on_run, callback_group=ReentrantCallbackGroup())
        self.requests: queue.Queue[_EpisodeRequest] = queue.Queue()
        self.leader_ref: list = [None, None]
        self.leader_last: np.ndarray | None = None    # the last streamed leader pose
        self.leader_clock: float | None = None        # the time the leader's reference is sampled at
        self.leader_grip = 0.0     # (ActiveTrajectory, gripper value) while an episode runs
        if self.p["mode"] == "leader":
            self.create_timer(1.0 / float(self.p["leader_rate"]), self._stream_leader)
        self.busy = threading.Lock()
        self._ros_executor = SingleThreadedExecutor()
        self._running = False
        self._spin_thread = threading.Thread(target=self._spin, name="expert-executor", daemon=True)
        self.get_logger().info(f"expert ready: robot={spec.name} mode={self.p['mode']}")

    def _spin(self) -> None:
        while self._running and self.context.ok():
            try:
                self._ros_executor.spin_once(timeout_sec=0.1)
            except Exception:  # noqa: BLE001 - shutdown races end the loop
                if self._running and self.context.ok():
                    raise
                break

    # ---- inputs --------------------------------------------------------------------------
    def _on_joints(self, msg) -> None:
        from robot_common.conversions import joint_state_to_arrays

        try:
            q, _ = joint_state_to_arrays(msg, self.names)
        except (KeyError, ValueError) as e:
            self.get_logger().error(f"joint_states unusable: {e}", throttle_duration_sec=5.0)
            return
        with self.lock:
            self.joints = q
            self.js_stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def _on_object(self, msg) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        with self.lock:
            self.object_pose = (np.array([p.x, p.y, p.z]), np.array([o.w, o.x, o.y, o.z]))
            self.object_stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self.counts["pose"] += 1

    def _on_target(self, msg) -> None:
        with self.lock:
            self.target_xy = np.array([msg.pose.position.x, msg.pose.position.y])

    def _on_success(self, msg) -> None:
        with self.lock:
            self.success = bool(msg.data)
            self.counts["success"] += 1

    # ---- helpers -------------------------------------------------------------------------
    def now(self) -> float:
        """The follower's clock: the latest joint_states stamp. The sim stamps in sim time, so stages
        keep their durations even when a loaded machine slows the sim below real time."""
        if self.js_stamp is not None:
            return self.js_stamp
        return self.get_clock().now().nanoseconds * 1e-9

    def sleep(self, seconds: float) -> None:
        """Sleep in the node's clock (sim time when use_sim_time is set)."""
        end = self.now() + seconds
        while self.now() < end and self.context.ok():
            time.sleep(0.005)

    def wait(self, predicate, what: str) -> None:
        deadline = time.monotonic() + float(self.p["timeout"])
        while not predicate():
            if time.monotonic() > deadline or not self.context.ok():
                raise TimeoutError(f"expert: no {what} after {self.p['timeout']} s")
            time.sleep(0.01)

    def wait_settled(self, q_target: np.ndarray | None, duration: float, tol: float = 0.02) -> None:
        """Closed-loop guard on top of the timed plan: the arm at the stage's goal and the gripper at
        rest before the next stage (a loaded machine may run the sim slower than the plan's clock)."""
        deadline = time.monotonic() + 2.0 * duration + 2.0
        last = None
        while time.monotonic() < deadline and self.context.ok():
            with self.lock:
                q = self.joints.copy()
            arm_ok = q_target is None or np.max(np.abs(q[:-1] - q_target)) < tol
            grip_ok = last is not None and abs(q[-1] - last) < 1e-3
            if arm_ok and grip_ok:
                return
            last = q[-1]
            time.sleep(0.05)

    def reset_sim(self) -> str:
        from std_srvs.srv import Trigger

        if not self.reset_client.wait_for_service(timeout_sec=float(self.p["timeout"])):
            raise TimeoutError("expert: service sim/reset not available")
        fut = self.reset_client.call_async(Trigger.Request())
        self.wait(fut.done, "answer from sim/reset")
        message = fut.result().message
        m = re.search(r"stamp (\d+)", message)
        if m:   # poses published before the reset may still be in flight: wait for the new scene's
            self.fresh_after = int(m.group(1))
        return message

    def _stream_leader(self) -> None:
        from robot_common.conversions import make_joint_state

        ref, grip = self.leader_ref
        if ref is None:                     # idle: mirror the follower
            self.leader_clock = None
            with self.lock:
                q = None if self.joints is None else self.joints.copy()
            if q is None:
                return
        else:
            # the gripper moves like a hand-held leader's would: slewed, never a jump
            step = 0.8 * self.spec.gripper.max_velocity / float(self.p["leader_rate"])
            self.leader_grip += float(np.clip(grip - self.leader_grip, -step, step))
            # After a stall (a busy CPU delays this timer or joint_states) the motion resumes where it
            # left off, at most 1.5 periods further on: a hand-held leader is late, it does not teleport.
            now = self.now()
            last = now if self.leader_clock is None else self.leader_clock
            self.leader_clock = min(now, last + 1.5 / float(self.p["leader_rate"]))
            arm, _ = ref.sample(self.leader_clock)
            q = np.append(arm, self.leader_grip)
        if self.leader_last is not None:
            # the last guard (a reset follower while mirroring): catch up over a few messages
            step = float(self.p["leader_max_step"])
            q = self.leader_last + np.clip(q - self.leader_last, -step, step)
        self.leader_last = q
        self.pub_leader.publish(make_joint_state(self.names, q, stamp_ns=self.get_clock().now().nanoseconds))

    # ---- the episode ---------------------------------------------------------------------
    def run_episode(self) -> tuple[bool, str]:
        from std_msgs.msg import Bool, Float64MultiArray

        from robot_common.conversions import make_trajectory

        # plan from a pose published after the last reset (ours, or any reset answered before this
        # call: the sim's joint_states stamp at call time bounds it) and after this call began
        n = self.counts["pose"]
        after = max(self.fresh_after, int((self.js_stamp or 0.0) * 1e9))
        self.wait(lambda: self.joints is not None and self.target_xy is not None and self.counts["pose"] > n
                  and self.object_stamp >= after, "joint_states / a fresh sim/object_pose / sim/target_pose")
        with self.lock:
            q0 = self.joints.copy()
            cube_pos, cube_quat = self.object_pose
            target = self.target_xy.copy()
        stages = self.expert.plan(q0[:-1], cube_pos, cube_quat, target)
        leader = self.p["mode"] == "leader"
        if not leader:   # a command published before discovery completes would be lost
            self.wait(lambda: self.pub_traj.get_subscription_count() > 0 and self.pub_grip.get_subscription_count() > 0,
                      "subscriber on the arm and gripper command topics")
        if leader:
            self.sleep(float(self.p["leader_hold"]))
            # moving before a teleop node has engaged would leave its gate behind (misaligned)
            if self.count_publishers(self.sub_engaged.topic_name) > 0:
                self.wait(lambda: self.engaged is True, f"{self.sub_engaged.topic_name} to report true")
            with self.lock:
                q0 = self.joints.copy()
        q_ref, grip = q0[:-1], float(q0[-1])
        self.leader_grip = grip
        log = self.get_logger()
        for st in stages:
            if st.gripper is not None:
                grip = float(st.gripper)
                if not leader:
                    self.pub_grip.publish(Float64MultiArray(data=[grip]))
            if st.q is not None:
                if leader:
                    self.leader_ref = [self.expert.reference(st, q_ref, self.now()), grip]
                else:
                    z = np.zeros((1, self.spec.dof))
                    self.pub_traj.publish(make_trajectory(self.spec.joint_names, [st.q], [st.duration], z, z))
                q_ref = st.q
            elif leader:
                self.leader_ref = [self.leader_ref[0] or self.expert.reference(st, q_ref, self.now()), grip]
            log.info(f"stage {st.name}: {st.duration:.2f} s")
            self.sleep(st.duration + 0.1)
            self.wait_settled(st.q, st.duration)
        self.sleep(float(self.p["settle_time"]))
        n = self.counts["success"]
        self.wait(lambda: self.counts["success"] > n, "sim/task_success")
        self.leader_ref = [None, None]
        ok = bool(self.success)
        self.pub_result.publish(Bool(data=ok))
        return ok, f"{'success' if ok else 'failure'}: cube at {np.round(self.object_pose[0], 3).tolist()}"

    async def _on_run(self, request, response):
        """expert/run_episode: queued for the episode thread; the reply waits for its result without
        holding the executor (see the class docstring)."""
        if self.p["episodes"] > 0:
            response.success, response.message = False, "this expert runs its own episodes (episodes > 0)"
            return response
        if not self.busy.acquire(blocking=False):   # released by the episode thread when it is done
            response.success, response.message = False, "an episode is already running"
            return response
        job = _EpisodeRequest(Future())
        self.requests.put(job)
        response.success, response.message = await job.reply
        return response

    def _run_requested(self, job: _EpisodeRequest) -> None:
        try:   # self.busy is held: _on_run took it
            if self.p["reset_on_run"]:
                self.reset_sim()
            result = self.run_episode()
        except Exception as e:  # noqa: BLE001 - reported to the caller, the node keeps serving
            self.leader_ref = [None, None]
            result = (False, f"{type(e).__name__}: {e}")
        finally:
            self.busy.release()
        self.get_logger().info(f"run_episode: {result[1]}")
        job.reply.set_result(result)
        self._ros_executor.wake()   # resume the awaiting service callback now

    def serve(self) -> int:
        """What run_node spins: the executor in its own thread, episodes in this (the main) thread:
        `episodes` of them, then the exit code (0: all succeeded), or expert/run_episode requests
        until shutdown."""
        self._ros_executor.add_node(self)
        self._running = True
        self._spin_thread.start()
        n = int(self.p["episodes"])
        if n <= 0:
            while self.context.ok():
                try:
                    job = self.requests.get(timeout=0.1)
                except queue.Empty:
                    continue
                self._run_requested(job)
            return 0
        log = self.get_logger()
        wins = 0
        for k in range(n):
            with self.busy:
                info = self.reset_sim()
                try:
                    ok, msg = self.run_episode()
                except Exception as e:  # noqa: BLE001 - one bad episode does not end the run
                    ok, msg = False, f"{type(e).__name__}: {e}"
            wins += ok
            log.info(f"episode {k + 1}/{n} ({info}): {msg}")
        log.info(f"expert: {wins}/{n} episodes succeeded")
        print(f"EXPERT_RESULT {wins}/{n}", flush=True)
        return 0 if wins == n else 1

    def destroy_node(self) -> None:
        self._running = False        # join the executor thread before the node goes from under it
        if self._spin_thread.is_alive():
            self._spin_thread.join(timeout=2.0)
        self._ros_executor.shutdown(timeout_sec=1.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(ExpertNode, args, spin=ExpertNode.serve, name="expert")


if __name__ == "__main__":
    sys.exit(main())
