"""Feature normalisation with a dataset's stats: LeRobot's MEAN_STD, MIN_MAX, QUANTILES (q01/q99),
QUANTILE10 (q10/q90) and IDENTITY modes. Any other mode is refused (CheckpointError naming it).

QUANTILES / QUANTILE10 follow LeRobot 0.4's normalize processor: x -> 2 (x - lo) / (hi - lo) - 1,
inverse (y + 1) (hi - lo) / 2 + lo, a zero width replaced by EPS, and no clipping (values outside
the quantiles map outside [-1, 1]).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from policy.base import PolicyConfig
from policy.errors import CheckpointError

EPS = 1e-8
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# mode -> the stats it reads; QUANTILES/QUANTILE10 map [lo, hi] to [-1, 1] like MIN_MAX
STATS_OF_MODE = {"MEAN_STD": ("mean", "std"), "MIN_MAX": ("min", "max"), "QUANTILES": ("q01", "q99"),
                 "QUANTILE10": ("q10", "q90"), "IDENTITY": ()}


class Normalizer:
    """Holds per-feature stats as float32 tensors and applies the config's normalisation mode."""

    def __init__(self, cfg: PolicyConfig, stats: dict[str, dict[str, Tensor]]) -> None:
        self.cfg = cfg
        self.modes: dict[str, str] = {}
        self.stats: dict[str, dict[str, Tensor]] = {}
        features = {**cfg.input_features, **cfg.output_features}
        for key, feat in features.items():
            mode = str(cfg.normalization_mapping.get(feat.get("type", ""), "IDENTITY"))
            if mode not in STATS_OF_MODE:
                raise CheckpointError(f"normalisation mode '{mode}' of '{key}' is unknown "
                                      f"(known: {', '.join(STATS_OF_MODE)})")
            self.modes[key] = mode
            if mode == "IDENTITY":
                continue
            needed = STATS_OF_MODE[mode]
            have = stats.get(key, {})
            missing = [s for s in needed if s not in have]
            if missing:
                raise ValueError(f"normalisation stats for '{key}' lack {missing} (mode {mode})")
            shape = (3, 1, 1) if feat.get("type") == "VISUAL" else tuple(feat["shape"])
            self.stats[key] = {}
            for s in needed:
                value = torch.as_tensor(np.asarray(have[s], dtype=np.float32)).reshape(shape)
                if not torch.isfinite(value).all():
                    raise ValueError(f"normalisation stat {key}.{s} holds non-finite values")
                self.stats[key][s] = value

    def to(self, device: torch.device | str) -> Normalizer:
        self.stats = {k: {s: v.to(device) for s, v in d.items()} for k, d in self.stats.items()}
        return self

    def normalize(self, key: str, x: Tensor) -> Tensor:
        mode = self.modes.get(key, "IDENTITY")
        if mode == "MEAN_STD":
            st = self.stats[key]
            return (x - st["mean"]) / (st["std"] + EPS)
        if mode == "MIN_MAX":
            st = self.stats[key]
            return (x - st["min"]) / (st["max"] - st["min"] + EPS) * 2 - 1
        if mode in ("QUANTILES", "QUANTILE10"):
            lo, width = self._quantile_range(key, mode)
            return 2.0 * (x - lo) / width - 1.0
        return x

    def _quantile_range(self, key: str, mode: str) -> tuple[Tensor, Tensor]:
        lo_name, hi_name = STATS_OF_MODE[mode]
        lo, hi = self.stats[key][lo_name], self.stats[key][hi_name]
        width = hi - lo
        return lo, torch.where(width == 0, torch.full_like(width, EPS), width)

    def unnormalize(self, key: str, x: Tensor) -> Tensor:
        mode = self.modes.get(key, "IDENTITY")
        if mode == "MEAN_STD":
            st = self.stats[key]
            return x * (st["std"] + EPS) + st["mean"]
        if mode == "MIN_MAX":
            st = self.stats[key]
            return (x + 1) / 2 * (st["max"] - st["min"] + EPS) + st["min"]
        if mode in ("QUANTILES", "QUANTILE10"):
            lo, width = self._quantile_range(key, mode)
            return (x + 1.0) * width / 2.0 + lo
        return x

    def normalize_batch(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: self.normalize(k, v) if k in self.modes else v for k, v in batch.items()}

    def flat(self) -> dict[str, Tensor]:
        """{"<feature>.<stat>": tensor}: the layout of LeRobot's normalizer safetensors files."""
        return {f"{k}.{s}": v.detach().cpu().contiguous() for k, d in self.stats.items() for s, v in d.items()}


def stats_from_flat(flat: dict[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    out: dict[str, dict[str, Tensor]] = {}
    for name, value in flat.items():
        key, _, stat = name.rpartition(".")
        out.setdefault(key, {})[stat] = value
    return out


def imagenet_stats() -> dict[str, Tensor]:
    return {"mean": torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1), "std": torch.tensor(IMAGENET_STD).reshape(3, 1, 1)}
