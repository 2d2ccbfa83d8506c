"""`policy policy_node`: runs a trained ACT checkpoint and streams joint trajectories.

Subscribes /joint_states, the cameras its checkpoint was trained on (/cameras/<name>/image_raw)
tactile vectors (/tactile/<name>/wrench or contact_area) and object poses (/sim/<name>_pose); publishes
/arm_controller/joint_trajectory (several future points, so the JTC interpolates) and
/gripper_controller/commands; serves /policy/start and /policy/stop; reports on /policy/status
(std_msgs/String, JSON). Inference runs in a worker thread; the control timer never waits on it.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

POSE_PREFIX = "observation.pose."
PARAMS = {
    "robot": ("so101", "robot name in config/robots (fr3, rm65, rm75, so101)"),
    "checkpoint": ("", "checkpoint folder: ours (policy train) or a LeRobot ACT pretrained_model"),
    "device": ("cpu", "torch device for inference (cpu, cuda, cuda:1)"),
    "torch_threads": (2, "torch intra-op threads for inference (0 = torch default)"),
    "control_rate_hz": (30.0, "command rate, Hz"),
    "execution": ("ensemble", "ensemble: temporal ensembling; chunk: chunk by chunk with overlap blend"),
    "ensemble_coeff": (0.01, "temporal ensembling k: weights exp(-k i), i = 0 for the oldest chunk"),
    "n_action_steps": (0, "chunk mode: steps executed from each chunk (0 = checkpoint's n_action_steps)"),
    "overlap_steps": (5, "chunk mode: steps blended linearly from the old into the new chunk"),
    "trajectory_points": (5, "future points per JointTrajectory (time_from_start k / rate)"),
    "camera_topic_template": ("/cameras/{name}/image_raw", "image topic for feature observation.images.<name>"),
    "camera_remap": ([""], "'<feature camera>=<camera name or /full/topic>' entries when names differ"),
    "tactile_topic_template": ("/tactile/{name}", "prefix of tactile topics for observation.tactile.<name>"),
    "pose_topic_template": ("/sim/{name}_pose", "geometry_msgs/PoseStamped topic for feature observation.pose.<name> "
                            "(an object tracker's on hardware, e.g. /tracker/{name}/pose)"),
    "joint_states_topic": ("/joint_states", "follower joint state topic"),
    "stale_timeout_s": (0.5, "hold position when any input is older than this, s"),
    "velocity_scale": (0.5, "fraction of the robot's joint velocity limits allowed per step"),
    "limit_margin": (0.01, "distance kept from every joint limit (rad or m)"),
    "autostart": (False, "start acting as soon as every input is there (no /policy/start call)"),
}


def camera_topics(image_keys: list[str], template: str, remap: list[str]) -> dict[str, str]:
    """feature key -> topic, e.g. observation.images.front -> /cameras/front/image_raw."""
    table = {}
    for item in remap:
        if not item:
            continue
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise ValueError(f"camera_remap entry '{item}' is not '<feature camera>=<camera or /topic>'")
        table[src.strip()] = dst.strip()
    unknown = set(table) - {k.split(".")[-1] for k in image_keys}
    if unknown:
        raise ValueError(f"camera_remap names cameras the checkpoint does not use: {sorted(unknown)}")
    out = {}
    for key in image_keys:
        name = key.split(".")[-1]
        target = table.get(name, name)
        out[key] = target if target.startswith("/") else template.format(name=target)
    return out


class PolicyNode:
    def __init__(self, args: list[str] | None = None) -> None:
        import rclpy
        from rcl_interfaces.msg import ParameterDescriptor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Float64MultiArray, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from policy.controller import ControlParams, PolicyController
        from policy.inference import PolicyRunner
        from robot_common.spec import load_robot_spec

        rclpy.init(args=args)
        self.rclpy = rclpy
        self.node = node = rclpy.create_node("policy_node")
        p = {}
        for name, (default, desc) in PARAMS.items():
            descriptor = ParameterDescriptor(description=desc, dynamic_typing=isinstance(default, list))
            value = node.declare_parameter(name, default, descriptor).value
            p[name] = [str(v) for v in (value or [])] if isinstance(default, list) else value
        self.p = p
        if not p["checkpoint"]:
            raise ValueError("parameter 'checkpoint' is empty: pass -p checkpoint:=<folder> (launch: checkpoint:=...)")
        if p["torch_threads"]:
            import torch

            torch.set_num_threads(int(p["torch_threads"]))
        self.spec = spec = load_robot_spec(p["robot"])
        policy = PolicyRunner.from_checkpoint(p["checkpoint"], device=p["device"])
        params = ControlParams(
            rate_hz=float(p["control_rate_hz"]), trajectory_points=int(p["trajectory_points"]),
            stale_timeout_s=float(p["stale_timeout_s"]), velocity_scale=float(p["velocity_scale"]),
            limit_margin=float(p["limit_margin"]), execution=p["execution"],
            ensemble_coeff=float(p["ensemble_coeff"]), n_action_steps=int(p["n_action_steps"]),
            overlap_steps=int(p["overlap_steps"]),
        )
        self.ctl = ctl = PolicyController(spec, policy, params, clock=self._now)
        self.topics = camera_topics(ctl.image_keys, p["camera_topic_template"], p["camera_remap"])

        reliable = QoSProfile(depth=10)
        self.pub_traj = node.create_publisher(JointTrajectory, f"/{spec.arm_controller}/joint_trajectory", reliable)
        self.pub_grip = node.create_publisher(Float64MultiArray, f"/{spec.gripper_controller}/commands", reliable)
        self.pub_status = node.create_publisher(String, "/policy/status", reliable)
        node.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state, reliable)
        for key, topic in self.topics.items():
            node.create_subscription(Image, topic, lambda m, k=key: self._on_image(k, m), qos_profile_sensor_data)
        self._subscribe_vectors(p["tactile_topic_template"], p["pose_topic_template"])
        node.create_service(Trigger, "/policy/start", self._on_start)
        node.create_service(Trigger, "/policy/stop", self._on_stop)
        self.timer = node.create_timer(1.0 / params.rate_hz, self._on_timer)
        self.status_timer = node.create_timer(1.0, self._publish_status)
        self._Float64MultiArray, self._String = Float64MultiArray, String
        self._last_reason, self._last_report = "", 0.0
        self.tick_late = []  # timer start lateness (s), for the deadline report
        self._next_tick = None
        node.get_logger().info(
            f"{policy.policy_type} from {policy.ckpt.path} ({policy.ckpt.source}), robot {spec.name}, cameras {self.topics}, "
            f"{params.execution} at {params.rate_hz:g} Hz; call /policy/start"
            + (" (autostart)" if p["autostart"] else "")
        )

    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    # --- inputs -----------------------------------------------------------------------------
    def _on_joint_state(self, msg) -> None:
        pos = np.asarray(msg.position, dtype=float)
        if pos.size != len(msg.name):
            self.ctl.obs.state_fault = f"joint_states has {len(msg.name)} names but {pos.size} positions"
            return
        self.ctl.on_joint_state(dict(zip(msg.name, pos)), self._now())

    def _on_image(self, key: str, msg) -> None:
        from robot_common.conversions import image_to_numpy

        try:
            img = image_to_numpy(msg)
        except ValueError as exc:
            self._report(f"{key}: {exc}")
            return
        if msg.encoding == "bgr8":
            img = img[:, :, ::-1]
        if img.ndim != 3 or img.shape[2] != 3:
            self._report(f"{key}: need an RGB image, got encoding {msg.encoding}")
            return
        self.ctl.obs.update_image(key, img, self._now())

    def _subscribe_vectors(self, tactile_template: str, pose_template: str) -> None:
        """The environment-state inputs: object poses (7 values each) and tactile vectors."""
        from geometry_msgs.msg import PoseStamped, WrenchStamped
        from std_msgs.msg import Float32

        from robot_common.conversions import POSE_NAMES, pose_to_array

        reliable = 10
        keys = self.ctl.vector_keys
        poses = [k for k in keys if k.startswith(POSE_PREFIX)]
        tactile = [k for k in keys if k not in poses]
        total = self.ctl.policy.env_state_dim - len(POSE_NAMES) * len(poses) if keys else 0
        for key in poses:
            topic = pose_template.format(name=key[len(POSE_PREFIX):])

            self.node.create_subscription(
                PoseStamped, topic, lambda m, k=key: self.ctl.obs.update_vector(k, pose_to_array(m), self._now()), reliable)
        if len(tactile) > 1 and total != 3 * len(tactile):
            raise ValueError(f"tactile features {tactile} ({total} values): with several sensors each must be a "
                             "3-value wrench force")
        for key in tactile:
            name = key.split(".")[-1]
            dim = total if len(tactile) == 1 else 3
            if dim not in (1, 3, 6):
                raise ValueError(f"{key} has {dim} values; the node reads contact_area (1) or wrench (3 or 6)")
            base = tactile_template.format(name=name)
            if dim == 1:
                self.node.create_subscription(Float32, f"{base}/contact_area",
                                              lambda m, k=key: self.ctl.obs.update_vector(k, np.array([m.data]), self._now()),
                                              reliable)
            else:
                six = dim == 6

                def cb(m, k=key, six=six) -> None:
                    f, t = m.wrench.force, m.wrench.torque
                    v = [f.x, f.y, f.z] + ([t.x, t.y, t.z] if six else [])
                    self.ctl.obs.update_vector(k, np.array(v), self._now())

                self.node.create_subscription(WrenchStamped, f"{base}/wrench", cb, reliable)

    # --- services ---------------------------------------------------------------------------
    def _on_start(self, request, response):
        response.success, response.message = self.ctl.start()
        self.node.get_logger().info(response.message)
        return response

    def _on_stop(self, request, response):
        cmd = self.ctl.stop()
        if cmd is not None:
            self._publish(cmd)
        response.success, response.message = True, "policy stopped"
        self.node.get_logger().info(response.message)
        return response

    # --- control ----------------------------------------------------------------------------
    def _on_timer(self) -> None:
        now = time.monotonic()
        period = 1.0 / self.ctl.p.rate_hz
        if self._next_tick is not None:
            self.tick_late.append(max(0.0, now - self._next_tick))
            if len(self.tick_late) > 100_000:
                del self.tick_late[:50_000]
        self._next_tick = (self._next_tick or now) + period
        if self._next_tick < now - period:  # resync after a long stall, counted once above
            self._next_tick = now + period
        if self.p["autostart"] and not self.ctl.active and not self.ctl.stats["ticks"]:
            ok, _ = self.ctl.start()
            if not ok:
                return
        cmd = self.ctl.tick()
        if cmd is None:
            return
        if cmd.hold:
            self._report(f"holding position: {cmd.reason}")
        self._publish(cmd)

    def _publish(self, cmd) -> None:
        from robot_common.conversions import make_trajectory

        self.pub_traj.publish(make_trajectory(self.spec.joint_names, cmd.arm, cmd.times))
        if cmd.gripper is not None:
            self.pub_grip.publish(self._Float64MultiArray(data=[float(cmd.gripper)]))

    def _report(self, reason: str) -> None:
        now = time.monotonic()
        if reason != self._last_reason or now - self._last_report > 2.0:
            self.node.get_logger().warning(reason)
            self._last_reason, self._last_report = reason, now

    def _publish_status(self) -> None:
        s = self.ctl.stats
        inf = np.asarray(s["inference_s"][-200:]) * 1e3
        late = np.asarray(self.tick_late[-300:]) * 1e3
        status = {
            "active": self.ctl.active, "ticks": s["ticks"], "holds": s["holds"], "chunks": s["chunks"],
            "nan_chunks": s["nan_chunks"], "rate_limited_ticks": s["rate_limited"],
            "last_problem": self._last_reason,
            "inference_ms_p50": float(np.percentile(inf, 50)) if inf.size else None,
            "tick_late_ms_p99": float(np.percentile(late, 99)) if late.size else None,
            "deadline_misses": int(np.sum(np.asarray(self.tick_late) > 1.0 / self.ctl.p.rate_hz)),
        }
        self.pub_status.publish(self._String(data=json.dumps(status)))

    def spin(self) -> None:
        # Single-threaded on purpose: every callback is short (inference runs in the controller's
        # worker thread), and rclpy's MultiThreadedExecutor spent most of a core on its own
        # bookkeeping, starving inference and delaying joint_states by up to a second on 2 cores.
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor()
        executor.add_node(self.node)
        try:
            executor.spin()
        finally:
            self.ctl.shutdown()


def main(argv: list[str] | None = None) -> int:
    from rclpy.executors import ExternalShutdownException

    from policy.checkpoint import CheckpointError

    try:
        node = PolicyNode(argv if argv is not None else sys.argv)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"policy_node: {exc}", file=sys.stderr)
        return 2
    try:
        node.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.node.destroy_node()
        node.rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
