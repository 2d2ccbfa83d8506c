"""Real rosbag2 bags with known content, written through rosbags (for tests, the benchmark and demos).

Joint values are smooth functions of the header time, camera frames are drawn from their message
index, so a converted dataset can be checked against ground truth exactly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .bagio import typestore

NS = 1_000_000_000


def joint_values(t_ns: np.ndarray, n: int, phase: float = 0.0,
                 limits: list[tuple[float, float]] | None = None) -> np.ndarray:
    """[len(t), n] smooth joint trajectories (rad) as a function of time; with `limits`, each joint
    moves over the middle 40 % of its range (what a real demonstration stays within)."""
    t = np.asarray(t_ns, dtype=np.float64)[:, None] / NS
    j = np.arange(n)[None, :]
    wave = np.sin(0.7 * t + 0.9 * j + phase)
    if limits is None:
        return 0.5 * wave + 0.05 * j
    lo, hi = (np.asarray(x, dtype=np.float64)[None, :] for x in zip(*limits))
    return (lo + hi) / 2 + 0.2 * (hi - lo) * wave


def robot_limits(joint_names: list[str]) -> list[tuple[float, float]] | None:
    """The limits of these joints from the first robot spec that has them all (None: no spec does)."""
    from robot_common.paths import list_configs
    from robot_common.spec import load_robot_spec

    for robot in list_configs("robots"):
        spec = load_robot_spec(robot)
        lim = {j.name: (j.lower, j.upper) for j in spec.joints}
        if spec.gripper:
            lim[spec.gripper.joint] = (spec.gripper.lower, spec.gripper.upper)
        if all(n in lim for n in joint_names):
            return [lim[n] for n in joint_names]
    return None


def synth_image(k: int, width: int, height: int, camera: int = 0) -> np.ndarray:
    """RGB frame k of a camera: smooth gradients moving with k plus a block whose colour encodes k."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int32)
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(1, width - 1) + 3 * k) % 256
    img[..., 1] = (y * 255 // max(1, height - 1) + 5 * k + 60 * camera) % 256
    img[..., 2] = ((x + y) // 4 + 7 * k) % 256
    bh, bw = height // 4, width // 4
    img[:bh, :bw] = ((37 * k) % 256, (91 * k + 40 * camera) % 256, (53 * k) % 256)
    return img


@dataclass
class Stream:
    topic: str
    header_ns: np.ndarray
    receive_ns: np.ndarray
    values: np.ndarray | None = None   # vectors (joint order of `names`)
    names: list[str] = field(default_factory=list)


@dataclass
class BagTruth:
    path: Path
    streams: dict[str, Stream]
    cameras: dict[str, tuple[int, int, int]]   # name -> (width, height, camera index)


def _times(start_ns: int, duration: float, rate: float, rng, jitter: float) -> np.ndarray:
    n = int(duration * rate) + 1
    t = start_ns + (np.arange(n) * NS / rate).astype(np.int64)
    if jitter:
        t = t + (rng.uniform(-jitter, jitter, n) * NS).astype(np.int64)
        t = np.sort(t)
    return t


def write_bag(path: Path, joint_names: list[str], *, storage: str = "mcap", duration: float = 2.0,
              start_ns: int = 1_700_000_000 * NS, joint_rate: float = 100.0, leader_rate: float = 50.0,
              cameras: dict[str, tuple[int, int]] | None = None, camera_rate: float = 30.0,
              jitter: float = 0.002, latency: float = 0.003, trajectory: bool = False,
              gripper_joint: str | None = None, wrench: bool = False, pose: bool = False,
              camera_gap: tuple[float, float] | None = None, shuffle: bool = True, seed: int = 0, compression: bool = False,
              unstamped: tuple[str, ...] = (), frame_fn=None, reorder_images: bool = False,
              jpeg_quality: int | None = None) -> BagTruth:
    """One bag as `ros2 bag record` (or the recorder) would write it; returns the ground truth.

    `unstamped` joint-state topics get header.stamp 0, as from a publisher that never sets it.
    `frame_fn(k, width, height, camera)` replaces synth_image (the benchmark uses a cheaper one).
    `reorder_images` swaps the arrival of each pair of camera frames (header stamps stay in order).
    `jpeg_quality`: cameras as sensor_msgs/CompressedImage JPEGs on cameras/<name>/image_raw/compressed,
    as camera_node's publish_compressed writes them."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    ts = typestore()
    T = ts.types
    rng = np.random.default_rng(seed)
    cameras = cameras if cameras is not None else {"front": (64, 48)}
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3

    def header(t: int):
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=int(t // NS), nanosec=int(t % NS)),
                                        frame_id="base")

    streams: dict[str, Stream] = {}
    events: list[tuple[int, str, object]] = []   # (receive ns, topic, message)
    limits = robot_limits(list(joint_names))      # values a converter's range check accepts
    order = list(joint_names)
    if shuffle:
        order = [order[i] for i in rng.permutation(len(order))]  # publishers need not use the spec's order

    def add_joint_state(topic: str, rate: float, phase: float) -> None:
        h = _times(start_ns, duration, rate, rng, jitter)
        r = h + int(latency * NS) + (rng.uniform(0, latency, h.size) * NS).astype(np.int64)
        vals = joint_values(h, len(joint_names), phase, limits)
        streams[topic] = Stream(topic, h, r, vals, list(joint_names))
        perm = [joint_names.index(n) for n in order]
        for t, rt, v in zip(h, r, vals):
            msg = T["sensor_msgs/msg/JointState"](header=header(0 if topic in unstamped else t), name=order,
                                                  position=v[perm].astype(np.float64),
                                                  velocity=np.zeros(len(order)), effort=np.array([], np.float64))
            events.append((int(rt), topic, msg))

    add_joint_state("/joint_states", joint_rate, 0.0)
    add_joint_state("/leader/joint_states", leader_rate, 0.3)
    if trajectory:
        arm = [n for n in joint_names if n != gripper_joint]
        h = _times(start_ns, duration, leader_rate, rng, jitter)
        r = h + int(latency * NS)
        vals = joint_values(h, len(joint_names), 0.6, limits)
        streams["/arm_controller/joint_trajectory"] = Stream("/arm_controller/joint_trajectory", h, r,
                                                             vals[:, : len(arm)], arm)
        streams["/gripper_controller/commands"] = Stream("/gripper_controller/commands", h, r, vals[:, -1:],
                                                         [gripper_joint or "gripper"])
        P = T["trajectory_msgs/msg/JointTrajectoryPoint"]
        D = T["builtin_interfaces/msg/Duration"]
        for t, rt, v in zip(h, r, vals):
            pt = P(positions=v[: len(arm)][::-1].astype(np.float64), velocities=np.array([], np.float64),
                   accelerations=np.array([], np.float64), effort=np.array([], np.float64),
                   time_from_start=D(sec=0, nanosec=50_000_000))
            events.append((int(rt), "/arm_controller/joint_trajectory",
                           T["trajectory_msgs/msg/JointTrajectory"](header=header(t), joint_names=arm[::-1],
                                                                    points=[pt])))
            lay = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            events.append((int(rt), "/gripper_controller/commands",
                           T["std_msgs/msg/Float64MultiArray"](layout=lay, data=v[-1:].astype(np.float64))))
    if wrench:
        h = _times(start_ns, duration, 60.0, rng, jitter)
        r = h + int(latency * NS)
        vals = np.stack([np.sin(h / NS + i) for i in range(6)], axis=1)
        streams["/tactile/left_finger/wrench"] = Stream("/tactile/left_finger/wrench", h, r, vals)
        V = T["geometry_msgs/msg/Vector3"]
        for t, rt, v in zip(h, r, vals):
            w = T["geometry_msgs/msg/Wrench"](force=V(x=v[0], y=v[1], z=v[2]), torque=V(x=v[3], y=v[4], z=v[5]))
            events.append((int(rt), "/tactile/left_finger/wrench",
                           T["geometry_msgs/msg/WrenchStamped"](header=header(t), wrench=w)))
    if pose:   # an object tracker at 10 Hz: position + quaternion (x, y, z, w) about z
        h = _times(start_ns, duration, 10.0, rng, jitter)
        r = h + int(latency * NS)
        yaw = 0.3 * np.sin(h / NS)
        vals = np.stack([0.2 + 0.01 * np.sin(h / NS), -0.05 + 0.01 * np.cos(h / NS), np.full(h.size, 0.0125),
                         np.zeros(h.size), np.zeros(h.size), np.sin(yaw / 2), np.cos(yaw / 2)], axis=1)
        streams["/sim/object_pose"] = Stream("/sim/object_pose", h, r, vals)
        for t, rt, v in zip(h, r, vals):
            p = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=v[0], y=v[1], z=v[2]),
                                            orientation=T["geometry_msgs/msg/Quaternion"](x=v[3], y=v[4], z=v[5], w=v[6]))
            events.append((int(rt), "/sim/object_pose", T["geometry_msgs/msg/PoseStamped"](header=header(t), pose=p)))
    cams: dict[str, tuple[int, int, int]] = {}
    for ci, (cam, (w, hgt)) in enumerate(sorted(cameras.items())):
        topic = f"/cameras/{cam}/image_raw" + ("/compressed" if jpeg_quality else "")
        h = _times(start_ns, duration, camera_rate, rng, jitter / 2)
        if camera_gap is not None:
            g0, g1 = (start_ns + int(x * NS) for x in camera_gap)
            h = h[(h < g0) | (h > g1)]
        r = h + int(2 * latency * NS)
        if reorder_images:
            m = (r.size // 2) * 2
            r[:m] = r[:m].reshape(-1, 2)[:, ::-1].reshape(-1)
        streams[topic] = Stream(topic, h, r)
        cams[cam] = (w, hgt, ci)
        for k, (t, rt) in enumerate(zip(h, r)):
            events.append((int(rt), topic, ("image", k, w, hgt, ci, t)))

    events.sort(key=lambda e: e[0])
    path = Path(path)
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        if compression:
            writer.set_compression(CompressionMode.MESSAGE if storage != "mcap" else CompressionMode.STORAGE,
                                   CompressionFormat.ZSTD)
        conns = {}
        msgtypes = {"/joint_states": "sensor_msgs/msg/JointState", "/leader/joint_states": "sensor_msgs/msg/JointState",
                    "/arm_controller/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
                    "/gripper_controller/commands": "std_msgs/msg/Float64MultiArray",
                    "/tactile/left_finger/wrench": "geometry_msgs/msg/WrenchStamped",
                    "/sim/object_pose": "geometry_msgs/msg/PoseStamped"}
        for topic in sorted({e[1] for e in events}):
            image_type = "sensor_msgs/msg/CompressedImage" if topic.endswith("/compressed") else "sensor_msgs/msg/Image"
            conns[topic] = writer.add_connection(topic, msgtypes.get(topic, image_type), typestore=ts)
        for rt, topic, msg in events:
            c = conns[topic]
            if isinstance(msg, tuple):
                _, k, w, hgt, ci, t = msg
                img = (frame_fn or synth_image)(k, w, hgt, ci)
                if jpeg_quality:
                    import cv2

                    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                           [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
                    assert ok, "JPEG encoding failed"
                    msg = T["sensor_msgs/msg/CompressedImage"](header=header(t), format="rgb8; jpeg compressed bgr8",
                                                               data=buf.reshape(-1))
                    writer.write(c, rt, ts.serialize_cdr(msg, c.msgtype))
                    continue
                msg = T["sensor_msgs/msg/Image"](header=header(t), height=hgt, width=w, encoding="rgb8",
                                                 is_bigendian=0, step=w * 3, data=img.reshape(-1))
            writer.write(c, rt, ts.serialize_cdr(msg, c.msgtype))
    return BagTruth(path, streams, cams)


def write_session(session_dir: Path, n_episodes: int, joint_names: list[str], *, robot: str, task: str,
                  setup: str = "sim", statuses: list[str] | None = None, **bag_kwargs) -> list[BagTruth]:
    """A recorder session folder laid out as docs/RECORDING_FORMAT.md describes."""
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    with open(session_dir / "session.yaml", "w") as f:
        yaml.safe_dump({"robot": robot, "task": task, "setup": setup, "created": "2026-01-01T00:00:00Z",
                        "operator": "test"}, f)
    truths = []
    for i in range(n_episodes):
        ep_dir = session_dir / f"episode_{i:06d}"
        start = 1_700_000_000 * NS + i * 100 * NS
        truth = write_bag(ep_dir, joint_names, start_ns=start, seed=i, **bag_kwargs)
        status = (statuses or [])[i] if statuses and i < len(statuses) else "complete"
        counts = {t: {"type": "sensor_msgs/msg/JointState" if "joint" in t else "sensor_msgs/msg/Image",
                      "count": int(s.header_ns.size)} for t, s in truth.streams.items()}
        meta = {"format": "robot_ws/episode/1", "episode_index": i, "task": task, "robot_type": robot,
                "operator": "test", "success": True, "status": status, "start_time_ns": start,
                "end_time_ns": start + int(bag_kwargs.get("duration", 2.0) * NS), "topics": counts}
        tmp = ep_dir / "episode.yaml.tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(meta, f)
        os.replace(tmp, ep_dir / "episode.yaml")
        truths.append(truth)
    return truths
