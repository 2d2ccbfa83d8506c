"""Reading a LeRobot v3.0 dataset (parquet + mp4) straight from disk, for ACT training.

Camera frames come from `policy.frames.VideoFrames` (PyAV, resized to the training image size):
decoded once into memory as uint8 for a small dataset, or streamed (decoded per sample) for a large
one (`cache_frames`: true | false | "auto" against a memory budget); a sample is (state_t,
images_t, action_t..t+chunk-1 with padding mask).
With n_obs_steps > 1 the observations are frames t-n+1..t (time axis first), the episode's first
frame repeated before its start, with `observation.state_is_pad` marking the repeats (LeRobot's).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from bag_to_dataset import layout
from policy.config import ACTION, ENV_STATE, KEYFRAME, STATE
from policy.frames import FrameIndexError, VideoFrames, decoded_bytes, to_rgb
from policy.keyframes import KeyframeError, keyframe_dim, next_keyframe_index


class DatasetError(ValueError):
    """A dataset folder that does not hold what a LeRobot v3.0 reader needs."""


@dataclass
class DatasetMeta:
    root: Path
    info: dict
    stats: dict
    episodes: pd.DataFrame

    @property
    def fps(self) -> float:
        return float(self.info["fps"])

    @property
    def features(self) -> dict:
        return self.info["features"]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f.get("dtype") in ("video", "image")]

    def vector_keys(self, prefix: str) -> list[str]:
        return [k for k, f in self.features.items() if k.startswith(prefix) and f.get("dtype") not in ("video", "image")]

    def names(self, key: str) -> list[str]:
        names = self.features[key].get("names")
        if isinstance(names, dict):  # LeRobot sometimes writes {"motors": [...]}
            names = next(iter(names.values()), [])
        return [str(n) for n in (names or [])]


def read_meta(root: str | Path) -> DatasetMeta:
    root = Path(root)
    info_path = root / layout.INFO_PATH
    if not info_path.is_file():
        raise DatasetError(f"{root} is not a LeRobot dataset: {info_path} is missing")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != layout.CODEBASE_VERSION:
        raise DatasetError(f"{root}: codebase_version {info.get('codebase_version')!r}, this reader needs 'v3.0'")
    for key in (STATE, ACTION):
        if key not in info.get("features", {}):
            raise DatasetError(f"{root}: feature '{key}' is missing (features: {sorted(info.get('features', {}))})")
    stats_path = root / layout.STATS_PATH
    if not stats_path.is_file():
        raise DatasetError(f"{root}: {layout.STATS_PATH} is missing (needed for normalisation)")
    files = sorted(root.glob(layout.EPISODES_GLOB))
    if not files:
        raise DatasetError(f"{root}: no {layout.EPISODES_GLOB}")
    episodes = pd.concat([pd.read_parquet(f) for f in files]).sort_values("episode_index").reset_index(drop=True)
    return DatasetMeta(root, info, json.loads(stats_path.read_text()), episodes)


def decode_video(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """All frames of an mp4 as (N, H, W, 3) uint8 RGB and their times (s), resized to size=(H, W)
    by policy.preprocess (the policy node's resize)."""
    import av

    frames, times = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(to_rgb(frame, size))
            if frame.pts is None:
                times.append(len(times) / float(stream.average_rate))
            else:
                times.append(float(frame.pts * stream.time_base))
    if not frames:
        raise DatasetError(f"{path}: no decodable video frames")
    return np.stack(frames), np.asarray(times)


class LeRobotChunkDataset(Dataset):
    """Training samples: normalisation happens in the trainer (on the batch)."""

    def __init__(self, root: str | Path, chunk_size: int, image_keys: list[str] | None = None,
                 image_size: tuple[int, int] | None = None, env_keys: list[str] | None = None,
                 episodes: list[int] | None = None, n_obs_steps: int = 1, cache_frames: bool | str = True,
                 cache_budget_mb: float = 4096.0, keyframe_joint: str | None = None,
                 image_crop: dict[str, list[float]] | None = None) -> None:
        self.meta = read_meta(root)
        self.chunk_size = chunk_size
        if n_obs_steps < 1:
            raise DatasetError(f"n_obs_steps must be >= 1, got {n_obs_steps}")
        self.n_obs_steps = n_obs_steps
        self.image_keys = list(self.meta.video_keys if image_keys is None else image_keys)
        missing = [k for k in self.image_keys if k not in self.meta.video_keys]
        if missing:
            raise DatasetError(f"{root}: no video feature {missing} (videos: {self.meta.video_keys})")
        self.env_keys = list(env_keys or [])
        self.image_size = image_size
        data_files = sorted(self.meta.root.glob(layout.DATA_GLOB))
        if not data_files:
            raise DatasetError(f"{root}: no {layout.DATA_GLOB}")
        df = pd.concat([pd.read_parquet(f) for f in data_files]).sort_values("index").reset_index(drop=True)
        if episodes is not None:
            df = df[df["episode_index"].isin(episodes)].reset_index(drop=True)
        if df.empty:
            raise DatasetError(f"{root}: no frames for the selected episodes")
        self.frames = df
        self.state = self._vectors(df, STATE)
        self.action = self._vectors(df, ACTION)
        self.env = np.concatenate([self._vectors(df, k) for k in self.env_keys], axis=1) if self.env_keys else None
        ep = df["episode_index"].to_numpy()
        # last row of each sample's episode: the action chunk never crosses into the next episode
        ends, starts = {}, {}
        for i, e in enumerate(ep):
            ends[e] = i
            starts.setdefault(e, i)
        self.episode_end = np.array([ends[e] for e in ep])
        self.episode_start = np.array([starts[e] for e in ep])
        self.keyframe = None  # row of each row's next keyframe (policy.keyframes), when asked for
        if keyframe_joint is not None:
            try:
                dim = keyframe_dim(self.meta.names(ACTION), keyframe_joint)
            except KeyframeError as exc:
                raise DatasetError(f"{root}: {exc}") from None
            self.keyframe = next_keyframe_index(self.action[:, dim], ep)
        self.cache_frames = self.pick_cache(cache_frames, cache_budget_mb)
        try:
            self.video = VideoFrames(self.meta.root, self.meta.info, self.meta.episodes, df, self.image_keys,
                                     image_size, cache=self.cache_frames, crops=image_crop)
        except (FrameIndexError, FileNotFoundError) as exc:
            raise DatasetError(str(exc)) from None

    def decoded_size(self) -> int:
        """Bytes the selected rows' decoded frames take in memory (every camera, uint8 RGB)."""
        shapes = [tuple(self.image_size) if self.image_size else tuple(self.meta.features[k]["shape"][:2])
                  for k in self.image_keys]
        return decoded_bytes(len(self.frames), shapes)

    def pick_cache(self, cache_frames: bool | str, budget_mb: float) -> bool:
        """True (frames in memory) or False (streamed); "auto": in memory when they fit the budget."""
        if cache_frames == "auto":
            return self.decoded_size() <= budget_mb * 2**20
        if cache_frames not in (True, False):
            raise DatasetError(f"cache_frames must be true, false or auto, got {cache_frames!r}")
        return bool(cache_frames)

    @staticmethod
    def _vectors(df: pd.DataFrame, key: str) -> np.ndarray:
        if key not in df.columns:
            raise DatasetError(f"data parquet has no column '{key}'")
        arr = np.stack([np.asarray(v, dtype=np.float32) for v in df[key].to_numpy()])
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).any(axis=1).sum())
            raise DatasetError(f"column '{key}' holds NaN/inf in {bad} frames")
        return arr

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        end = self.episode_end[i]
        idx = np.arange(i, i + self.chunk_size)
        pad = idx > end
        idx = np.minimum(idx, end)
        if self.n_obs_steps == 1:
            obs = i
        else:  # frames i-n+1 .. i, the episode's first frame repeated before it starts
            obs = np.arange(i - self.n_obs_steps + 1, i + 1)
            obs_pad = obs < self.episode_start[i]
            obs = np.maximum(obs, self.episode_start[i])
        item = {
            STATE: torch.from_numpy(self.state[obs]),
            ACTION: torch.from_numpy(self.action[idx]),
            "action_is_pad": torch.from_numpy(pad),
        }
        if self.keyframe is not None:
            item[KEYFRAME] = torch.from_numpy(self.action[self.keyframe[i]])
        if self.n_obs_steps > 1:
            item[STATE + "_is_pad"] = torch.from_numpy(obs_pad)
        if self.env is not None:
            item[ENV_STATE] = torch.from_numpy(self.env[obs])
        for k in self.image_keys:
            item[k] = torch.from_numpy(self.video.get(k, obs)).movedim(-1, -3).float() / 255.0
        return item


def dataset_stats(meta: DatasetMeta, keys: list[str], env_keys: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Stats for the model's features from meta/stats.json (env keys concatenated)."""
    out = {}
    for k in keys:
        if k not in meta.stats:
            raise DatasetError(f"meta/stats.json has no entry for '{k}'")
        out[k] = {s: np.asarray(v, dtype=np.float32) for s, v in meta.stats[k].items() if s != "count"}
    if env_keys:
        missing = [k for k in env_keys if k not in meta.stats]
        if missing:
            raise DatasetError(f"meta/stats.json has no entry for {missing}")
        common = set.intersection(*(set(meta.stats[k]) for k in env_keys)) - {"count"}
        out[ENV_STATE] = {s: np.concatenate([np.asarray(meta.stats[k][s], dtype=np.float32).reshape(-1) for k in env_keys])
                          for s in sorted(common)}
    return out
