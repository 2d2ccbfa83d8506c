"""`sim sim_node`: MuJoCo arms behind ros2_control's topic interfaces.

Publishes joint_states, cameras/<name>/{image_raw,camera_info}, tactile/<finger>/..., sim/task_success,
sim/object_pose, sim/target_pose (and /clock when not real-time); subscribes
<arm controller>/joint_trajectory and <gripper controller>/commands; serves sim/reset.
Physics runs in the main thread; the executor runs in a background thread and hands commands over
through a queue, so callbacks never touch MuJoCo state. All names are relative (a namespace moves
the whole arm), except /clock.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from rclpy.node import Node

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable


@dataclass
class _Request:
    kind: str
    payload: object = None
    done: threading.Event | None = None
    result: object = None


PARAMS = ParamTable("sim_node", [
    Param("robot", "so101", "arm: config/robots/<robot>.yaml"),
    Param("scene", "pick_place", "task scene (pick_place: a cube to place on the target disc)",
          choices=("pick_place",)),
    Param("sim_config", "", "explicit config/sim YAML (default: config/sim/<robot>.yaml)"),
    # dynamic typing lets `cameras:=[]` (an empty, untyped list) through
    Param("cameras", ["front", "wrist"], "camera names to render; [''] or [] for none", dynamic_typing=True),
    Param("image_width", 320, "camera image width, px", bounds=(1, 4096)),
    Param("image_height", 240, "camera image height, px", bounds=(1, 4096)),
    Param("camera_rate", 30.0, "camera frame rate in sim time, Hz (0: no images)", bounds=(0.0, 1000.0)),
    Param("joint_state_rate", 100.0, "joint_states publish rate in sim time, Hz", bounds=(1.0, 5000.0)),
    Param("tactile", True, "publish fingertip contact topics under tactile/left_finger, tactile/right_finger"),
    Param("tactile_rate", 30.0, "tactile publish rate, Hz (0: none)", bounds=(0.0, 1000.0)),
    Param("tactile_width", 64, "tactile image width, px", bounds=(1, 1024)),
    Param("tactile_height", 48, "tactile image height, px", bounds=(1, 1024)),
    Param("status_rate", 10.0, "sim/task_success and object pose publish rate, Hz", bounds=(0.1, 1000.0)),
    Param("physics_rate", 0.0, "physics steps per second (0: the config/sim value, 500 Hz)", bounds=(0.0, 100000.0)),
    Param("seed", 0, "seed of the episode sequence: the k-th reset gives the same cube pose for a seed"),
    Param("real_time", True, "pace the sim to the wall clock (false: as fast as possible, /clock published)"),
    Param("real_time_factor", 1.0, "target sim seconds per wall second when real_time is true",
          bounds=(0.01, 100.0)),
    Param("publish_clock", False, "publish rosgraph_msgs/Clock on /clock (always on when real_time is false)"),
    Param("max_sim_time", 0.0, "exit after this much sim time, s (0: run until shut down)", bounds=(0.0, 1e9)),
], summary="MuJoCo arm behind ros2_control's topic interfaces, with cameras, tactile pads and the pick-and-place task")


class SimNode(Node):
    """The simulator: physics in the main thread (`run`, what run_node spins), ROS callbacks in an
    executor thread that hands commands over through a queue, so callbacks never touch MuJoCo."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim_node", **kwargs)
        from geometry_msgs.msg import PoseStamped, WrenchStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool, Float32, Float64MultiArray
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from sim.config import load_sim_config
        from sim.env import TACTILE_NAMES, SimEnv

        self.p = p = PARAMS.declare(self)
        cams = [c for c in p["cameras"] if c]
        cfg = load_sim_config(p["robot"], p["sim_config"] or None)
        timestep = 1.0 / p["physics_rate"] if p["physics_rate"] > 0 else None
        self.env = env = SimEnv(cfg, cameras=cams, seed=int(p["seed"]), timestep=timestep)
        self.cameras = cams
        self.spec = spec = env.spec
        self.real_time = bool(p["real_time"])
        self.w, self.h = int(p["image_width"]), int(p["image_height"])
        self.queue: queue.Queue[_Request] = queue.Queue()

        # State and commands reliable (a lost trajectory or reset would be a silent failure), as
        # ros2_control's controllers publish them; images reliable with depth 2: a subscriber that
        # asks for sensor-data QoS (best effort) still matches, and a slow one costs memory for two.
        reliable10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_js = self.create_publisher(JointState, "joint_states", reliable10)
        self.pub_img = {c: self.create_publisher(Image, f"cameras/{c}/image_raw", images) for c in cams}
        self.pub_info = {c: self.create_publisher(CameraInfo, f"cameras/{c}/camera_info", images) for c in cams}
        self.intrinsics = {c: env.camera_intrinsics(c, self.w, self.h) for c in cams}
        self.tactile_on = bool(p["tactile"])
        self.pub_tac = {}
        if self.tactile_on:
            for t in TACTILE_NAMES:
                self.pub_tac[t] = (
                    self.create_publisher(WrenchStamped, f"tactile/{t}/wrench", reliable10),
                    self.create_publisher(Float32, f"tactile/{t}/contact_area", reliable10),
                    self.create_publisher(Image, f"tactile/{t}/contact_mask", images),
                    self.create_publisher(Image, f"tactile/{t}/image_raw", images),
                )
        self.pub_success = self.create_publisher(Bool, "sim/task_success", reliable10)
        self.pub_obj = self.create_publisher(PoseStamped, "sim/object_pose", reliable10)
        self.pub_target = self.create_publisher(PoseStamped, "sim/target_pose", reliable10)
        self.clock_on = bool(p["publish_clock"]) or not self.real_time
        if self.clock_on:
            from rosgraph_msgs.msg import Clock

            self.pub_clock = self.create_publisher(Clock, "/clock", reliable10)  # ROS-wide by convention
        self.create_subscription(JointTrajectory, f"{spec.arm_controller}/joint_trajectory",
                                 lambda m: self.queue.put(_Request("trajectory", m)), reliable10)
        self.create_subscription(Float64MultiArray, f"{spec.gripper_controller}/commands",
                                 lambda m: self.queue.put(_Request("gripper", m)), reliable10)
        self.create_service(Trigger, "sim/reset", self._on_reset)
        # sim time -> ROS stamps: stamp_ns = offset_ns + sim_time * 1e9
        now_ns = self.get_clock().now().nanoseconds
        self.offset_ns = now_ns - int(env.time * 1e9) if self.real_time else 0
        self._ros_executor = SingleThreadedExecutor()
        self._running = False
        self._spin_thread = threading.Thread(target=self._spin, name="sim-executor", daemon=True)
        self.stats = {"frames": 0, "dropped_frames": 0, "rejected": 0, "accepted": 0}
        self.get_logger().info(
            f"sim ready: robot={spec.name} cameras={cams} {self.w}x{self.h}@{p['camera_rate']} Hz "
            f"physics {1 / env.dt:.0f} Hz, joint_states {p['joint_state_rate']} Hz, "
            f"{'real time' if self.real_time else 'as fast as possible'}, seed {p['seed']}")

    def _spin(self) -> None:
        while self._running and self.context.ok():
            try:
                self._ros_executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutdown races end the loop
                if self._running and self.context.ok():
                    raise
                break

    def _on_reset(self, request, response):
        req = _Request("reset", done=threading.Event())
        self.queue.put(req)
        if not req.done.wait(timeout=30.0):
            response.success, response.message = False, "sim loop did not answer within 30 s"
        else:
            response.success, response.message = True, req.result
        return response

    def stamp_ns(self) -> int:
        return self.offset_ns + int(round(self.env.time * 1e9))

    # ---- command handling (main thread) ---------------------------------------------------
    def _drain(self) -> None:
        from sim.controllers import GripperCommandError
        from sim.ros_convert import goal_from_msg
        from sim.trajectory import TrajectoryRejected

        log = self.get_logger()
        while True:
            try:
                req = self.queue.get_nowait()
            except queue.Empty:
                return
            if req.kind == "trajectory":
                try:
                    self.env.submit_trajectory(goal_from_msg(req.payload, self.offset_ns))
                    self.stats["accepted"] += 1
                except TrajectoryRejected as e:
                    self.stats["rejected"] += 1
                    log.error(f"trajectory rejected: {e}")
            elif req.kind == "gripper":
                try:
                    self.env.gripper.command(req.payload.data)
                except GripperCommandError as e:
                    log.error(f"gripper command rejected: {e}")
            elif req.kind == "reset":
                task = self.env.reset()
                stamp = self.stamp_ns()
                self.publish_status(stamp)     # the new scene is on sim/object_pose before the reply
                req.result = (f"episode {self.env.episode}: cube at ({task.cube_xy[0]:.3f}, {task.cube_xy[1]:.3f}) "
                              f"yaw {task.cube_yaw:.3f}, target ({task.target_xy[0]:.3f}, {task.target_xy[1]:.3f}); "
                              f"stamp {stamp}")
                log.info(f"reset: {req.result}")
                req.done.set()

    # ---- publishing -------------------------------------------------------------------------
    def publish_joint_states(self, stamp: int) -> None:
        from robot_common.conversions import make_joint_state

        names, q, qd, tau = self.env.joint_state()
        self.pub_js.publish(make_joint_state(names, q, qd, tau, stamp_ns=stamp))
        if self.clock_on:
            from rosgraph_msgs.msg import Clock

            from robot_common.conversions import ns_to_stamp

            self.pub_clock.publish(Clock(clock=ns_to_stamp(stamp)))

    def publish_cameras(self, stamp: int) -> None:
        from robot_common.conversions import numpy_to_image
        from sim.ros_convert import camera_info_msg

        for c in self.cameras:
            frame = f"{c}_optical_frame"
            img = self.env.render(c, self.w, self.h)
            self.pub_img[c].publish(numpy_to_image(img, "rgb8", stamp_ns=stamp, frame_id=frame))
            self.pub_info[c].publish(camera_info_msg(self.intrinsics[c], self.w, self.h, stamp, frame))
        self.stats["frames"] += 1

    def publish_tactile(self, stamp: int) -> None:
        from std_msgs.msg import Float32

        from robot_common.conversions import numpy_to_image
        from sim.ros_convert import wrench_msg
        from sim.tactile import render_contact

        tw, th = int(self.p["tactile_width"]), int(self.p["tactile_height"])
        for name, reading in self.env.tactile().items():
            pw, pa, pm, pi = self.pub_tac[name]
            frame = f"{name}_pad"
            pw.publish(wrench_msg(reading.force, stamp, frame))
            pa.publish(Float32(data=float(reading.area)))
            mask, img = render_contact(reading, tw, th)
            pm.publish(numpy_to_image(mask, "mono8", stamp_ns=stamp, frame_id=frame))
            pi.publish(numpy_to_image(img, "rgb8", stamp_ns=stamp, frame_id=frame))

    def publish_status(self, stamp: int) -> None:
        from std_msgs.msg import Bool

        from sim.ros_convert import pose_stamped_msg

        self.pub_success.publish(Bool(data=self.env.task_success()))
        pos, quat = self.env.cube_pose()
        self.pub_obj.publish(pose_stamped_msg(pos, quat, stamp))
        t = self.env.task
        self.pub_target.publish(pose_stamped_msg(np.array([*t.target_xy, 0.0]), np.array([1.0, 0, 0, 0]), stamp))

    # ---- main loop --------------------------------------------------------------------------
    def run(self) -> None:
        """The physics loop (main thread) until shutdown or max_sim_time; prints SIM_STATS at the end
        (also after Ctrl-C: the figures of the run so far)."""
        env, p = self.env, self.p
        self._ros_executor.add_node(self)
        self._running = True
        self._spin_thread.start()
        js_period = 1.0 / float(p["joint_state_rate"])
        substeps = max(1, int(round(js_period / env.dt)))
        cam_period = 1.0 / float(p["camera_rate"]) if self.cameras and p["camera_rate"] > 0 else None
        tac_period = 1.0 / float(p["tactile_rate"]) if self.tactile_on and p["tactile_rate"] > 0 else None
        status_period = 1.0 / float(p["status_rate"])
        next_cam = next_tac = next_status = env.time
        rtf = float(p["real_time_factor"])
        wall0, sim0 = time.monotonic(), env.time
        wall_start = wall0
        max_t = float(p["max_sim_time"])
        log = self.get_logger()
        try:
            while self.context.ok():
                self._drain()
                env.step(substeps)
                stamp = self.stamp_ns()
                self.publish_joint_states(stamp)
                now = env.time
                if cam_period and now >= next_cam:
                    next_cam += cam_period
                    lag = (time.monotonic() - wall0) - (now - sim0) / rtf if self.real_time else 0.0
                    if lag > max(0.1, 2 * cam_period):   # far behind the wall clock: keep physics real time
                        self.stats["dropped_frames"] += 1
                    else:
                        self.publish_cameras(stamp)
                if tac_period and now >= next_tac:
                    next_tac += tac_period
                    self.publish_tactile(stamp)
                if now >= next_status:
                    next_status += status_period
                    self.publish_status(stamp)
                if max_t and now - sim0 >= max_t:
                    break
                if self.real_time:
                    ahead = (now - sim0) / rtf - (time.monotonic() - wall0)
                    if ahead > 0:
                        time.sleep(ahead)
                    elif ahead < -0.25:   # far behind (loaded machine): re-anchor instead of bursting
                        # stamps keep following sim time (no jumps), so they now lag the wall clock
                        wall0 -= ahead
                        self.stats["lag"] = self.stats.get("lag", 0.0) - ahead
                        log.warn(f"sim fell {-ahead:.2f} s behind real time (stamps lag the wall clock by "
                                 f"{self.stats['lag']:.2f} s in all)", throttle_duration_sec=5.0)
        finally:
            self.report(time.monotonic() - wall_start, env.time - sim0)

    def report(self, wall: float, sim: float) -> None:
        """One machine-readable line: what bench/bench_sim.py reads."""
        import json

        stats = dict(self.stats, sim_time=round(sim, 3), wall_time=round(wall, 3),
                     real_time_factor=round(sim / wall, 3) if wall > 0 else None,
                     camera_fps_wall=round(self.stats["frames"] / wall, 2) if wall > 0 else None)
        print("SIM_STATS " + json.dumps(stats), flush=True)

    def destroy_node(self) -> None:
        self._running = False        # join the executor thread before the node goes from under it
        if self._spin_thread.is_alive():
            self._spin_thread.join(timeout=2.0)
        self._ros_executor.shutdown(timeout_sec=1.0)
        self.env.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # headless offscreen rendering unless the user chose (MUJOCO_GL=egl on a GPU machine)
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    return run_node(SimNode, args, spin=SimNode.run, name="sim_node")


if __name__ == "__main__":
    sys.exit(main())
