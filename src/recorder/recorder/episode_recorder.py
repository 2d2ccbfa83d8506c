"""The recorder's logic without ROS: episode flow (start / save / discard), per-topic counts,
health warnings and status. The ROS node feeds it raw CDR bytes and calls its methods."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bag import EpisodeBag, message_definition
from .episode_writer import Episode, EpisodeWriter
from .health import TopicHealth, free_disk_gb
from .layout import SessionDir, episode_metadata, mcap_name, read_yaml, write_yaml_atomic

IDLE, RECORDING, STOPPED = "idle", "recording", "stopped"


@dataclass
class RecorderOptions:
    robot_type: str
    robot: str = ""                  # config/robots/<robot>.yaml; empty: same as robot_type
    namespace: str = "/"             # the recorder's ROS namespace: relative setup topics resolve in it
    task: str = ""
    operator: str = ""
    setup: str = ""
    min_free_disk_gb: float = 2.0
    flush_period_s: float = 0.5
    fsync: bool = True
    max_backlog_mb: float = 2048.0
    default_success: bool | None = None


class EpisodeRecorder:
    """Thread-safe: subscription callbacks call on_message, services call start/save/discard."""

    def __init__(self, session_dir: Path, options: RecorderOptions, health: TopicHealth | None = None,
                 clock_ns: Callable[[], int] = time.time_ns, monotonic: Callable[[], float] = time.monotonic,
                 on_change: Callable[[], None] | None = None) -> None:
        self.opts = options
        self.session = SessionDir(session_dir)
        self.health = health or TopicHealth()
        self.clock_ns = clock_ns
        self.monotonic = monotonic
        self.on_change = on_change
        self.session_info = self.session.ensure({
            "robot": options.robot or options.robot_type, "robot_type": options.robot_type, "task": options.task,
            "setup": options.setup, "operator": options.operator, "namespace": options.namespace})
        self.topics: dict[str, tuple[str, list]] = {}     # name -> (msgtype, offered QoS)
        self.state = IDLE
        self._lock = threading.RLock()
        self._current: Episode | None = None
        self._started_mono = 0.0
        self._last: Episode | None = None                 # last saved this run (discard / success target)
        self.last_saved: dict | None = None
        self.events: list[str] = []                       # human-readable log of recent actions
        self.writer = EpisodeWriter(fsync=options.fsync, on_closed=self._closed)

    # --- topics and messages ---------------------------------------------------------------------
    def add_topic(self, name: str, msgtype: str, offered_qos: list | None = None,
                  expected_hz: float | None = None, optional: bool = False) -> None:
        message_definition(msgtype)   # fails early on types the bag cannot describe
        with self._lock:
            self.topics[name] = (msgtype, list(offered_qos or []))
            self.health.add_topic(name, expected_hz, optional)
            if self._current is not None:
                self.writer.add_topic(self._current, name, msgtype, list(offered_qos or []))

    def on_message(self, name: str, data: bytes, t_ns: int | None = None) -> None:
        now = self.monotonic()
        with self._lock:
            self.health.on_message(name, now)
            ep = self._current
            if ep is None:
                return
            if self.writer.backlog_bytes > self.opts.max_backlog_mb * 1e6:
                ep.dropped[name] += 1   # never silently: reported in status and episode.yaml
                return
            ep.sent[name] += 1
            self.writer.write(ep, name, self.clock_ns() if t_ns is None else t_ns, data)

    # --- episode flow ----------------------------------------------------------------------------
    def start(self, qos_lookup: Callable[[str], list] | None = None) -> tuple[bool, str]:
        with self._lock:
            if self.state == STOPPED:
                return False, "recorder is shut down"
            if self._current is not None:
                return False, f"already recording episode {self._current.index}"
            free = free_disk_gb(self.session.path)
            if free < self.opts.min_free_disk_gb:
                return False, (f"refusing to start: {free:.2f} GB free on {self.session.path}, "
                               f"below min_free_disk_gb={self.opts.min_free_disk_gb:g}")
            index = self.session.next_index()
            path = self.session.episode_path(index)
            start_ns = self.clock_ns()
            bag = EpisodeBag(path, mcap_name(index), flush_period_s=self.opts.flush_period_s, custom_data={
                "robot_ws.task": self.opts.task, "robot_ws.robot_type": self.opts.robot_type,
                "robot_ws.episode_index": str(index)})
            try:
                bag.open()
                for name, (msgtype, qos) in self.topics.items():
                    offered = qos_lookup(name) if qos_lookup else qos
                    bag.add_topic(name, msgtype, offered or qos)
                meta = episode_metadata(index, self.opts.task, self.opts.robot_type, self.opts.operator, start_ns,
                                        success=self.opts.default_success, setup=self.opts.setup or None,
                                        robot=self.opts.robot or None, namespace=self.opts.namespace,
                                        topics={n: {"type": t, "count": 0} for n, (t, _) in self.topics.items()})
                write_yaml_atomic(path / "episode.yaml", meta, fsync=False)
            except Exception as err:  # noqa: BLE001 - report, leave no half-made episode behind
                try:
                    bag.abort()
                finally:
                    self.session.remove_episode(index)
                return False, f"cannot start episode {index}: {err}"
            ep = Episode(index=index, path=path, bag=bag, meta=meta)
            self.writer.open(ep)
            self._current = ep
            self._started_mono = self.monotonic()
            self.health.episode_started(self._started_mono)
            self.state = RECORDING
            self._event(f"recording episode {index}")
        self._changed()
        return True, f"recording episode {index} to {path}"

    def save(self, final_status: str = "complete", wait_s: float | None = None) -> tuple[bool, str]:
        """Close the current episode. With `wait_s`, return only once the bag, metadata.yaml and
        episode.yaml are written (and fsynced with the fsync option): a crash after this reply
        loses nothing of the episode. Without, the writer thread finishes it in the background."""
        with self._lock:
            ep = self._current
            if ep is None:
                return False, "not recording"
            ep.meta["end_time_ns"] = self.clock_ns()
            self.warnings()
            if ep.warnings:
                ep.meta["warnings"] = list(ep.warnings.values())
            ep.final_status = final_status
            self.writer.close(ep)
            self._current = None
            self._last = ep
            self.health.episode_ended()
            self.state = IDLE
            counts = ", ".join(f"{t}={ep.sent.get(t, 0)}" for t in sorted(set(self.topics) | set(ep.sent)))
            counts = counts or "no topics"
            dropped = sum(ep.dropped.values())
            msg = f"saved episode {ep.index} ({counts})" + (f"; {dropped} dropped (writer backlog)" if dropped else "")
            self._event(msg)
        self._changed()
        if wait_s is None:
            return True, msg
        # outside the lock: the writer's on_closed callback takes it
        if not ep.closed.wait(wait_s):
            return False, (f"episode {ep.index}: still being written after {wait_s:g} s (writer backlog "
                           f"{self.writer.backlog_bytes / 1e6:.0f} MB); it is not on disk yet")
        if ep.error:
            return False, f"episode {ep.index} could not be closed: {ep.error}; what was written is kept as incomplete"
        where = "on disk" if self.opts.fsync else "written"
        return True, msg + f"; {where} after {(ep.closed_at or 0) - (ep.save_requested or 0):.3f} s"

    def discard(self, wait_s: float = 10.0) -> tuple[bool, str]:
        """While recording: drop the current episode. Otherwise: drop the episode saved last in this
        run (once), so that left-arrow during the reset phase re-records it. Nothing stays on disk."""
        with self._lock:
            last = self._last if self._current is None else None
            if self._current is None and last is None:
                return False, "nothing to discard (no episode recorded yet in this run)"
        # wait outside the lock: the writer's on_closed callback takes it
        if last is not None and not last.closed.wait(wait_s):
            return False, f"episode {last.index} is still being written; try again"
        with self._lock:
            ep = self._current or self._last
            if ep is None or (last is not None and ep is not last):
                return False, "the recorder state changed meanwhile; nothing discarded"
            ep.discarded = True
            hidden = ep.path.with_name(f".discarded_{ep.path.name}_{time.time_ns()}")
            try:
                os.rename(ep.path, hidden)
                write_yaml_atomic(hidden / "episode.yaml", {**ep.meta, "status": "discarded"}, fsync=False)
            except OSError:
                pass
            self.writer.discard(ep, hidden)
            was_recording = ep is self._current
            self._current = None
            self._last = None
            if self.last_saved and self.last_saved.get("episode_index") == ep.index:
                self.last_saved = None
            self.health.episode_ended()
            self.state = IDLE
            msg = f"discarded episode {ep.index}" + (" (recording)" if was_recording else " (last saved)")
            self._event(msg)
        self._changed()
        return True, msg

    def set_success(self, value: bool | None, wait_s: float = 10.0) -> tuple[bool, str]:
        """Mark the current episode, or else the one saved last, as a success / failure."""
        with self._lock:
            if self._current is not None:
                self._current.meta["success"] = value
                return True, f"episode {self._current.index}: success={value}"
            ep = self._last
            if ep is None:
                return False, "no episode to mark"
        if not ep.closed.wait(wait_s):     # outside the lock (see discard)
            return False, f"episode {ep.index} is still being written; try again"
        with self._lock:
            if ep.discarded:
                return False, f"episode {ep.index} was discarded"
            path = ep.path / "episode.yaml"
            data = read_yaml(path)
            data["success"] = value
            write_yaml_atomic(path, data, fsync=self.opts.fsync)
            ep.meta["success"] = value
            return True, f"episode {ep.index}: success={value}"

    def elapsed(self) -> float:
        with self._lock:
            return self.monotonic() - self._started_mono if self._current is not None else 0.0

    def close(self, timeout: float = 60.0) -> bool:
        """Shutdown: an unsaved episode is closed readable but marked incomplete (nobody saved it)."""
        with self._lock:
            if self._current is not None:
                self.save(final_status="incomplete")
            self.state = STOPPED
        return self.writer.stop(timeout)

    # --- status ----------------------------------------------------------------------------------
    def warnings(self) -> list[str]:
        now = self.monotonic()
        out = self.health.warnings(now)
        ep = self._current
        if ep is not None:
            for text in out:   # first occurrence of each kind per topic goes into episode.yaml
                ep.warnings.setdefault(text.split(":")[0], text)
            dropped = sum(ep.dropped.values())
            if dropped:
                out.append(f"writer backlog full: {dropped} messages dropped")
        out += self.writer.errors[-3:]
        return out

    def status(self) -> dict:
        with self._lock:
            now = self.monotonic()
            ep = self._current
            rates = self.health.rates(now)
            topics = {}
            for name, (msgtype, _) in self.topics.items():
                topics[name] = {"type": msgtype, "count": ep.sent.get(name, 0) if ep else 0,
                                "rate_hz": round(rates.get(name, 0.0), 1)}
            try:
                disk = round(free_disk_gb(self.session.path), 2)
            except OSError:
                disk = None
            return {
                "state": self.state,
                "episode_index": ep.index if ep else self.session.next_index(),
                "elapsed_s": round(now - self._started_mono, 2) if ep else 0.0,
                "task": self.opts.task,
                "session_dir": str(self.session.path),
                "topics": topics,
                "warnings": self.warnings() if ep else list(self.writer.errors[-3:]),
                "writer": {"backlog_mb": round(self.writer.backlog_bytes / 1e6, 2),
                           "pending_saves": self.writer.pending_closes},
                "last_saved": self.last_saved,
                "disk_free_gb": disk,
                "events": self.events[-5:],
            }

    def _closed(self, ep: Episode) -> None:
        if ep.discarded:
            return
        info = {"episode_index": ep.index, "status": ep.meta.get("status"),
                "counts": {t: v["count"] for t, v in ep.meta.get("topics", {}).items()},
                "save_to_disk_s": round((ep.closed_at or 0) - (ep.save_requested or 0), 3)}
        if ep.error:
            info["error"] = ep.error
        with self._lock:
            self.last_saved = info
            self._event(f"episode {ep.index} on disk ({info['status']})")
        self._changed()

    def _event(self, text: str) -> None:
        self.events.append(text)
        del self.events[:-20]

    def _changed(self) -> None:
        if self.on_change:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - a status publisher failing (shutdown) must not stop a save
                pass
