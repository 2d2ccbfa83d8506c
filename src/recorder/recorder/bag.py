"""One episode's rosbag2 bag: an MCAP file written with the `mcap` library plus rosbag2's own
metadata.yaml, the layout `ros2 bag record` (Jazzy, MCAP storage) produces and `ros2 bag`, rosbags
and bag_to_dataset read.

Why the `mcap` writer: it computes each chunk's CRC-32 (rosbags' MCAP writer leaves it 0), so a
flipped byte inside message data is detected when the bag is read. Why the explicit flushes: the
magic and header reach the OS as soon as the file is created, and the pending chunk is closed and
handed to the OS every `flush_period_s`, so a SIGKILL at any moment leaves a valid MCAP prefix
holding every message up to the last flush; `recorder.repair` rebuilds the summary and
metadata.yaml from it.
"""
from __future__ import annotations

import os
import time
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path

import yaml
from mcap.writer import CompressionType, IndexType, Writer

from .layout import fsync_dir

ROSBAG2_VERSION = 9              # metadata.yaml version of Jazzy's rosbag2
ROS_DISTRO = "jazzy"             # the distro whose message definitions and type hashes we store
CHUNK_SIZE = 1024 * 1024         # as rosbag2's MCAP default; images larger than this get a chunk each
LIBRARY = f"robot_ws recorder (mcap-python {version('mcap')})"


class BagError(RuntimeError):
    """The bag could not be written (disk full, permissions, unknown message type)."""


@lru_cache(maxsize=1)
def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


@cache
def message_definition(msgtype: str) -> tuple[str, str]:
    """(msgdef text, RIHS01 hash) of a standard message type, as `ros2 bag record` stores them."""
    store = typestore()
    if msgtype not in store.fielddefs:
        raise BagError(f"message type {msgtype} is not a standard ROS 2 Jazzy type known to rosbags")
    msgdef, _ = store.generate_msgdef(msgtype, ros_version=2)
    return msgdef, store.hash_rihs01(msgtype)


def _enum_name(value) -> str:
    return getattr(value, "name", str(value)).lower()     # KEEP_LAST -> keep_last, as rosbag2 writes it


def _duration(value) -> dict:
    ns = value.nanoseconds if hasattr(value, "nanoseconds") else 0
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def qos_dict(profile) -> dict:
    """An rclpy QoSProfile (as offered by a publisher) in rosbag2's metadata form (version 9)."""
    return {
        "history": _enum_name(profile.history),
        "depth": int(profile.depth),
        "reliability": _enum_name(profile.reliability),
        "durability": _enum_name(profile.durability),
        "deadline": _duration(profile.deadline),
        "lifespan": _duration(profile.lifespan),
        "liveliness": _enum_name(profile.liveliness),
        "liveliness_lease_duration": _duration(profile.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(profile.avoid_ros_namespace_conventions),
    }


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rosbag2_metadata(file_name: str, topics: list[dict], counts: dict[str, int], start_ns: int | None,
                     end_ns: int | None, custom_data: dict[str, str]) -> dict:
    """metadata.yaml content; `topics` items: name, type, qos (list of dicts), type_hash."""
    count = sum(counts.values())
    start = start_ns if count and start_ns is not None else 0
    duration = max(0, (end_ns or 0) - start) if count else 0
    return {"rosbag2_bagfile_information": {
        "version": ROSBAG2_VERSION,
        "storage_identifier": "mcap",
        "relative_file_paths": [file_name],
        "duration": {"nanoseconds": duration},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": count,
        "topics_with_message_count": [
            {"topic_metadata": {"name": t["name"], "type": t["type"], "serialization_format": "cdr",
                                "offered_qos_profiles": t["qos"], "type_description_hash": t["type_hash"]},
             "message_count": counts.get(t["name"], 0)}
            for t in topics],
        "compression_format": "",
        "compression_mode": "",
        "files": [{"path": file_name, "starting_time": {"nanoseconds_since_epoch": start},
                   "duration": {"nanoseconds": duration}, "message_count": count}],
        "custom_data": dict(custom_data) or None,
        "ros_distro": ROS_DISTRO,
    }}


class EpisodeBag:
    """A rosbag2 bag directory holding one MCAP file (`file_name`, e.g. `<bag>_0.mcap`)."""

    def __init__(self, path: Path, file_name: str, custom_data: dict[str, str] | None = None,
                 flush_period_s: float = 0.5) -> None:
        self.path = Path(path)
        self.file_name = file_name
        self.mcap_path = self.path / file_name
        self.flush_period_s = flush_period_s
        self.custom_data = {str(k): str(v) for k, v in (custom_data or {}).items()}
        self.counts: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self._topics: list[dict] = []
        self._channels: dict[str, int] = {}
        self._schemas: dict[str, int] = {}
        self._start_ns: int | None = None
        self._end_ns: int | None = None
        self._file = None
        self._writer: Writer | None = None
        self._last_flush = time.monotonic()
        self._dirty = False

    def open(self) -> None:
        """Create the folder and the MCAP file; its magic and header are on the OS side on return."""
        try:
            self.path.mkdir(parents=False, exist_ok=False)
            self._file = open(self.mcap_path, "xb")
            self._writer = Writer(self._file, chunk_size=CHUNK_SIZE, compression=CompressionType.NONE,
                                  index_types=IndexType.ALL, enable_crcs=True)
            self._writer.start(profile="ros2", library=LIBRARY)
            self._file.flush()
        except OSError as err:
            self.abort()
            raise BagError(f"cannot create bag {self.path}: {err}") from err

    def add_topic(self, topic: str, msgtype: str, offered_qos: list[dict] | None = None) -> None:
        """A standard message type (definition and hash from the Jazzy typestore)."""
        if topic in self._channels:
            return
        msgdef, digest = message_definition(msgtype)
        self.add_connection(topic, msgtype, msgdef, digest, offered_qos or [])

    def add_connection(self, topic: str, msgtype: str, msgdef: str, type_hash: str, offered_qos: list[dict],
                       schema_encoding: str = "ros2msg") -> None:
        """Any type, with its definition given (what repair copies from a cut file)."""
        if topic in self._channels:
            return
        assert self._writer is not None, "bag not open"
        if msgtype not in self._schemas:
            self._schemas[msgtype] = self._writer.register_schema(msgtype, schema_encoding, msgdef.encode())
        qos_text = yaml.safe_dump(list(offered_qos), sort_keys=False, default_flow_style=False).strip()
        self._channels[topic] = self._writer.register_channel(
            topic, "cdr", self._schemas[msgtype],
            metadata={"offered_qos_profiles": qos_text, "topic_type_hash": type_hash})
        self._topics.append({"name": topic, "type": msgtype, "qos": list(offered_qos), "type_hash": type_hash})
        self.counts[topic] = 0
        self.types[topic] = msgtype
        self._dirty = True

    def write(self, topic: str, t_ns: int, data: bytes | memoryview) -> None:
        n = self.counts[topic]
        self._writer.add_message(self._channels[topic], log_time=t_ns, data=data, publish_time=t_ns,
                                 sequence=n % 2**32)
        self.counts[topic] = n + 1
        self._start_ns = t_ns if self._start_ns is None else min(self._start_ns, t_ns)
        self._end_ns = t_ns if self._end_ns is None else max(self._end_ns, t_ns)
        self._dirty = True

    def maybe_flush(self) -> None:
        if self._dirty and time.monotonic() - self._last_flush >= self.flush_period_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending chunk as a complete MCAP chunk record and hand it to the OS."""
        if self._writer is not None:
            self._writer.flush()
        self._last_flush = time.monotonic()
        self._dirty = False

    def close(self, fsync: bool = True) -> dict[str, int]:
        """Summary + footer, then metadata.yaml (atomically: its presence means a closed bag);
        with fsync, file, metadata and folder are on the disk when this returns."""
        meta = rosbag2_metadata(self.file_name, self._topics, self.counts, self._start_ns, self._end_ns,
                                self.custom_data)
        writer, self._writer = self._writer, None
        # rosbag2's MCAP storage keeps a copy of the bag information inside the file too
        writer.add_metadata("rosbag2", {"serialized_metadata": yaml.safe_dump(
            meta["rosbag2_bagfile_information"], sort_keys=False), "ROS_DISTRO": ROS_DISTRO})
        writer.finish()
        self._file.flush()
        if fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        write_metadata_yaml(self.path, meta, fsync)
        return dict(self.counts)

    def abort(self) -> None:
        """Stop writing, keep what is on disk (readable by repair); never raises."""
        self._writer = None
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def write_metadata_yaml(bag_dir: Path, meta: dict, fsync: bool = True) -> None:
    path = Path(bag_dir) / "metadata.yaml"
    tmp = path.with_name(".metadata.yaml.tmp")
    with open(tmp, "w") as f:
        yaml.safe_dump(meta, f, sort_keys=False, default_flow_style=False)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(bag_dir)
