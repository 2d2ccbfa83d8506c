"""Per-topic rates and silence detection while recording, and the free-disk check."""
from __future__ import annotations

import shutil
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class _TopicStats:
    expected_hz: float | None
    optional: bool
    total: int = 0
    last_rx: float | None = None
    recent: deque = field(default_factory=deque)


class TopicHealth:
    """Receive statistics per topic, fed with monotonic receive times (seconds).

    A topic is *silent* when nothing arrived for `silence_s` (or 2.5 periods of its expected rate,
    whichever is longer) and *slow* when its rate over the last `window_s` is below
    `min_rate_ratio` x expected_hz. Warnings are only produced while recording.
    """

    def __init__(self, window_s: float = 2.0, silence_s: float = 1.0, min_rate_ratio: float = 0.7) -> None:
        self.window_s = window_s
        self.silence_s = silence_s
        self.min_rate_ratio = min_rate_ratio
        self._topics: dict[str, _TopicStats] = {}
        self._episode_start: float | None = None

    def add_topic(self, name: str, expected_hz: float | None = None, optional: bool = False) -> None:
        self._topics.setdefault(name, _TopicStats(expected_hz, optional))

    def on_message(self, name: str, now: float) -> None:
        st = self._topics[name]
        st.total += 1
        st.last_rx = now
        st.recent.append(now)
        cutoff = now - self.window_s
        while st.recent and st.recent[0] < cutoff:
            st.recent.popleft()

    def episode_started(self, now: float) -> None:
        self._episode_start = now

    def episode_ended(self) -> None:
        self._episode_start = None

    def rate(self, name: str, now: float) -> float:
        st = self._topics[name]
        cutoff = now - self.window_s
        while st.recent and st.recent[0] < cutoff:
            st.recent.popleft()
        span = self.window_s
        if self._episode_start is not None:
            span = min(span, max(now - self._episode_start, 1e-3))
        return len(st.recent) / span

    def rates(self, now: float) -> dict[str, float]:
        return {n: self.rate(n, now) for n in self._topics}

    def warnings(self, now: float) -> list[str]:
        start = self._episode_start
        if start is None:
            return []
        out = []
        for name, st in self._topics.items():
            limit = self.silence_s
            if st.expected_hz:
                limit = max(limit, 2.5 / st.expected_hz)
            since = now - max(st.last_rx if st.last_rx is not None else start, start)
            if since >= limit and not st.optional:
                what = "no message yet" if st.last_rx is None or st.last_rx < start else "nothing"
                out.append(f"{name} silent: {what} for {since:.1f} s")
                continue
            if st.expected_hz and now - start >= self.window_s:
                rate = self.rate(name, now)
                if rate < self.min_rate_ratio * st.expected_hz and (st.recent or not st.optional):
                    out.append(f"{name} slow: {rate:.1f} Hz, expected {st.expected_hz:g} Hz")
        return out


def free_disk_gb(path: Path) -> float:
    """Free space of the file system holding `path` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free / 1e9
