"""Time alignment helpers: resample irregular streams onto a fixed clock."""
from __future__ import annotations

import numpy as np


def hold_last_indices(src_times: np.ndarray, query_times: np.ndarray, tolerance: float | None = None) -> np.ndarray:
    """Index of the latest sample at or before each query time; -1 where none (or older than tolerance)."""
    src = np.asarray(src_times)
    q = np.asarray(query_times)
    idx = np.searchsorted(src, q, side="right") - 1
    if tolerance is not None:
        ok = idx >= 0
        stale = np.zeros_like(ok)
        stale[ok] = (q[ok] - src[idx[ok]]) > tolerance
        idx = np.where(stale, -1, idx)
    return idx


def nearest_indices(src_times: np.ndarray, query_times: np.ndarray, tolerance: float | None = None) -> np.ndarray:
    """Index of the nearest sample to each query time; -1 where farther than tolerance."""
    src = np.asarray(src_times)
    q = np.asarray(query_times)
    if src.size == 0:
        return np.full(q.shape, -1, dtype=int)
    right = np.clip(np.searchsorted(src, q), 0, src.size - 1)
    left = np.clip(right - 1, 0, src.size - 1)
    pick = np.where(np.abs(src[left] - q) <= np.abs(src[right] - q), left, right)
    if tolerance is not None:
        pick = np.where(np.abs(src[pick] - q) > tolerance, -1, pick)
    return pick


def fixed_clock(start: float, end: float, fps: float) -> np.ndarray:
    """Frame times start + i / fps for every frame that fits in [start, end]."""
    n = int(np.floor((end - start) * fps + 1e-9)) + 1 if end >= start else 0
    return start + np.arange(n) / fps


def find_gaps(times: np.ndarray, max_gap: float) -> list[tuple[float, float]]:
    """(start, length) of every gap between consecutive samples longer than max_gap."""
    t = np.asarray(times)
    d = np.diff(t)
    return [(float(t[i]), float(d[i])) for i in np.nonzero(d > max_gap)[0]]
