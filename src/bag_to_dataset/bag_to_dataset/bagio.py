"""Finding episodes among the inputs and reading rosbag2 bags (sqlite3 or MCAP) through rosbags."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .integrity import salvage_hint

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
    error: str | None = None                           # episode.yaml unreadable: the episode fails, not the run

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
        return self.episode_meta.get("robot_type") or self.session_meta.get("robot_type") or \
            self.session_meta.get("robot")

    @property
    def robot(self) -> str | None:
        """The arm (config/robots/<robot>.yaml) the recorder was started for. Recordings made before
        the recorder had a `robot` parameter name it only as robot_type (the same names then)."""
        robot = self.episode_meta.get("robot") or self.session_meta.get("robot")
        if robot:
            return str(robot)
        rtype = self.episode_meta.get("robot_type")
        if rtype:
            from robot_common.paths import list_configs

            return str(rtype) if str(rtype) in list_configs("robots") else None
        return None

    @property
    def namespace(self) -> str | None:
        """The recorder's ROS namespace: relative mapping topics resolve in it."""
        return self.episode_meta.get("namespace") or self.session_meta.get("namespace") or None

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
    except OSError as exc:
        raise BagError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise BagError(f"{path}: not valid YAML: {yaml_problem(exc)}") from exc
    if data is not None and not isinstance(data, dict):
        raise BagError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return data or {}


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser error in one line: where and what."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _session_meta(folder: Path) -> dict:
    """session.yaml, or {} with a warning when it is unreadable (episode.yaml holds what we need)."""
    path = folder / "session.yaml"
    if not path.exists():
        return {}
    try:
        return _read_yaml(path) or {"_present": True}
    except BagError as exc:
        log.warning("%s; using each episode's episode.yaml only", exc)
        return {"_present": True}


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
            episodes.append(_episode(path, _session_meta(path.parent)))
            continue
        session = _session_meta(path)
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
    try:
        meta = _read_yaml(path / "episode.yaml") if (path / "episode.yaml").exists() else {}
    except BagError as exc:   # this episode fails; the others still convert
        return EpisodeInput(path=path, name=path.name, episode_meta={"status": "complete"}, session_meta=session,
                            error=f"episode {path.name}: {exc}")
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
            hint = salvage_hint(self.path) if any(f.endswith(".mcap") for f in files) else \
                "only MCAP bags can be repaired"
            raise BagError(f"{self.path}: episode {episode.name}: no metadata.yaml (recording interrupted?); "
                           f"storage files: {files}; {hint}")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # noqa: BLE001 - rosbags raises many types for broken files
            mcaps = [p for p in episode.storage_files() if p.suffix == ".mcap"]
            hint = f"; {salvage_hint(self.path)}" if mcaps else ""
            raise BagError(f"{self._files()}: episode {episode.name}: cannot open bag: {_reason(exc)}{hint}") from exc
        self.topics: dict[str, tuple[str, int]] = {}
        for c in self._reader.connections:
            t, n = self.topics.get(c.topic, (c.msgtype, 0))
            self.topics[c.topic] = (t, n + c.msgcount)

    def _files(self) -> str:
        return ", ".join(str(p) for p in self.episode.storage_files()) or str(self.path)

    @property
    def where(self) -> str:
        """What an error names: the storage file(s) (the .db3 / .mcap), not only the bag folder."""
        return self._files()

    def verify(self) -> dict:
        """Check every MCAP chunk's CRC (sqlite3 storage has no checksums to check)."""
        from .integrity import CorruptStorage, check_mcap

        out = {"chunks": 0, "crc_checked": 0, "crc_missing": 0}
        for path in self.episode.storage_files():
            if path.suffix != ".mcap":
                continue
            try:
                check = check_mcap(path)
            except CorruptStorage as exc:
                raise BagError(f"{path}: episode {self.episode.name}: corrupt bag: {exc}; not converted") from None
            except OSError as exc:
                raise BagError(f"{path}: episode {self.episode.name}: cannot read: {exc.strerror}") from None
            for k, v in check.as_dict().items():
                out[k] += v
        return out

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
            raise BagError(f"{self.where}: episode {self.episode.name}: missing topic(s) {missing}; "
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
                               f"{_reason(exc)}") from exc
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


def _reason(exc: BaseException) -> str:
    """rosbags' error text, with the sqlite error it wraps (those name the bag folder, not the file)."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and type(cause).__module__.startswith("sqlite3") and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


_TYPESTORE = None


def typestore():
    """rosbags' ROS 2 Jazzy typestore (the standard messages used here are the same in Humble)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore

        _TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
    return _TYPESTORE
