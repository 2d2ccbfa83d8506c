"""Turning predicted action chunks into one action per control step.

Chunks are anchored at the control step of the observation they were computed from: chunk[i]
is the action for step `start + i`. With asynchronous inference a chunk arrives some steps after
its start; its earlier actions are simply in the past.

- TemporalEnsembler: the action for step t averages every stored chunk that covers t, weighted
  w_i = exp(-k * i) with i = 0 for the oldest chunk (ACT's temporal ensembling; k > 0 favours
  old predictions, k < 0 new ones).
- ChunkExecutor: plays one chunk for n_action_steps, then switches to the newest chunk, blending
  linearly from the old into the new chunk over overlap_steps so the switch does not step.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np


class TemporalEnsembler:
    def __init__(self, coeff: float, chunk_size: int) -> None:
        self.coeff = float(coeff)
        self.chunk_size = int(chunk_size)
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()  # start step -> (chunk, D), oldest first

    def reset(self) -> None:
        self._chunks.clear()

    def add_chunk(self, start: int, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=float)
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise ValueError(f"chunk must be (steps, dims), got {chunk.shape}")
        self._chunks[int(start)] = chunk
        self._chunks = OrderedDict(sorted(self._chunks.items()))

    def prune(self, step: int) -> None:
        for start in [s for s, c in self._chunks.items() if s + len(c) <= step]:
            del self._chunks[start]

    def advance(self, step: int) -> None:
        self.prune(step)

    def covering(self, step: int) -> list[np.ndarray]:
        """Actions for `step` from every chunk covering it, oldest chunk first."""
        return [c[step - s] for s, c in self._chunks.items() if s <= step < s + len(c)]

    def action_at(self, step: int) -> np.ndarray | None:
        preds = self.covering(step)
        if not preds:
            return None
        w = np.exp(-self.coeff * np.arange(len(preds)))
        return np.tensordot(w / w.sum(), np.stack(preds), axes=1)

    def needs_inference(self, step: int) -> bool:
        return True  # every fresh observation adds a prediction

    @property
    def newest_start(self) -> int | None:
        return next(reversed(self._chunks)) if self._chunks else None


class ChunkExecutor:
    def __init__(self, n_action_steps: int, overlap_steps: int, chunk_size: int) -> None:
        if not 0 < n_action_steps <= chunk_size:
            raise ValueError(f"n_action_steps must be in 1..{chunk_size}, got {n_action_steps}")
        if overlap_steps < 0 or n_action_steps + overlap_steps > chunk_size:
            raise ValueError(f"overlap_steps {overlap_steps} + n_action_steps {n_action_steps} exceed chunk {chunk_size}")
        self.n_action_steps, self.overlap_steps, self.chunk_size = n_action_steps, overlap_steps, chunk_size
        self.latency_steps = 0  # how many steps inference takes: ask for the next chunk that early
        self.reset()

    def reset(self) -> None:
        self._current: tuple[int, np.ndarray] | None = None
        self._previous: tuple[int, np.ndarray] | None = None
        self._switch_step = 0
        self._pending: tuple[int, np.ndarray] | None = None

    def add_chunk(self, start: int, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=float)
        if self._current is None:
            self._current, self._switch_step = (int(start), chunk), int(start)
        else:
            self._pending = (int(start), chunk)

    def _activate_pending(self, step: int) -> None:
        start, chunk = self._pending
        if step >= start + len(chunk):
            self._pending = None  # arrived too late to be of use
            return
        self._previous, self._current, self._switch_step = self._current, (start, chunk), step
        self._pending = None

    def _due(self, step: int) -> bool:
        start, _ = self._current
        return step >= start + self.n_action_steps

    def action_at(self, step: int) -> np.ndarray | None:
        """Action for step; the switch to a waiting chunk happens once its predecessor is due
        (or runs out). Querying future steps (lookahead) never switches."""
        return self._action(step, commit=False)

    def advance(self, step: int) -> None:
        """Called once per control step before action_at(step): performs due switches."""
        if self._current is None and self._pending is not None:
            self._current, self._pending, self._switch_step = self._pending, None, step
        if self._pending is not None and self._current is not None and self._due(step):
            self._activate_pending(step)

    def _action(self, step: int, commit: bool) -> np.ndarray | None:
        if self._current is None:
            return None
        start, chunk = self._current
        i = step - start
        if not 0 <= i < len(chunk):
            return None
        new = chunk[i]
        if self._previous is None or self.overlap_steps == 0:
            return new
        pstart, pchunk = self._previous
        j = step - pstart
        k = step - self._switch_step  # steps since the switch
        if k >= self.overlap_steps or not 0 <= j < len(pchunk):
            return new
        alpha = (k + 1) / (self.overlap_steps + 1)
        return (1 - alpha) * pchunk[j] + alpha * new

    def needs_inference(self, step: int) -> bool:
        if self._pending is not None:
            return False
        if self._current is None:
            return True
        start, _ = self._current
        return step >= start + self.n_action_steps - self.latency_steps


def ensemble_weights(n: int, coeff: float) -> np.ndarray:
    """Normalised exp(-coeff * i), i = 0 (oldest) .. n-1: the documented formula."""
    w = np.array([math.exp(-coeff * i) for i in range(n)])
    return w / w.sum()
