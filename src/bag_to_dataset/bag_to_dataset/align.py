"""Alignment of irregular streams onto the dataset's fixed fps clock.

The episode starts when every stream has a sample and ends at the last time every stream still
has one. Frame i sits at start + i / fps; each stream contributes its latest sample at or before
that time (causal zero-order hold). What happens when that sample is older than the stream's
tolerance depends on its policy:
  hold      keep the frame with the stale sample (counted as stale frames in the report)
  tolerance the episode is rejected (a strict quality gate)
  drop      the frame is dropped; the remaining frames are re-indexed on the fixed clock
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_common.timesync import find_gaps, hold_last_indices

NS = 1_000_000_000


class AlignmentError(ValueError):
    """Streams that cannot be aligned (no overlap, a tolerance violated under the strict policy)."""


@dataclass
class StreamTimes:
    name: str                 # topic (for messages) or feature/source label
    times_ns: np.ndarray      # sorted int64
    policy: str = "hold"
    tolerance: float = 0.1


@dataclass
class Alignment:
    start_ns: int
    frame_times_ns: np.ndarray                     # kept frames' source times
    indices: dict[str, np.ndarray]                 # stream -> sample index per kept frame
    report: dict[str, dict] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(self.frame_times_ns.size)

    def drop_first(self, k: int) -> None:
        """Start the episode at kept frame k (leading idle frames trimmed)."""
        if k <= 0:
            return
        self.frame_times_ns = self.frame_times_ns[k:]
        self.indices = {name: idx[k:] for name, idx in self.indices.items()}
        self.start_ns = int(self.frame_times_ns[0])


def first_motion(action: np.ndarray, threshold: float) -> int:
    """Index of the last frame before any action value has moved more than `threshold` from its
    first value (0 when it moves at once; the last frame when it never moves). A demonstration
    often starts with the operator (or the scripted expert) still: a policy trained on those frames
    learns that the start pose means 'stay', and never leaves it."""
    moved = np.max(np.abs(action - action[0]), axis=1) > threshold
    return max(int(np.argmax(moved)) - 1, 0) if moved.any() else action.shape[0] - 1


def align_streams(streams: list[StreamTimes], fps: int) -> Alignment:
    empty = [s.name for s in streams if s.times_ns.size == 0]
    if empty:
        raise AlignmentError(f"no samples on {empty}")
    start = max(int(s.times_ns[0]) for s in streams)
    end = min(int(s.times_ns[-1]) for s in streams)
    if end < start:
        spans = ", ".join(f"{s.name} [{s.times_ns[0] / NS:.3f}, {s.times_ns[-1] / NS:.3f}] s" for s in streams)
        raise AlignmentError(f"streams do not overlap in time (mixed header/receive clocks?): {spans}")
    n = (end - start) * fps // NS + 1
    # integer arithmetic: frame i at start + floor(i * 1e9 / fps) ns, no float drift
    frame_ns = start + (np.arange(n, dtype=np.int64) * NS) // fps
    keep = np.ones(n, dtype=bool)
    indices: dict[str, np.ndarray] = {}
    report: dict[str, dict] = {}
    for s in streams:
        idx = hold_last_indices(s.times_ns, frame_ns)
        age = (frame_ns - s.times_ns[idx]) / NS
        stale = age > s.tolerance
        gaps = find_gaps((s.times_ns - start) / NS, s.tolerance)
        duration = (s.times_ns[-1] - s.times_ns[0]) / NS
        report[s.name] = {
            "samples": int(s.times_ns.size),
            "rate_hz": round((s.times_ns.size - 1) / duration, 3) if duration > 0 else 0.0,
            "gaps": len(gaps),
            "max_gap_s": round(max((g[1] for g in gaps), default=0.0), 6),
            "stale_frames": int(stale.sum()),
            "dropped_frames": 0,
            "policy": s.policy,
        }
        if stale.any() and s.policy == "tolerance":
            first = float(frame_ns[np.argmax(stale)] - start) / NS
            raise AlignmentError(
                f"{s.name}: {int(stale.sum())} frames have no sample within {s.tolerance} s "
                f"(first at t={first:.3f} s, largest gap {report[s.name]['max_gap_s']:.3f} s); "
                f"policy 'tolerance' rejects the episode (use 'hold' or 'drop' to keep it)")
        if s.policy == "drop":
            report[s.name]["dropped_frames"] = int((stale & keep).sum())
            keep &= ~stale
        indices[s.name] = idx
    if not keep.any():
        raise AlignmentError("every frame was dropped by the 'drop' policy")
    return Alignment(start_ns=start, frame_times_ns=frame_ns[keep],
                     indices={k: v[keep] for k, v in indices.items()}, report=report)
