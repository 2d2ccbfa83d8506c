"""`policy policy_node`: runs a trained ACT checkpoint and streams joint trajectories.

Subscribes joint_states, the cameras its checkpoint was trained on (cameras/<name>/image_raw),
tactile vectors (tactile/<name>/wrench or contact_area) and object poses (sim/<name>_pose); publishes
<arm controller>/joint_trajectory (several future points, so the JTC interpolates),
<gripper controller>/commands and ~/command_origin (the measured arm state each trajectory was
bounded from: position, and velocity = what its first point implies); serves policy/start and
policy/stop; reports on policy/status (std_msgs/String, JSON). Every name is relative: a namespace
moves the whole stack. Inference runs in a worker thread; the control timer never waits on it.
The follower guard (policy.controller) bounds every command from the measured follower state.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rclpy.node import Node

from robot_common.node_main import run_node
from robot_common.params import Param, ParamTable

POSE_PREFIX = "observation.pose."
NORMALISATION_MODES = ("MEAN_STD", "MIN_MAX", "IDENTITY")
PARAMS = ParamTable("policy_node", [
    Param("robot", "so101", "robot name in config/robots (fr3, rm65, rm75, so101)"),
    Param("checkpoint", "", "checkpoint folder: ours (policy train) or a LeRobot ACT pretrained_model"),
    Param("device", "cpu", "torch device for inference (cpu, cuda, cuda:1)"),
    Param("torch_threads", 2, "torch intra-op threads for inference (0 = torch default)", bounds=(0, 256)),
    Param("control_rate_hz", 30.0, "command rate, Hz", bounds=(1.0, 1000.0)),
    Param("execution", "ensemble", "ensemble: temporal ensembling; chunk: chunk by chunk with overlap blend",
          choices=("ensemble", "chunk")),
    Param("ensemble_coeff", 0.01, "temporal ensembling k: weights exp(-k i), i = 0 for the oldest chunk"),
    Param("n_action_steps", 0, "chunk mode: steps executed from each chunk (0 = checkpoint's n_action_steps)",
          bounds=(0, 100000)),
    Param("overlap_steps", 5, "chunk mode: steps blended linearly from the old into the new chunk", bounds=(0, 100000)),
    Param("trajectory_points", 5, "future points per JointTrajectory (time_from_start k / rate)", bounds=(1, 1000)),
    Param("camera_topic_template", "cameras/{name}/image_raw", "image topic for feature observation.images.<name>"),
    Param("camera_remap", [""], "'<feature camera>=<camera name or /full/topic>' entries when names differ"),
    Param("compressed_cameras", [""], "feature cameras (e.g. front) subscribed as <topic>/compressed (JPEG, "
          "sensor_msgs/CompressedImage) instead of raw: a policy on another host than its cameras"),
    Param("tactile_topic_template", "tactile/{name}", "prefix of tactile topics for observation.tactile.<name>"),
    Param("pose_topic_template", "sim/{name}_pose", "geometry_msgs/PoseStamped topic for feature "
          "observation.pose.<name> (an object tracker's on hardware, e.g. tracker/{name}/pose)"),
    Param("joint_states_topic", "joint_states", "follower joint state topic"),
    Param("stale_timeout_s", 0.5, "hold position when any input is older than this, s", bounds=(0.001, 3600.0)),
    Param("velocity_scale", 0.5, "fraction of the robot's joint velocity limits allowed per step between commands",
          bounds=(0.001, 1.0)),
    Param("follower_velocity_fraction", 0.75, "every trajectory point lies within this fraction of the velocity "
          "limits times its time_from_start from the measured follower state", bounds=(0.001, 1.0)),
    Param("max_follower_deviation", 0.3, "follower further than this (rad, any arm joint) from the last command, "
          "beyond the one-period reach that command was bounded to: hold where it is and stop until policy/start "
          "(0: off)", bounds=(0.0, 100.0)),
    Param("limit_margin", 0.01, "distance kept from every joint limit (rad or m)", bounds=(0.0, 1.0)),
    Param("autostart", False, "start acting as soon as every input is there (no policy/start call)"),
], summary="runs an ACT checkpoint on one arm behind the follower guard")


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


def check_checkpoint(path: str | Path) -> Path:
    """The checkpoint's pretrained_model folder, or CheckpointError naming the bad file and why
    (what the loader would otherwise report as a traceback: a model file that is not safetensors,
    a normalisation mode it does not know)."""
    from safetensors import safe_open

    from policy.checkpoint import CheckpointError, resolve_checkpoint_dir

    directory = resolve_checkpoint_dir(path)
    cfg_file = directory / "config.json"
    try:
        data = json.loads(cfg_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{cfg_file}: not a JSON object")
    mapping = data.get("normalization_mapping") or {}
    if not isinstance(mapping, dict):
        raise CheckpointError(f"{cfg_file}: normalization_mapping is not an object")
    for feature, mode in mapping.items():
        if mode not in NORMALISATION_MODES:
            raise CheckpointError(f"{cfg_file}: unknown normalisation mode {mode!r} for {feature} "
                                  f"(known: {', '.join(NORMALISATION_MODES)})")
    for f in [directory / "model.safetensors", *sorted(directory.glob("*.safetensors"))]:
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointError(f"{f}: not a safetensors file ({' '.join(str(exc).split())})") from None
    return directory


def load_policy(path: str | Path, device: str):
    """The checkpoint's policy (any registered type) behind a PolicyRunner; any problem is a one-line
    CheckpointError naming the file."""
    from policy.checkpoint import CheckpointError
    from policy.inference import PolicyRunner

    directory = check_checkpoint(path)
    try:
        return PolicyRunner.from_checkpoint(directory, device=device)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch and the loader's own errors: bad input, not a bug here
        raise CheckpointError(f"{directory}: cannot load the checkpoint: {' '.join(str(exc).split())}") from None


class PolicyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("policy_node", **kwargs)
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from policy.camera_inputs import subscribe_camera
        from policy.controller import ControlParams, PolicyController
        from robot_common.spec import load_robot_spec

        self.p = p = PARAMS.declare(self)
        if not p["checkpoint"]:
            raise ValueError("parameter 'checkpoint' is empty: pass -p checkpoint:=<folder> (launch: checkpoint:=...)")
        if p["torch_threads"]:
            import torch

            torch.set_num_threads(int(p["torch_threads"]))
        self.spec = spec = load_robot_spec(p["robot"])
        policy = load_policy(p["checkpoint"], p["device"])
        params = ControlParams(
            rate_hz=float(p["control_rate_hz"]), trajectory_points=int(p["trajectory_points"]),
            stale_timeout_s=float(p["stale_timeout_s"]), velocity_scale=float(p["velocity_scale"]),
            limit_margin=float(p["limit_margin"]), execution=p["execution"],
            ensemble_coeff=float(p["ensemble_coeff"]), n_action_steps=int(p["n_action_steps"]),
            overlap_steps=int(p["overlap_steps"]),
            follower_velocity_fraction=float(p["follower_velocity_fraction"]),
            max_follower_deviation=float(p["max_follower_deviation"]),
        )
        self.ctl = ctl = PolicyController(spec, policy, params, clock=self._now)
        self.topics = camera_topics(ctl.image_keys, p["camera_topic_template"], p["camera_remap"])

        reliable = QoSProfile(depth=10)
        self.pub_traj = self.create_publisher(JointTrajectory, f"{spec.arm_controller}/joint_trajectory", reliable)
        self.pub_grip = self.create_publisher(Float64MultiArray, f"{spec.gripper_controller}/commands", reliable)
        self.pub_origin = self.create_publisher(JointState, "~/command_origin", reliable)
        self.pub_status = self.create_publisher(String, "policy/status", reliable)
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state, reliable)
        jpeg = {c for c in p["compressed_cameras"] if c}
        unknown = jpeg - {k.split(".")[-1] for k in self.topics}
        if unknown:
            raise ValueError(f"compressed_cameras names cameras the checkpoint does not use: {sorted(unknown)}")
        for key, topic in self.topics.items():   # raw or JPEG, the controller gets the same RGB array
            subscribe_camera(self, topic, lambda img, m, k=key: self.ctl.obs.update_image(k, img, self._now()),
                             compressed=key.split(".")[-1] in jpeg, on_error=lambda e, k=key: self._report(f"{k}: {e}"))
        self._subscribe_vectors(p["tactile_topic_template"], p["pose_topic_template"])
        self.create_service(Trigger, "policy/start", self._on_start)
        self.create_service(Trigger, "policy/stop", self._on_stop)
        self.timer = self.create_timer(1.0 / params.rate_hz, self._on_timer)
        self.status_timer = self.create_timer(1.0, self._publish_status)
        self._msgs = (Float64MultiArray, String, JointState)
        self._last_reason, self._last_report = "", 0.0
        self.tick_late: list[float] = []  # timer start lateness (s), for the deadline report
        self._next_tick: float | None = None
        self.get_logger().info(
            f"{policy.policy_type} from {policy.ckpt.path} ({policy.ckpt.source}), robot {spec.name}, cameras {self.topics}, "
            f"{params.execution} at {params.rate_hz:g} Hz; call policy/start"
            + (" (autostart)" if p["autostart"] else "")
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs -----------------------------------------------------------------------------
    def _on_joint_state(self, msg) -> None:
        pos = np.asarray(msg.position, dtype=float)
        if pos.size != len(msg.name):
            self.ctl.obs.state_fault = f"joint_states has {len(msg.name)} names but {pos.size} positions"
            return
        self.ctl.on_joint_state(dict(zip(msg.name, pos)), self._now())

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

            self.create_subscription(
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
                self.create_subscription(Float32, f"{base}/contact_area",
                                              lambda m, k=key: self.ctl.obs.update_vector(k, np.array([m.data]), self._now()),
                                              reliable)
            else:
                six = dim == 6

                def cb(m, k=key, six=six) -> None:
                    f, t = m.wrench.force, m.wrench.torque
                    v = [f.x, f.y, f.z] + ([t.x, t.y, t.z] if six else [])
                    self.ctl.obs.update_vector(k, np.array(v), self._now())

                self.create_subscription(WrenchStamped, f"{base}/wrench", cb, reliable)

    # --- services ---------------------------------------------------------------------------
    def _on_start(self, request, response):
        response.success, response.message = self.ctl.start()
        self.get_logger().info(response.message)
        return response

    def _on_stop(self, request, response):
        cmd = self.ctl.stop()
        if cmd is not None:
            self._publish(cmd)
        response.success, response.message = True, "policy stopped"
        self.get_logger().info(response.message)
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

        float_array, _, joint_state = self._msgs
        self.pub_traj.publish(make_trajectory(self.spec.joint_names, cmd.arm, cmd.times))
        if cmd.gripper is not None:
            self.pub_grip.publish(float_array(data=[float(cmd.gripper)]))
        if cmd.origin is not None:
            origin = joint_state(name=list(self.spec.joint_names), position=[float(v) for v in cmd.origin],
                                 velocity=[float(v) for v in (cmd.arm[0] - cmd.origin) / cmd.times[0]])
            origin.header.stamp = self.get_clock().now().to_msg()
            self.pub_origin.publish(origin)

    def _report(self, reason: str) -> None:
        now = time.monotonic()
        if reason != self._last_reason or now - self._last_report > 2.0:
            self.get_logger().warning(reason)
            self._last_reason, self._last_report = reason, now

    def _publish_status(self) -> None:
        s = self.ctl.stats
        inf = np.asarray(s["inference_s"][-200:]) * 1e3
        late = np.asarray(self.tick_late[-300:]) * 1e3
        status = {
            "active": self.ctl.active, "ticks": s["ticks"], "holds": s["holds"], "chunks": s["chunks"],
            "nan_chunks": s["nan_chunks"], "rate_limited_ticks": s["rate_limited"],
            "replans": s["replans"], "follower_limited_ticks": s["follower_limited"],
            "deviation_stops": s["deviation_stops"],
            "last_problem": self._last_reason,
            "inference_ms_p50": float(np.percentile(inf, 50)) if inf.size else None,
            "tick_late_ms_p99": float(np.percentile(late, 99)) if late.size else None,
            "deadline_misses": int(np.sum(np.asarray(self.tick_late) > 1.0 / self.ctl.p.rate_hz)),
        }
        self.pub_status.publish(self._msgs[1](data=json.dumps(status)))

    def destroy_node(self) -> None:
        self.ctl.shutdown()  # the inference worker stops before the context goes away
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    from policy.checkpoint import CheckpointError

    return run_node(PolicyNode, args, errors=(CheckpointError,), name="policy_node")


if __name__ == "__main__":
    raise SystemExit(main())
