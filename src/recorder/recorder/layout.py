"""The on-disk session layout of docs/RECORDING_FORMAT.md: session.yaml, episode_NNNNNN/ bags and
their episode.yaml, every YAML written atomically (temp file, fsync, rename)."""
from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import yaml

EPISODE_FORMAT = "robot_ws/episode/1"
STATUSES = ("complete", "incomplete", "discarded")
_EPISODE_RE = re.compile(r"^episode_(\d{6})$")


def episode_dir_name(index: int) -> str:
    return f"episode_{index:06d}"


def mcap_name(index: int) -> str:
    """The bag's first (only) storage file, named like `ros2 bag record` names split 0."""
    return f"{episode_dir_name(index)}_0.mcap"


def write_yaml_atomic(path: Path, data: dict, fsync: bool = True) -> None:
    """Readers see the old file or the new one, never half of one (also after SIGKILL)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=False, allow_unicode=True)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_yaml(path: Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


def utc_iso(t_ns: int | None = None) -> str:
    t = datetime.now(timezone.utc) if t_ns is None else datetime.fromtimestamp(t_ns / 1e9, timezone.utc)
    return t.isoformat(timespec="seconds")


def episode_metadata(index: int, task: str, robot_type: str, operator: str, start_time_ns: int,
                     status: str = "incomplete", success: bool | None = None, end_time_ns: int | None = None,
                     topics: dict | None = None, **extra: object) -> dict:
    """episode.yaml content; key order as in the format doc, optional extras after."""
    if status not in STATUSES:
        raise ValueError(f"status '{status}' is not one of {STATUSES}")
    data = {
        "format": EPISODE_FORMAT,
        "episode_index": int(index),
        "task": task,
        "robot_type": robot_type,
        "operator": operator,
        "success": success,
        "status": status,
        "start_time_ns": int(start_time_ns),
        "end_time_ns": None if end_time_ns is None else int(end_time_ns),
        "topics": topics or {},
    }
    data.update({k: v for k, v in extra.items() if v is not None})
    return data


class SessionDir:
    """A session folder: one bag directory per episode, plus session.yaml."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def episode_path(self, index: int) -> Path:
        return self.path / episode_dir_name(index)

    def episode_indices(self) -> list[int]:
        if not self.path.is_dir():
            return []
        out = []
        for p in self.path.iterdir():
            m = _EPISODE_RE.match(p.name)
            if m and p.is_dir():
                out.append(int(m.group(1)))
        return sorted(out)

    def next_index(self) -> int:
        idx = self.episode_indices()
        return idx[-1] + 1 if idx else 0

    def episode_status(self, index: int) -> str:
        """complete / incomplete / discarded, 'incomplete' when episode.yaml is missing or unreadable."""
        try:
            status = read_yaml(self.episode_path(index) / "episode.yaml").get("status")
        except (OSError, ValueError, yaml.YAMLError):
            return "incomplete"
        return status if status in STATUSES else "incomplete"

    def ensure(self, info: dict) -> dict:
        """Create the folder and session.yaml, or read the existing session.yaml (resuming)."""
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "session.yaml"
        if meta.exists():
            return read_yaml(meta)
        data = {"created": utc_iso(), **info}
        write_yaml_atomic(meta, data)
        return data

    def remove_episode(self, index: int) -> None:
        """Mark discarded first, so an interrupted delete still leaves a clearly discarded bag."""
        path = self.episode_path(index)
        meta = path / "episode.yaml"
        if meta.exists():
            try:
                data = read_yaml(meta)
                data["status"] = "discarded"
                write_yaml_atomic(meta, data, fsync=False)
            except (OSError, ValueError, yaml.YAMLError):
                pass
        shutil.rmtree(path, ignore_errors=True)
