"""Measured frame rate and dropped frames of a stream, from its capture stamps."""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass
class StreamSnapshot:
    frames: int            # frames delivered since start
    dropped: int           # frames inferred missing from gaps in the capture stamps
    fps: float             # measured over the window (0 when fewer than 2 frames in it)
    window_dropped: int    # dropped within the window
    last_stamp_ns: int     # capture stamp of the newest frame (0: none yet)
    non_monotonic: int     # stamps that did not increase (clock jumps)
    late: int = 0          # gaps in a stream that cannot drop frames (file replay): delivered late


class StreamStats:
    """Frame accounting shared by the capture thread (add) and the diagnostics timer (snapshot).

    A gap between consecutive capture stamps longer than `gap_factor` expected periods counts
    round(gap / period) - 1 dropped frames: what a camera that skipped frames looks like from here.
    """

    def __init__(self, expected_fps: float = 0.0, window_s: float = 2.0, gap_factor: float = 1.5) -> None:
        self.expected_fps = expected_fps
        self.window_ns = int(window_s * 1e9)
        self.gap_factor = gap_factor
        self._lock = threading.Lock()
        self._stamps: deque[tuple[int, int]] = deque()  # (stamp, dropped before it)
        self.frames = 0
        self.dropped = 0
        self.non_monotonic = 0
        self.late = 0
        self._last = 0

    def reset_gap(self) -> None:
        """After a reconnect the pause is an outage, not dropped frames."""
        with self._lock:
            self._last = 0

    def add(self, stamp_ns: int, lossless: bool = False) -> int:
        """Record one frame; returns the frames inferred dropped just before it. A `lossless` source
        (a file: every frame is decoded) counts a gap as one late frame instead."""
        with self._lock:
            lost = 0
            if self._last:
                gap = stamp_ns - self._last
                if gap <= 0:
                    self.non_monotonic += 1
                elif self.expected_fps > 0:
                    period = 1e9 / self.expected_fps
                    if gap > self.gap_factor * period:
                        if lossless:
                            self.late += 1
                        else:
                            lost = max(0, int(round(gap / period)) - 1)
            self._last = stamp_ns
            self.frames += 1
            self.dropped += lost
            self._stamps.append((stamp_ns, lost))
            while self._stamps and stamp_ns - self._stamps[0][0] > self.window_ns:
                self._stamps.popleft()
            return lost

    def snapshot(self, now_ns: int | None = None) -> StreamSnapshot:
        with self._lock:
            stamps = list(self._stamps)
            if now_ns is not None:  # a stalled stream's window empties instead of freezing its last rate
                stamps = [s for s in stamps if now_ns - s[0] <= self.window_ns]
            fps = 0.0
            if len(stamps) >= 2 and stamps[-1][0] > stamps[0][0]:
                fps = (len(stamps) - 1) * 1e9 / (stamps[-1][0] - stamps[0][0])
            return StreamSnapshot(self.frames, self.dropped, fps, sum(s[1] for s in stamps[1:]),
                                  self._last, self.non_monotonic, self.late)
