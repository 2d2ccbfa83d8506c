"""Plain-Python use of a trained policy: load a checkpoint, feed observations, get actions.

    policy = ACTPolicy.from_checkpoint("outputs/act_demo")
    policy.reset()
    action = policy.select_action({"observation.state": q, "observation.images.front": rgb})

Observations: state as a float vector in the dataset's units; images as HxWx3 uint8 RGB arrays
(or float tensors CxHxW in [0, 1]); they are resized to the checkpoint's input shape.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from policy.checkpoint import Checkpoint, load_checkpoint
from policy.config import ACTION
from policy.ensembling import ChunkExecutor, TemporalEnsembler
from policy.preprocess import prepare_image


class ObservationError(ValueError):
    """An observation missing a feature, with the wrong shape, or holding NaN/inf."""


def image_to_tensor(img: np.ndarray | torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """HxWx3 uint8 RGB (or CxHxW float in [0,1]) -> 3xHxW float in [0,1] at `shape` (H, W).

    uint8 frames take policy.preprocess.prepare_image, the path training's frames take."""
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ObservationError(f"image must be HxWx3, got {img.shape}")
        if img.dtype == np.uint8:
            return prepare_image(img, shape)
        t = torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)
    else:
        t = img.float()
    if tuple(t.shape[-2:]) != tuple(shape):
        t = F.interpolate(t.unsqueeze(0), size=tuple(shape), mode="bilinear", align_corners=False,
                          antialias=True).squeeze(0)
    return t


class ACTPolicy:
    """A loaded ACT checkpoint with normalisation, chunk prediction and action selection."""

    def __init__(self, ckpt: Checkpoint, device: str = "cpu", ensemble_coeff: float | None = None,
                 n_action_steps: int | None = None, overlap_steps: int = 0) -> None:
        self.ckpt, self.cfg, self.device = ckpt, ckpt.config, torch.device(device)
        self.model = ckpt.model.to(self.device).eval()
        self.normalizer = ckpt.normalizer.to(self.device)
        coeff = self.cfg.temporal_ensemble_coeff if ensemble_coeff is None else ensemble_coeff
        if coeff is not None:
            self.scheduler: TemporalEnsembler | ChunkExecutor = TemporalEnsembler(coeff, self.cfg.chunk_size)
        else:
            steps = n_action_steps or self.cfg.n_action_steps
            self.scheduler = ChunkExecutor(steps, overlap_steps, self.cfg.chunk_size)
        self.step = 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs) -> ACTPolicy:
        return cls(load_checkpoint(path, device=device), device=device, **kwargs)

    @property
    def image_keys(self) -> list[str]:
        return self.cfg.image_features

    @property
    def action_dim(self) -> int:
        return int(self.cfg.action_feature["shape"][0])

    def reset(self) -> None:
        self.scheduler.reset()
        self.step = 0

    def _batch(self, obs: dict) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for key, feat in self.cfg.input_features.items():
            if key not in obs:
                raise ObservationError(f"observation lacks '{key}' (the checkpoint needs {list(self.cfg.input_features)})")
            if feat.get("type") == "VISUAL":
                t = image_to_tensor(obs[key], tuple(feat["shape"][1:]))
            else:
                t = torch.from_numpy(np.array(obs[key], dtype=np.float32))   # a copy: inputs may be read-only
                if tuple(t.shape) != tuple(feat["shape"]):
                    raise ObservationError(f"'{key}' has shape {tuple(t.shape)}, expected {tuple(feat['shape'])}")
            if not torch.isfinite(t).all():
                raise ObservationError(f"'{key}' holds NaN or inf")
            batch[key] = self.normalizer.normalize(key, t.to(self.device)).unsqueeze(0)
        return batch

    @torch.inference_mode()
    def predict_chunk(self, obs: dict) -> np.ndarray:
        """(chunk_size, action_dim) actions in dataset units for this observation."""
        pred, _ = self.model(self._batch(obs))
        return self.normalizer.unnormalize(ACTION, pred[0]).float().cpu().numpy()

    def select_action(self, obs: dict) -> np.ndarray:
        """One action per call (one control step): runs the model when the schedule asks."""
        self.scheduler.advance(self.step)
        if self.scheduler.needs_inference(self.step) or self.scheduler.action_at(self.step) is None:
            self.scheduler.add_chunk(self.step, self.predict_chunk(obs))
            self.scheduler.advance(self.step)
        action = self.scheduler.action_at(self.step)
        self.step += 1
        return action
