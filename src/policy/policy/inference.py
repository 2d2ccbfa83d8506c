"""Plain-Python use of a trained policy of any registered type: load a checkpoint, feed
observations, get actions.

    policy = PolicyRunner.from_checkpoint("outputs/act_demo")   # ACTPolicy is the same class
    policy.reset()
    action = policy.select_action({"observation.state": q, "observation.images.front": rgb})

Observations: state as a float vector in the dataset's units; images as HxWx3 uint8 RGB arrays
(or float tensors CxHxW in [0, 1]); they are resized to the checkpoint's input shape.
With n_obs_steps > 1, predict_chunk takes every feature with a leading time axis (oldest first,
n_obs_steps long); select_action takes single frames and keeps the history itself.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from policy.checkpoint import Checkpoint, load_checkpoint
from policy.config import ACTION, ENV_STATE
from policy.ensembling import ChunkExecutor, TemporalEnsembler
from policy.preprocess import prepare_image


class ObservationError(ValueError):
    """An observation missing a feature, with the wrong shape, or holding NaN/inf."""


def image_to_tensor(img: np.ndarray | torch.Tensor, shape: tuple[int, int],
                    crop: list[float] | None = None) -> torch.Tensor:
    """HxWx3 uint8 RGB (or CxHxW float in [0,1], never cropped) -> 3xHxW float in [0,1] at `shape` (H, W).

    uint8 frames take policy.preprocess.prepare_image (crop, resize), the path training's frames take."""
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ObservationError(f"image must be HxWx3, got {img.shape}")
        if img.dtype == np.uint8:
            return prepare_image(img, shape, crop)
        t = torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)
    else:
        t = img.float()
    if tuple(t.shape[-2:]) != tuple(shape):
        t = F.interpolate(t.unsqueeze(0), size=tuple(shape), mode="bilinear", align_corners=False,
                          antialias=True).squeeze(0)
    return t


class PolicyRunner:
    """A loaded checkpoint with normalisation, chunk prediction and action selection; what the node
    and scripts use, whatever the policy type (policy.base.Policy)."""

    def __init__(self, ckpt: Checkpoint, device: str = "cpu", ensemble_coeff: float | None = None,
                 n_action_steps: int | None = None, overlap_steps: int = 0) -> None:
        self.ckpt, self.cfg, self.device = ckpt, ckpt.config, torch.device(device)
        self.module = ckpt.policy.to(self.device).eval()
        self.model = ckpt.model  # the network inside (ACT's), for inspection
        self.normalizer = ckpt.normalizer.to(self.device)
        self.crops: dict[str, list[float]] = dict(getattr(ckpt.workspace, "image_crop", None) or {})
        coeff = getattr(self.cfg, "temporal_ensemble_coeff", None) if ensemble_coeff is None else ensemble_coeff
        if coeff is not None:
            self.scheduler: TemporalEnsembler | ChunkExecutor = TemporalEnsembler(coeff, self.chunk_size)
        else:
            steps = n_action_steps or self.n_action_steps
            self.scheduler = ChunkExecutor(steps, overlap_steps, self.chunk_size)
        self.step = 0
        self._history: deque[dict] = deque(maxlen=self.n_obs_steps)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs) -> PolicyRunner:
        return cls(load_checkpoint(path, device=device), device=device, **kwargs)

    # --- what the policy needs and gives (the controller reads only these) -------------------
    @property
    def policy_type(self) -> str:
        return self.cfg.policy_type

    @property
    def image_keys(self) -> list[str]:
        return self.cfg.image_features

    @property
    def n_obs_steps(self) -> int:
        return int(self.cfg.n_obs_steps)

    @property
    def chunk_size(self) -> int:
        return int(self.cfg.chunk_size)

    @property
    def n_action_steps(self) -> int:
        return int(self.cfg.n_action_steps)

    @property
    def action_dim(self) -> int:
        return int(self.cfg.action_feature["shape"][0])

    @property
    def state_dim(self) -> int:
        return int(self.cfg.robot_state_feature["shape"][0])

    @property
    def env_state_key(self) -> str | None:
        return ENV_STATE if self.cfg.env_state_feature is not None else None

    @property
    def env_state_dim(self) -> int:
        feat = self.cfg.env_state_feature
        return int(feat["shape"][0]) if feat is not None else 0

    @property
    def env_state_keys(self) -> list[str]:
        """The dataset features concatenated into the environment state (tactile, poses)."""
        return list(self.ckpt.workspace.env_state_keys or []) if self.env_state_key else []

    @property
    def state_names(self) -> list[str]:
        return list(self.ckpt.workspace.state_names)

    @property
    def action_names(self) -> list[str]:
        return list(self.ckpt.workspace.action_names)

    def reset(self) -> None:
        self.scheduler.reset()
        self.module.reset()
        self._history.clear()
        self.step = 0

    def _feature(self, key: str, feat: dict, value) -> torch.Tensor:  # noqa: ANN001 - array or tensor
        if feat.get("type") == "VISUAL":
            t = image_to_tensor(value, tuple(feat["shape"][1:]), self.crops.get(key))
        else:
            t = torch.from_numpy(np.array(value, dtype=np.float32))   # a copy: inputs may be read-only
            if tuple(t.shape) != tuple(feat["shape"]):
                raise ObservationError(f"'{key}' has shape {tuple(t.shape)}, expected {tuple(feat['shape'])}")
        if not torch.isfinite(t).all():
            raise ObservationError(f"'{key}' holds NaN or inf")
        return t

    def _batch(self, obs: dict) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        n = self.n_obs_steps
        for key, feat in self.cfg.input_features.items():
            if key not in obs:
                raise ObservationError(f"observation lacks '{key}' (the checkpoint needs {list(self.cfg.input_features)})")
            if n == 1:
                t = self._feature(key, feat, obs[key])
            else:
                frames = obs[key]
                if len(frames) != n:
                    raise ObservationError(f"'{key}' has {len(frames)} time steps, the policy needs n_obs_steps={n}")
                t = torch.stack([self._feature(key, feat, f) for f in frames])
            batch[key] = self.normalizer.normalize(key, t.to(self.device)).unsqueeze(0)
        return batch

    @torch.inference_mode()
    def predict_chunk(self, obs: dict) -> np.ndarray:
        """(chunk_size, action_dim) actions in dataset units for this observation."""
        pred = self.module.predict_chunk(self._batch(obs))
        return self.normalizer.unnormalize(ACTION, pred[0]).float().cpu().numpy()

    def _stacked(self, obs: dict) -> dict:
        """This frame plus the previous ones (the first frame repeated until there are enough)."""
        if self.n_obs_steps == 1:
            return obs
        self._history.append(obs)
        frames = [self._history[0]] * (self.n_obs_steps - len(self._history)) + list(self._history)
        return {k: [f[k] for f in frames] for k in obs}

    def select_action(self, obs: dict) -> np.ndarray:
        """One action per call (one control step): runs the model when the schedule asks."""
        stacked = self._stacked(obs)
        self.scheduler.advance(self.step)
        if self.scheduler.needs_inference(self.step) or self.scheduler.action_at(self.step) is None:
            self.scheduler.add_chunk(self.step, self.predict_chunk(stacked))
            self.scheduler.advance(self.step)
        action = self.scheduler.action_at(self.step)
        self.step += 1
        return action


ACTPolicy = PolicyRunner  # the name from before the policy seam (scripts, tests)
