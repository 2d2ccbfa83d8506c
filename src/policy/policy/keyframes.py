"""Next-keyframe targets: for every frame, the action at the episode's next gripper event.

A pick-and-place demonstration has a few moments that decide it: where the gripper closes (the
grasp) and where it opens (the place). The action at those frames is a label every recorded
demonstration carries, with no tracker or simulator truth. Predicting it from the camera features
gives the image encoder a direct, dense signal about where the object is, on every frame before the
grasp, instead of only through the 1-2 s action chunk (workspace `keyframe_weight`, policy/act.py).

An event is a frame where the keyframe joint's action crosses the midpoint of its range over the
dataset (closing or opening); a frame's keyframe is the first event at or after it, or its
episode's last frame when none is left.
"""
from __future__ import annotations

import numpy as np


class KeyframeError(ValueError):
    """The dataset cannot give keyframes (no action named like the keyframe joint)."""


def keyframe_dim(action_names: list[str], joint: str) -> int:
    """Index of the action whose name is `joint` (or, failing that, the one name containing it)."""
    if joint in action_names:
        return action_names.index(joint)
    hits = [i for i, n in enumerate(action_names) if joint in n]
    if len(hits) != 1:
        raise KeyframeError(f"keyframe_joint '{joint}' names {len(hits)} of the actions {action_names}; "
                            "set workspace.keyframe_joint to one of them")
    return hits[0]


def next_keyframe_index(values: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Row index of each row's next event (see module doc); `values` is the keyframe joint's action
    per row, `episode` the episode index per row, rows of an episode contiguous and in time order."""
    values = np.asarray(values, dtype=np.float64)
    episode = np.asarray(episode)
    mid = 0.5 * (values.min() + values.max())
    high = values > mid
    n = len(values)
    out = np.empty(n, dtype=np.int64)
    nxt = n - 1
    for i in range(n - 1, -1, -1):
        last_of_episode = i == n - 1 or episode[i + 1] != episode[i]
        if last_of_episode:
            nxt = i
        first_of_episode = i == 0 or episode[i - 1] != episode[i]
        if not first_of_episode and high[i] != high[i - 1]:
            nxt = i
        out[i] = nxt
    return out
