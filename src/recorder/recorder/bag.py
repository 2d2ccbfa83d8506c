"""One episode's rosbag2 MCAP bag, written with `rosbags` and flushed often enough to survive SIGKILL.

rosbags' MCAP writer buffers messages in 1 MiB chunks and writes the summary only on close. We
close the pending chunk every `flush_period_s` and flush the file, so after a kill the file holds
every message up to the last flush as complete chunk records; `recorder.repair` rebuilds the
summary and metadata.yaml from them.
"""
from __future__ import annotations

import os
import time
from functools import cache, lru_cache
from pathlib import Path

from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from .layout import fsync_dir


class BagError(RuntimeError):
    """The bag could not be written (disk full, permissions, unknown message type)."""


@lru_cache(maxsize=1)
def typestore():
    return get_typestore(Stores.ROS2_JAZZY)


@cache
def message_definition(msgtype: str) -> tuple[str, str]:
    """(msgdef text, RIHS01 hash) of a standard message type, as `ros2 bag record` stores them."""
    store = typestore()
    if msgtype not in store.fielddefs:
        raise BagError(f"message type {msgtype} is not a standard ROS 2 Jazzy type known to rosbags")
    msgdef, _ = store.generate_msgdef(msgtype, ros_version=2)
    return msgdef, store.hash_rihs01(msgtype)


def rosbags_qos(profile) -> Qos:
    """rclpy QoSProfile (as offered by a publisher) -> rosbags Qos for metadata.yaml."""
    def enum(cls, value):
        name = getattr(value, "name", str(value)).upper()
        return cls[name] if name in cls.__members__ else cls.UNKNOWN

    def duration(value) -> QosTime:
        ns = value.nanoseconds if hasattr(value, "nanoseconds") else 0
        return QosTime(sec=ns // 1_000_000_000, nsec=ns % 1_000_000_000)

    return Qos(
        history=enum(QosHistory, profile.history),
        depth=int(profile.depth),
        reliability=enum(QosReliability, profile.reliability),
        durability=enum(QosDurability, profile.durability),
        deadline=duration(profile.deadline),
        lifespan=duration(profile.lifespan),
        liveliness=enum(QosLiveliness, profile.liveliness),
        liveliness_lease_duration=duration(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


class EpisodeBag:
    """A rosbag2 bag directory holding one MCAP file named `<bag>_0.mcap`."""

    def __init__(self, path: Path, file_name: str, custom_data: dict[str, str] | None = None,
                 flush_period_s: float = 0.5) -> None:
        self.path = Path(path)
        self.file_name = file_name
        self.flush_period_s = flush_period_s
        self.counts: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self._conns: dict[str, Connection] = {}
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        for k, v in (custom_data or {}).items():
            self._writer.set_custom_data(str(k), str(v))
        self._last_flush = time.monotonic()
        self._dirty = False

    def open(self) -> None:
        try:
            self._writer.open()
        except Exception as err:  # noqa: BLE001 - rosbags raises WriterError / OSError
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        storage = self._writer.storage
        # rosbags names the file <dir>.mcap; rosbag2 names split 0 <dir>_0.mcap. The file is open,
        # so renaming it now changes nothing for the writer but the name it puts in metadata.yaml.
        target = self.path / self.file_name
        if getattr(storage, "path", None) is not None and storage.path != target:
            os.rename(storage.path, target)
            storage.path = target
        self.mcap_path = target

    def add_topic(self, topic: str, msgtype: str, offered_qos: list[Qos] | None = None) -> None:
        if topic in self._conns:
            return
        msgdef, digest = message_definition(msgtype)
        self._conns[topic] = self._writer.add_connection(
            topic, msgtype, msgdef=msgdef, rihs01=digest, offered_qos_profiles=offered_qos or [])
        self.counts[topic] = 0
        self.types[topic] = msgtype
        self._dirty = True

    def write(self, topic: str, t_ns: int, data: bytes | memoryview) -> None:
        self._writer.write(self._conns[topic], t_ns, data)
        self.counts[topic] += 1
        self._dirty = True

    def maybe_flush(self) -> None:
        if self._dirty and time.monotonic() - self._last_flush >= self.flush_period_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending chunk as a complete MCAP chunk record and hand it to the OS."""
        storage = self._writer.storage
        chunk = getattr(storage, "chunk", None)
        if chunk is not None and chunk.msgs and hasattr(storage, "close_chunk"):
            storage.close_chunk()
        bio = getattr(storage, "bio", None)
        if bio is not None:
            bio.flush()
        self._last_flush = time.monotonic()
        self._dirty = False

    def close(self, fsync: bool = True) -> dict[str, int]:
        """Write summary + footer and metadata.yaml; returns per-topic counts."""
        self._writer.close()
        if fsync:
            for p in (self.mcap_path, self.path / "metadata.yaml"):
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            fsync_dir(self.path)
        return dict(self.counts)

    def abort(self) -> None:
        self._writer.abort()
