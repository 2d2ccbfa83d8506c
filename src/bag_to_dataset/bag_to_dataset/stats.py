"""Feature statistics in LeRobot's stats.json layout, computed in float64."""
from __future__ import annotations

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILES)


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of an [N, D] (or [N]) array along frames; float64 so integer squares cannot overflow."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    out = {
        "min": x.min(axis=0), "max": x.max(axis=0), "mean": x.mean(axis=0), "std": x.std(axis=0),
        "count": np.array([x.shape[0]], dtype=np.int64),
    }
    for key, q in QUANTILES.items():
        out[key] = np.quantile(x, q, axis=0)
    return out


def combine_mean_std(parts: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Count-weighted mean and parallel (Chan et al.) variance of per-episode stats."""
    n = np.array([int(p["count"][0]) for p in parts], dtype=np.float64)
    means = np.stack([p["mean"] for p in parts])
    variances = np.stack([p["std"] for p in parts]) ** 2
    total = n.sum()
    mean = (n[:, None] * means).sum(axis=0) / total
    m2 = (n[:, None] * (variances + (means - mean) ** 2)).sum(axis=0)
    return mean, np.sqrt(m2 / total), int(total)


def aggregate_vector_stats(parts: list[dict[str, np.ndarray]], all_values: np.ndarray) -> dict[str, np.ndarray]:
    """Dataset stats: mean/std combined from episodes, min/max/quantiles over every frame."""
    mean, std, total = combine_mean_std(parts)
    full = vector_stats(all_values)
    full.update(mean=mean, std=std, count=np.array([total], dtype=np.int64))
    return full


def histogram_stats(counts: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Image stats (values in [0, 1], shape (3, 1, 1)) from per-channel 256-bin pixel histograms."""
    counts = np.asarray(counts, dtype=np.float64)
    levels = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1)
    if np.any(total == 0):
        raise ValueError("no sampled pixels for image statistics")
    mean = (counts * levels).sum(axis=1) / total
    var = (counts * (levels - mean[:, None]) ** 2).sum(axis=1) / total
    present = counts > 0
    cdf = np.cumsum(counts, axis=1) / total[:, None]
    out = {
        "min": np.array([levels[np.argmax(p)] for p in present]),
        "max": np.array([levels[255 - np.argmax(p[::-1])] for p in present]),
        "mean": mean, "std": np.sqrt(var),
    }
    for key, q in QUANTILES.items():
        # inverted CDF: the smallest level whose cumulative share reaches q
        out[key] = np.array([levels[min(255, int(np.searchsorted(c, q - 1e-12)))] for c in cdf])
    shaped = {k: v.reshape(3, 1, 1) for k, v in out.items()}
    shaped["count"] = np.array([frames], dtype=np.int64)
    return shaped


def to_json(stats: dict[str, np.ndarray]) -> dict[str, list]:
    return {k: np.asarray(v).tolist() for k, v in stats.items()}
