"""Feature normalisation with a dataset's stats (LeRobot's MEAN_STD / MIN_MAX / IDENTITY modes)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from policy.config import ACTConfig

EPS = 1e-8
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class Normalizer:
    """Holds per-feature stats as float32 tensors and applies the config's normalisation mode."""

    def __init__(self, cfg: ACTConfig, stats: dict[str, dict[str, Tensor]]) -> None:
        self.cfg = cfg
        self.modes: dict[str, str] = {}
        self.stats: dict[str, dict[str, Tensor]] = {}
        features = {**cfg.input_features, **cfg.output_features}
        for key, feat in features.items():
            mode = cfg.normalization_mapping.get(feat.get("type", ""), "IDENTITY")
            self.modes[key] = mode
            if mode == "IDENTITY":
                continue
            needed = ("mean", "std") if mode == "MEAN_STD" else ("min", "max")
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
        return x

    def unnormalize(self, key: str, x: Tensor) -> Tensor:
        mode = self.modes.get(key, "IDENTITY")
        if mode == "MEAN_STD":
            st = self.stats[key]
            return x * (st["std"] + EPS) + st["mean"]
        if mode == "MIN_MAX":
            st = self.stats[key]
            return (x + 1) / 2 * (st["max"] - st["min"] + EPS) + st["min"]
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
