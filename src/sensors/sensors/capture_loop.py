"""The capture thread: reads a FrameSource, hands frames on, and reconnects when the source fails."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .frame_source import EndOfStream, FrameSource, SourceError, SourceKind
from .stream_stats import StreamStats

STARTING, STREAMING, DISCONNECTED, FINISHED, STOPPED = "starting", "streaming", "disconnected", "finished", "stopped"


@dataclass
class LoopStatus:
    state: str = STARTING
    message: str = ""
    last_error: str = ""
    reconnects: int = 0          # successful re-opens after a failure
    failed_opens: int = 0
    handler_errors: int = 0      # frames whose on_frame raised (publishing / processing bugs)
    since_mono: float = field(default_factory=time.monotonic)  # when the state was entered
    last_frame_mono: float = 0.0


class CaptureLoop:
    """Runs `source` in a daemon thread; calls on_frame(bgr, stamp_ns, seq) for every frame and
    on_state(state, message) on every state change (errors included), from that thread."""

    def __init__(self, source: FrameSource, on_frame: Callable[[np.ndarray, int, int], None],
                 on_state: Callable[[str, str], None] | None = None, reconnect_period_s: float = 1.0,
                 stats: StreamStats | None = None) -> None:
        self.source = source
        self.on_frame = on_frame
        self.on_state = on_state or (lambda s, m: None)
        self.reconnect_period_s = reconnect_period_s
        self.stats = stats or StreamStats()
        self.status = LoopStatus()
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {source.spec}", daemon=True)

    def start(self) -> CaptureLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():  # a thread stuck in a blocking read keeps its capture
            self.source.close()

    def _set(self, state: str, message: str) -> None:
        changed = (state, message) != (self.status.state, self.status.message)
        if state != self.status.state:
            self.status.since_mono = time.monotonic()
        self.status.state, self.status.message = state, message
        if state == DISCONNECTED:
            self.status.last_error = message
        if changed:
            self._notify(state, message)

    def _notify(self, state: str, message: str) -> None:
        try:
            self.on_state(state, message)
        except Exception as e:  # noqa: BLE001 - a logging failure must not kill capture
            self.status.handler_errors += 1
            self.status.last_error = f"state handler failed: {type(e).__name__}: {e}"


    def _open(self) -> bool:
        try:
            self.source.open()
        except SourceError as e:
            self.status.failed_opens += 1
            self._set(DISCONNECTED, f"{e}; retrying every {self.reconnect_period_s:g} s")
            return False
        if self.status.state == DISCONNECTED:
            self.status.reconnects += 1
        if self.source.rate > 0:
            self.stats.expected_fps = self.source.rate
        self.stats.reset_gap()
        w, h = self.source.size
        self._set(STREAMING, f"streaming {self.source.spec} ({w}x{h} @ {self.source.rate:.1f} fps)")
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.source.is_open and not self._open():
                self._stop.wait(self.reconnect_period_s)
                continue
            try:
                frame, stamp = self.source.read()
            except EndOfStream as e:
                self.source.close()
                self._set(FINISHED, str(e))
                break
            except SourceError as e:
                self.source.close()
                self._set(DISCONNECTED, f"{e}; reconnecting every {self.reconnect_period_s:g} s")
                self._stop.wait(self.reconnect_period_s)
                continue
            self.stats.add(stamp, lossless=self.source.spec.kind is SourceKind.FILE)
            self.status.last_frame_mono = time.monotonic()
            try:
                self.on_frame(frame, stamp, self.seq)
            except Exception as e:  # noqa: BLE001 - a publish failure must not kill capture
                self.status.handler_errors += 1
                self.status.last_error = f"frame handler failed: {type(e).__name__}: {e}"
                if self.status.handler_errors == 1:
                    self._notify(self.status.state, self.status.last_error)
            self.seq += 1
        self.source.close()
        if self.status.state != FINISHED:
            self._set(STOPPED, "capture stopped")
