"""Turning raw CDR messages into stamps, vectors and RGB frames.

Images are parsed straight from the CDR bytes (a zero-copy numpy view), which is several times
faster than a generic deserializer that copies megabytes per frame; small messages go through
rosbags' typestore.
"""
from __future__ import annotations

import struct

import numpy as np

from robot_common.conversions import MissingJointsError, joint_state_to_arrays, pose_to_array, stamp_to_ns

from .bagio import typestore
from .mapping import Source


def header_stamp_ns(raw: memoryview | bytes) -> int:
    """header.stamp of a message whose first field is std_msgs/Header, read from the CDR bytes."""
    little = bytes(raw[1:2]) in (b"\x01", b"\x03")
    sec, nsec = struct.unpack_from("<iI" if little else ">iI", raw, 4)
    return sec * 1_000_000_000 + nsec


def _cdr_string(buf, off: int, fmt: str) -> tuple[str, int]:
    off = (off + 3) & ~3
    (n,) = struct.unpack_from(fmt + "I", buf, 4 + off)
    s = bytes(buf[4 + off + 4: 4 + off + 4 + n]).rstrip(b"\x00").decode()
    return s, off + 4 + n


def parse_image_cdr(raw: memoryview | bytes) -> tuple[int, int, str, int, int, np.ndarray]:
    """sensor_msgs/Image CDR -> (height, width, encoding, is_bigendian, step, data as uint8 view)."""
    fmt = "<" if bytes(raw[1:2]) in (b"\x01", b"\x03") else ">"
    _, off = _cdr_string(raw, 8, fmt)            # header.frame_id after stamp (8 bytes)
    off = (off + 3) & ~3
    height, width = struct.unpack_from(fmt + "II", raw, 4 + off)
    encoding, off = _cdr_string(raw, off + 8, fmt)
    is_bigendian = raw[4 + off]
    off = (off + 1 + 3) & ~3
    (step,) = struct.unpack_from(fmt + "I", raw, 4 + off)
    (n,) = struct.unpack_from(fmt + "I", raw, 4 + off + 4)
    start = 4 + off + 8
    data = np.frombuffer(raw, dtype=np.uint8, count=n, offset=start)
    return height, width, encoding, int(is_bigendian), step, data


def image_to_rgb(raw: memoryview | bytes, msgtype: str) -> np.ndarray:
    """RGB uint8 HxWx3 from a sensor_msgs/Image or CompressedImage message (raw CDR)."""
    import cv2

    if msgtype.endswith("CompressedImage"):
        msg = typestore().deserialize_cdr(raw, msgtype)
        img = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot decode CompressedImage with format '{msg.format}'")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w, enc, bigendian, step, data = parse_image_cdr(raw)
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}.get(enc)
    if channels is None:
        raise ValueError(f"unsupported image encoding '{enc}' (supported: rgb8, bgr8, rgba8, bgra8, mono8)")
    if data.size < step * h or step < w * channels:
        raise ValueError(f"image data has {data.size} bytes for {h} rows of step {step}")
    img = data[: step * h].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if enc in ("rgb8", "8UC3"):
        return img
    if enc == "bgr8":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if enc == "rgba8":
        return cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
    if enc == "bgra8":
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)


def decode_vector(raw, msgtype: str, source: Source) -> tuple[int | None, np.ndarray]:
    """(header stamp ns or None, float64 vector in the source's name order)."""
    msg = typestore().deserialize_cdr(raw, msgtype)
    stamp = stamp_to_ns(msg.header.stamp) if hasattr(msg, "header") else None
    if source.type == "joint_state":
        if source.field == "position":
            pos, _ = joint_state_to_arrays(msg, source.names)
            return stamp, pos
        values = np.asarray(getattr(msg, source.field), dtype=float)
        if values.size != len(msg.name):
            raise ValueError(f"JointState has {len(msg.name)} names but {values.size} {source.field} values")
        index = {n: i for i, n in enumerate(msg.name)}
        missing = [n for n in source.names if n not in index]
        if missing:
            raise MissingJointsError(f"JointState lacks joints {missing} (has {list(msg.name)})")
        return stamp, values[[index[n] for n in source.names]]
    if source.type == "trajectory":
        # a streamed command: its first point is what the controller is told to reach next
        if not msg.points:
            raise ValueError("JointTrajectory without points")
        index = {n: i for i, n in enumerate(msg.joint_names)}
        missing = [n for n in source.names if n not in index]
        if missing:
            raise MissingJointsError(f"JointTrajectory lacks joints {missing} (has {list(msg.joint_names)})")
        pos = np.asarray(msg.points[0].positions, dtype=float)
        return stamp, pos[[index[n] for n in source.names]]
    if source.type == "float_array":
        data = np.asarray(msg.data, dtype=float)
        if data.size < len(source.names):
            raise ValueError(f"array has {data.size} values, the mapping names {len(source.names)}")
        return stamp, data[: len(source.names)]
    if source.type == "scalar":
        return stamp, np.array([float(msg.data)])
    if source.type == "wrench":
        f, t = msg.wrench.force, msg.wrench.torque
        return stamp, np.array([f.x, f.y, f.z, t.x, t.y, t.z], dtype=float)
    if source.type == "pose":   # an object tracker's (or the sim's) pose: position + quaternion xyzw
        return stamp, pose_to_array(msg)
    raise ValueError(f"unknown source type {source.type}")
