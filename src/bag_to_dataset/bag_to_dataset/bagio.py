"""Finding episodes among the inputs and reading rosbag2 bags (sqlite3 or MCAP) through rosbags."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger("bag_to_dataset")

BAG_SUFFIXES = (".mcap", ".db3")


class BagError(RuntimeError):
    """A bag that cannot be read or does not hold what the mapping needs; names the file and episode."""


@dataclass
class EpisodeInput:
    """One bag = one episode, with the recorder's metadata when there is some."""

    path: Path
    name: str
    episode_meta: dict = field(default_factory=dict)   # episode.yaml
    session_meta: dict = field(default_factory=dict)   # session.yaml

    @property
    def status(self) -> str:
        if not self.episode_meta:
            return "plain"  # `ros2 bag record` bag: no recorder metadata
        return str(self.episode_meta.get("status", "complete"))

    @property
    def task(self) -> str | None:
        return self.episode_meta.get("task") or self.session_meta.get("task")

    @property
    def robot_type(self) -> str | None:
        return self.episode_meta.get("robot_type") or self.session_meta.get("robot")

    def storage_files(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.suffix in BAG_SUFFIXES)

    def cache_key(self, mapping_digest: str, version: str) -> str:
        """Changes whenever the bag's files, its metadata or the mapping change."""
        h = hashlib.sha256(f"{version}|{mapping_digest}|{self.path.resolve()}".encode())
        for p in sorted(self.path.iterdir()):
            if p.is_file():
                st = p.stat()
                h.update(f"|{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:20]


def _read_yaml(path: Path) -> dict:
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise BagError(f"{path}: unreadable YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _is_bag_dir(path: Path) -> bool:
    return (path / "metadata.yaml").exists() or any(p.suffix in BAG_SUFFIXES for p in path.iterdir())


def discover_episodes(inputs: list[str | Path]) -> list[EpisodeInput]:
    """Expand bag directories and recorder session directories into episodes, in a stable order."""
    episodes: list[EpisodeInput] = []
    for raw in inputs:
        path = Path(raw)
        if not path.is_dir():
            raise BagError(f"{path}: not a directory (give a bag directory or a recorder session directory)")
        if _is_bag_dir(path):
            session = _read_yaml(path.parent / "session.yaml") if (path.parent / "session.yaml").exists() else {}
            episodes.append(_episode(path, session))
            continue
        session = _read_yaml(path / "session.yaml") if (path / "session.yaml").exists() else {}
        # hidden folders are the recorder's discarded / repair leftovers
        subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and _is_bag_dir(p))
        if not subdirs:
            raise BagError(f"{path}: holds no bag (no metadata.yaml, *.mcap or *.db3, nor episode folders)")
        episodes.extend(_episode(p, session) for p in subdirs)
    seen: set[Path] = set()
    unique = []
    for ep in episodes:   # the same bag given twice (a session and one of its episodes) converts once
        key = ep.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return unique


def _episode(path: Path, session: dict) -> EpisodeInput:
    meta = _read_yaml(path / "episode.yaml") if (path / "episode.yaml").exists() else {}
    if not meta and session:
        meta = {"status": "incomplete"}  # a recorder episode without episode.yaml was interrupted
    return EpisodeInput(path=path, name=path.name, episode_meta=meta, session_meta=session)


class BagReader:
    """Thin wrapper over rosbags' reader that turns every failure into a BagError naming the file."""

    def __init__(self, episode: EpisodeInput):
        from rosbags.rosbag2 import Reader

        self.episode = episode
        self.path = episode.path
        if not (self.path / "metadata.yaml").exists():
            files = [p.name for p in episode.storage_files()]
            raise BagError(f"{self.path}: episode {episode.name}: no metadata.yaml (recording interrupted?); "
                           f"storage files: {files}; `ros2 run recorder repair <session or bag>` rebuilds it")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # noqa: BLE001 - rosbags raises many types for broken files
            raise BagError(f"{self._files()}: episode {episode.name}: cannot open bag: {exc}") from exc
        self.topics: dict[str, tuple[str, int]] = {}
        for c in self._reader.connections:
            t, n = self.topics.get(c.topic, (c.msgtype, 0))
            self.topics[c.topic] = (t, n + c.msgcount)

    def _files(self) -> str:
        return ", ".join(str(p) for p in self.episode.storage_files()) or str(self.path)

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time)

    def require(self, topics: list[str]) -> None:
        missing = [t for t in topics if t not in self.topics]
        if missing:
            have = ", ".join(f"{t} ({m}, {n})" for t, (m, n) in sorted(self.topics.items())) or "none"
            raise BagError(f"{self.path}: episode {self.episode.name}: missing topic(s) {missing}; "
                           f"the bag has: {have}")

    def messages(self, topics: list[str]) -> Iterator[tuple[str, str, int, memoryview]]:
        """(topic, msgtype, receive time ns, raw CDR) in receive-time order."""
        conns = [c for c in self._reader.connections if c.topic in topics]
        it = self._reader.messages(connections=conns)
        while True:
            try:
                conn, t, raw = next(it)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - corrupt chunk, truncated file, bad sqlite page
                raise BagError(f"{self._files()}: episode {self.episode.name}: corrupt or truncated bag: "
                               f"{type(exc).__name__}: {exc}") from exc
            yield conn.topic, conn.msgtype, int(t), raw

    def close(self) -> None:
        try:
            self._reader.close()
        except Exception:  # noqa: BLE001 - closing a broken bag must not hide the real error
            pass

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_TYPESTORE = None


def typestore():
    """rosbags' ROS 2 Jazzy typestore (the standard messages used here are the same in Humble)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore

        _TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
    return _TYPESTORE
