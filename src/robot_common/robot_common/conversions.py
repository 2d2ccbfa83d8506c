"""ROS message <-> numpy conversion. Works on rclpy messages and on rosbags' deserialized ones
(attribute access only); building messages imports the rclpy message classes lazily."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NS = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (sec, nanosec) -> integer nanoseconds."""
    return int(stamp.sec) * NS + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    from builtin_interfaces.msg import Time

    return Time(sec=int(ns // NS), nanosec=int(ns % NS))


def sec_to_duration(seconds: float):
    from builtin_interfaces.msg import Duration

    ns = int(round(seconds * NS))
    return Duration(sec=ns // NS, nanosec=ns % NS)


def duration_to_sec(d) -> float:
    return int(d.sec) + int(d.nanosec) * 1e-9


class MissingJointsError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0])


def joint_state_to_arrays(msg, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions (and velocities when present) reordered to `names`; raises naming missing joints."""
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise MissingJointsError(f"JointState lacks joints {missing} (has {list(msg.name)})")
    idx = [index[n] for n in names]
    pos = np.asarray(msg.position, dtype=float)
    if pos.size != len(msg.name):
        raise ValueError(f"JointState has {len(msg.name)} names but {pos.size} positions")
    vel = np.asarray(msg.velocity, dtype=float)
    return pos[idx], (vel[idx] if vel.size == len(msg.name) else None)


def make_joint_state(names: Sequence[str], position, velocity=None, effort=None, stamp_ns: int | None = None):
    from sensor_msgs.msg import JointState

    msg = JointState()
    if stamp_ns is not None:
        msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.name = list(names)
    msg.position = [float(x) for x in position]
    if velocity is not None:
        msg.velocity = [float(x) for x in velocity]
    if effort is not None:
        msg.effort = [float(x) for x in effort]
    return msg


def make_trajectory(
    names: Sequence[str],
    positions: np.ndarray,
    times: Sequence[float],
    velocities: np.ndarray | None = None,
    accelerations: np.ndarray | None = None,
    stamp_ns: int = 0,
):
    """trajectory_msgs/JointTrajectory; stamp 0 means 'start now' for the JTC."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    positions = np.atleast_2d(np.asarray(positions, dtype=float))
    msg = JointTrajectory()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.joint_names = list(names)
    for i, t in enumerate(times):
        p = JointTrajectoryPoint()
        p.positions = positions[i].tolist()
        if velocities is not None:
            p.velocities = np.asarray(velocities[i], dtype=float).tolist()
        if accelerations is not None:
            p.accelerations = np.asarray(accelerations[i], dtype=float).tolist()
        p.time_from_start = sec_to_duration(t)
        msg.points.append(p)
    return msg


def trajectory_to_arrays(msg) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(joint names, times [N], positions [N, D]) of a JointTrajectory."""
    times = np.array([duration_to_sec(p.time_from_start) for p in msg.points])
    pos = np.array([list(p.positions) for p in msg.points], dtype=float).reshape(len(msg.points), -1)
    return list(msg.joint_names), times, pos


# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("uint8", 3),
    "bgr8": ("uint8", 3),
    "rgba8": ("uint8", 4),
    "bgra8": ("uint8", 4),
    "mono8": ("uint8", 1),
    "8UC1": ("uint8", 1),
    "8UC3": ("uint8", 3),
    "mono16": ("uint16", 1),
    "16UC1": ("uint16", 1),
    "32FC1": ("float32", 1),
}


# A geometry_msgs/PoseStamped as a dataset vector (bag_to_dataset writes it, policy_node reads it)
POSE_NAMES = ["position.x", "position.y", "position.z", "orientation.x", "orientation.y", "orientation.z", "orientation.w"]


def pose_to_array(msg) -> np.ndarray:
    """PoseStamped (rclpy or rosbags message) -> [x, y, z, qx, qy, qz, qw], in POSE_NAMES order."""
    p, o = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, o.x, o.y, o.z, o.w], dtype=float)


def image_to_numpy(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxW or HxWxC array (copy), honouring step padding and endianness."""
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{msg.encoding}'; supported: {sorted(IMAGE_ENCODINGS)}")
    dtype_name, channels = IMAGE_ENCODINGS[msg.encoding]
    dtype = np.dtype(dtype_name).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes:
        raise ValueError(f"image step {msg.step} < width*channels*itemsize {row_bytes}")
    buf = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data.tobytes(), dtype=np.uint8)
    if buf.size < msg.step * msg.height:
        raise ValueError(f"image data has {buf.size} bytes, expected {msg.step * msg.height}")
    rows = buf[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row_bytes]
    arr = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width, channels)
    arr = arr.astype(dtype.newbyteorder("="), copy=False)
    return arr[:, :, 0] if channels == 1 else arr


def numpy_to_image(arr: np.ndarray, encoding: str, stamp_ns: int | None = None, frame_id: str = ""):
    from sensor_msgs.msg import Image

    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{encoding}'; supported: {sorted(IMAGE_ENCODINGS)}")
    dtype_name, channels = IMAGE_ENCODINGS[encoding]
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] != channels or arr.dtype != np.dtype(dtype_name):
        raise ValueError(f"{encoding} needs HxWx{channels} {dtype_name}, got {arr.shape} {arr.dtype}")
    msg = Image()
    if stamp_ns is not None:
        msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(arr.shape[1] * channels * arr.dtype.itemsize)
    msg.data = np.ascontiguousarray(arr).tobytes()
    return msg
