"""The writer thread: takes messages and episode commands from a queue, so that subscription
callbacks never block on disk, and closes finished bags while the recorder already records the next."""
from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .bag import EpisodeBag
from .layout import write_yaml_atomic

log = logging.getLogger("recorder.writer")

_MSG, _OPEN, _TOPIC, _CLOSE, _DISCARD, _STOP, _SYNC = range(7)


@dataclass(eq=False)
class Episode:
    index: int
    path: Path
    bag: EpisodeBag
    meta: dict                                   # episode.yaml content (status incomplete until saved)
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))      # handed to the writer
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))   # writer backlog full
    final_status: str = "complete"               # what save() asked for (shutdown closes as incomplete)
    warnings: dict[str, str] = field(default_factory=dict)   # health warnings seen, first of each kind
    discarded: bool = False
    error: str | None = None
    save_requested: float | None = None          # monotonic
    closed_at: float | None = None               # monotonic, when episode.yaml was final
    closed: threading.Event = field(default_factory=threading.Event)


class EpisodeWriter:
    """Owns the bags after they are opened. One thread, one FIFO: the order of messages, closes and
    discards is the order in which the recorder queued them."""

    def __init__(self, fsync: bool = True, on_closed: Callable[[Episode], None] | None = None) -> None:
        self.fsync = fsync
        self.on_closed = on_closed
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._open: set[Episode] = set()
        self.bytes_in = 0        # only the recorder thread adds
        self.bytes_out = 0       # only the writer thread adds
        self.pending_closes = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    @property
    def backlog_bytes(self) -> int:
        return self.bytes_in - self.bytes_out

    # --- called by the recorder (any single thread) -------------------------------------------
    def write(self, ep: Episode, topic: str, t_ns: int, data: bytes) -> None:
        self.bytes_in += len(data)
        self._q.put((_MSG, ep, topic, t_ns, data))

    def add_topic(self, ep: Episode, topic: str, msgtype: str, qos: list) -> None:
        self._q.put((_TOPIC, ep, topic, msgtype, qos))

    def close(self, ep: Episode) -> None:
        ep.save_requested = time.monotonic()
        self.pending_closes += 1
        self._q.put((_CLOSE, ep))

    def discard(self, ep: Episode, hidden_path: Path) -> None:
        self._q.put((_DISCARD, ep, hidden_path))

    def stop(self, timeout: float = 60.0) -> bool:
        self._q.put((_STOP,))
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def sync(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (not necessarily flushed)."""
        done = threading.Event()
        self._q.put((_SYNC, done))
        return done.wait(timeout)

    def open(self, ep: Episode) -> None:
        """An episode opened by the recorder; from now on only this thread touches its bag."""
        self._q.put((_OPEN, ep))

    # --- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                self._flush_all()
                continue
            kind = item[0]
            try:
                if kind == _MSG:
                    self._write(*item[1:])
                elif kind == _OPEN:
                    self._open.add(item[1])
                elif kind == _TOPIC:
                    self._topic(*item[1:])
                elif kind == _CLOSE:
                    self._close(item[1])
                elif kind == _DISCARD:
                    self._discard(*item[1:])
                elif kind == _SYNC:
                    item[1].set()
                elif kind == _STOP:
                    return
            except Exception as err:  # noqa: BLE001 - one bad episode must not stop the writer
                ep = item[1]
                self._fail(ep, f"{type(err).__name__}: {err}")
                log.error("writer: %s\n%s", err, traceback.format_exc())

    def _write(self, ep: Episode, topic: str, t_ns: int, data: bytes) -> None:
        self.bytes_out += len(data)
        if ep.discarded or ep.error:
            return
        ep.bag.write(topic, t_ns, data)
        ep.bag.maybe_flush()

    def _topic(self, ep: Episode, topic: str, msgtype: str, qos: list) -> None:
        if not (ep.discarded or ep.error):
            ep.bag.add_topic(topic, msgtype, qos)

    def _flush_all(self) -> None:
        for ep in list(self._open):
            if not (ep.discarded or ep.error):
                try:
                    ep.bag.flush()
                except Exception as err:  # noqa: BLE001
                    self._fail(ep, f"flush failed: {err}")

    def _close(self, ep: Episode) -> None:
        self._open.discard(ep)
        try:
            if ep.discarded:
                return
            if not ep.error:
                try:
                    counts = ep.bag.close(fsync=self.fsync)
                    ep.meta["topics"] = {t: {"type": ep.bag.types[t], "count": n} for t, n in counts.items()}
                    ep.meta["status"] = ep.final_status
                except Exception as err:  # noqa: BLE001 - disk full etc.: keep what is on disk, say why
                    self._fail(ep, f"closing the bag failed: {type(err).__name__}: {err}")
            if ep.error:
                ep.meta.update(status="incomplete", error=ep.error)
            if any(ep.dropped.values()):
                ep.meta["dropped"] = {t: n for t, n in ep.dropped.items() if n}
            write_yaml_atomic(ep.path / "episode.yaml", ep.meta, self.fsync)
        finally:
            self.pending_closes -= 1
            ep.closed_at = time.monotonic()
            ep.closed.set()
            if self.on_closed:
                self.on_closed(ep)

    def _discard(self, ep: Episode, hidden_path: Path) -> None:
        self._open.discard(ep)
        if not ep.closed.is_set():
            try:
                ep.bag.abort()
            except Exception:  # noqa: BLE001 - the file is deleted anyway
                pass
        shutil.rmtree(hidden_path, ignore_errors=True)

    def _fail(self, ep: Episode, why: str) -> None:
        if not isinstance(ep, Episode) or ep.error:
            return
        ep.error = why
        self.errors.append(f"episode {ep.index}: {why}")
        try:
            ep.bag.abort()
        except Exception:  # noqa: BLE001
            pass
