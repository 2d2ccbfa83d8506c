"""A small LeRobot v3.0 dataset writer (real parquet + real mp4) for tests and benchmarks.

Episodes follow a smooth joint-space motion; each camera shows a square whose position encodes
the motion phase, so a policy must read the images (or state) to predict the next actions.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bag_to_dataset import layout
from robot_common.conversions import POSE_NAMES


def _episode(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    phase = np.linspace(0.0, 1.0, n)
    offset = rng.uniform(-0.3, 0.3, dim)
    amp = np.linspace(0.4, 0.8, dim)
    state = (offset + amp * np.sin(2 * np.pi * phase[:, None] * 0.8 + np.arange(dim))).astype(np.float32)
    action = np.roll(state, -3, axis=0)
    action[-3:] = state[-1]
    return state, action.astype(np.float32), phase


def _frame(phase: float, h: int, w: int, cam: int) -> np.ndarray:
    img = np.full((h, w, 3), 40 + 30 * cam, dtype=np.uint8)
    s = max(4, h // 5)
    y = int((h - s) * (0.5 + 0.4 * np.sin(2 * np.pi * phase)))
    x = int((w - s) * phase)
    img[y:y + s, x:x + s] = (230, 60 + 100 * cam, 40)
    return img


def _stats(arr: np.ndarray) -> dict:
    a = arr.astype(np.float64)
    q = {f"q{int(p * 100):02d}": np.quantile(a, p, axis=0).tolist() for p in (0.01, 0.10, 0.50, 0.90, 0.99)}
    return {"min": a.min(0).tolist(), "max": a.max(0).tolist(), "mean": a.mean(0).tolist(),
            "std": a.std(0).tolist(), "count": [len(a)], **q}


def write_dataset(root: str | Path, episodes: int = 3, frames: int = 40, dim: int = 4, fps: int = 30,
                  cameras: tuple[str, ...] = ("front",), height: int = 48, width: int = 64,
                  tactile_dim: int = 0, seed: int = 0, joint_names: list[str] | None = None,
                  poses: tuple[str, ...] = ()) -> Path:
    import av

    root = Path(root)
    rng = np.random.default_rng(seed)
    names = joint_names or [f"joint{i + 1}" for i in range(dim)]
    rows, ep_rows, all_state, all_action, all_tactile = [], [], [], [], []
    all_pose: dict[str, list[np.ndarray]] = {n: [] for n in poses}
    images: dict[str, list[np.ndarray]] = {c: [] for c in cameras}
    index = 0
    for e in range(episodes):
        state, action, phase = _episode(frames, dim, rng)
        tactile = np.stack([np.sin(phase * (k + 1) * 3) for k in range(tactile_dim)], 1).astype(np.float32) \
            if tactile_dim else None
        # an object pose (position + quaternion xyzw about z) that moves with the episode's phase
        yaw = 0.3 * np.sin(phase)
        pose = np.stack([0.2 + 0.02 * np.sin(phase), 0.05 * np.cos(phase), np.full(frames, 0.0125), np.zeros(frames),
                         np.zeros(frames), np.sin(yaw / 2), np.cos(yaw / 2)], 1).astype(np.float32)
        for n in poses:
            all_pose[n].append(pose)
        for i in range(frames):
            row = {"observation.state": state[i].tolist(), "action": action[i].tolist(),
                   "timestamp": np.float32(i / fps), "frame_index": i, "episode_index": e, "index": index,
                   "task_index": 0}
            if tactile is not None:
                row["observation.tactile.left_finger"] = tactile[i].tolist()
            for n in poses:
                row[f"observation.pose.{n}"] = pose[i].tolist()
            rows.append(row)
            index += 1
        for c, cam in enumerate(cameras):
            images[cam].extend(_frame(p, height, width, c) for p in phase)
        all_state.append(state)
        all_action.append(action)
        if tactile is not None:
            all_tactile.append(tactile)
        ep = {"episode_index": e, "tasks": ["pick"], "length": frames, "data/chunk_index": 0, "data/file_index": 0,
              "dataset_from_index": e * frames, "dataset_to_index": (e + 1) * frames,
              "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        for cam in cameras:
            key = f"observation.images.{cam}"
            ep.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                       f"videos/{key}/from_timestamp": e * frames / fps, f"videos/{key}/to_timestamp": (e + 1) * frames / fps})
        ep_rows.append(ep)

    layout.episodes_path(root, 0, 0).parent.mkdir(parents=True, exist_ok=True)
    layout.data_path(root, 0, 0).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(layout.data_path(root, 0, 0))
    pd.DataFrame(ep_rows).to_parquet(layout.episodes_path(root, 0, 0))
    pd.DataFrame({"task_index": [0]}, index=pd.Index(["pick"], name="task")).to_parquet(root / layout.TASKS_PATH)

    features = {
        "observation.state": {"dtype": "float32", "shape": [dim], "names": names},
        "action": {"dtype": "float32", "shape": [dim], "names": names},
    }
    stats = {"observation.state": _stats(np.concatenate(all_state)), "action": _stats(np.concatenate(all_action))}
    if tactile_dim:
        features["observation.tactile.left_finger"] = {"dtype": "float32", "shape": [tactile_dim], "names": None}
        stats["observation.tactile.left_finger"] = _stats(np.concatenate(all_tactile))
    for n in poses:
        features[f"observation.pose.{n}"] = {"dtype": "float32", "shape": [7], "names": POSE_NAMES}
        stats[f"observation.pose.{n}"] = _stats(np.concatenate(all_pose[n]))
    for cam in cameras:
        key = f"observation.images.{cam}"
        path = layout.video_path(root, key, 0, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "18", "g": "2"}
            for img in images[cam]:
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        px = np.stack(images[cam][::4]).astype(np.float64) / 255.0
        per = px.reshape(-1, 3)
        stats[key] = {s: np.asarray(v).reshape(3, 1, 1).tolist() for s, v in
                      (("min", per.min(0)), ("max", per.max(0)), ("mean", per.mean(0)), ("std", per.std(0)))}
        stats[key]["count"] = [len(px)]
        features[key] = {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"],
                         "info": {"video.height": height, "video.width": width, "video.codec": "h264",
                                  "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                                  "video.channels": 3, "has_audio": False}}
    for k, dt in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"),
                  ("task_index", "int64")):
        features[k] = {"dtype": dt, "shape": [1], "names": None}
    info = {"codebase_version": layout.CODEBASE_VERSION, "robot_type": "synthetic", "total_episodes": episodes,
            "total_frames": index, "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{episodes}"},
            "data_path": layout.DEFAULT_DATA_PATH,
            "video_path": layout.DEFAULT_VIDEO_PATH if cameras else None,
            "features": features}
    (root / layout.INFO_PATH).write_text(json.dumps(info, indent=2))
    (root / layout.STATS_PATH).write_text(json.dumps(stats, indent=2))
    return root
