"""Assembling cached episodes into a LeRobot v3.0 dataset folder (layout: bag_to_dataset.layout)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .layout import (
    CODEBASE_VERSION,
    DEFAULT_DATA_PATH,
    DEFAULT_FEATURES,
    DEFAULT_VIDEO_PATH,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_NAMES,
    data_path,
    episodes_path,
    video_path,
)
from .mapping import Mapping
from .stats import aggregate_vector_stats, histogram_stats, to_json, vector_stats
from .video import codec_name, concat_videos

MB = 1024 * 1024


class _FileCounter:
    """(chunk_index, file_index) pairs, a new chunk every chunks_size files."""

    def __init__(self, chunks_size: int):
        self.chunks_size, self.chunk, self.file = chunks_size, 0, 0

    def advance(self) -> None:
        self.file += 1
        if self.file >= self.chunks_size:
            self.chunk, self.file = self.chunk + 1, 0


def _features(mapping: Mapping, episodes: list[dict]) -> dict:
    feats: dict[str, dict] = {}
    for f in mapping.features:
        if f.is_video:
            v = episodes[0]["videos"][f.name]
            feats[f.name] = {
                "dtype": "video", "shape": [v["height"], v["width"], 3], "names": list(VIDEO_NAMES),
                "info": {"video.height": v["height"], "video.width": v["width"],
                         "video.codec": codec_name(mapping.video), "video.pix_fmt": mapping.video.pix_fmt,
                         "video.is_depth_map": False, "video.fps": mapping.fps, "video.channels": 3,
                         "has_audio": False},
            }
        else:
            feats[f.name] = {"dtype": "float32", "shape": [len(f.names)], "names": list(f.names)}
    feats.update(json.loads(json.dumps(DEFAULT_FEATURES)))
    return feats


def _vector_column(values: np.ndarray) -> pa.Array:
    if values.shape[1] == 1:  # shape [1] features are scalar columns in LeRobot's HF schema
        return pa.array(values[:, 0], type=pa.float32())
    flat = pa.array(values.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def write_dataset(root: Path, mapping: Mapping, episodes: list[dict], arrays: list[dict],
                  cache_dirs: list[Path]) -> dict:
    """episodes[i]: cached summaries in output order; arrays[i]: their npz contents. Returns info.json."""
    fps = mapping.fps
    video_keys = [f.name for f in mapping.video_features]
    for ep in episodes[1:]:
        for k in video_keys:
            a, b = episodes[0]["videos"][k], ep["videos"][k]
            if (a["width"], a["height"]) != (b["width"], b["height"]):
                raise ValueError(f"{k}: episode {ep['name']} ({ep['source']}) is {b['width']}x{b['height']}, "
                                 f"episode {episodes[0]['name']} is {a['width']}x{a['height']}; one dataset needs "
                                 f"one resolution per camera: convert them into separate datasets")
    features = _features(mapping, episodes)
    tasks: dict[str, int] = {}
    for ep in episodes:
        tasks.setdefault(ep["task"], len(tasks))

    rows: list[dict] = []
    global_index = 0
    for i, ep in enumerate(episodes):
        n = ep["length"]
        row = {"episode_index": i, "tasks": [ep["task"]], "length": n,
               "dataset_from_index": global_index, "dataset_to_index": global_index + n}
        global_index += n
        rows.append(row)

    # data files, rolled over by size
    data_limit = mapping.data_files_size_in_mb * MB
    counter, group, group_bytes = _FileCounter(mapping.chunks_size), [], 0
    groups: list[tuple[int, int, list[int]]] = []
    for i, ep in enumerate(episodes):
        size = ep["length"] * (sum(4 * len(f.names) for f in mapping.vector_features) + 36)
        if group and group_bytes + size > data_limit:
            groups.append((counter.chunk, counter.file, group))
            counter.advance()
            group, group_bytes = [], 0
        group.append(i)
        group_bytes += size
    groups.append((counter.chunk, counter.file, group))
    for chunk, file, members in groups:
        cols: dict[str, pa.Array] = {}
        for f in mapping.vector_features:
            cols[f.name] = _vector_column(np.concatenate([arrays[i][f.name] for i in members]))
        fi = np.concatenate([np.arange(episodes[i]["length"], dtype=np.int64) for i in members])
        cols["timestamp"] = pa.array((fi / fps).astype(np.float32))
        cols["frame_index"] = pa.array(fi)
        cols["episode_index"] = pa.array(np.concatenate(
            [np.full(episodes[i]["length"], i, dtype=np.int64) for i in members]))
        cols["index"] = pa.array(np.concatenate(
            [np.arange(rows[i]["dataset_from_index"], rows[i]["dataset_to_index"], dtype=np.int64) for i in members]))
        cols["task_index"] = pa.array(np.concatenate(
            [np.full(episodes[i]["length"], tasks[episodes[i]["task"]], dtype=np.int64) for i in members]))
        path = data_path(root, chunk, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), path)
        for i in members:
            rows[i]["data/chunk_index"], rows[i]["data/file_index"] = chunk, file

    # videos: episode mp4s remuxed into shared files, rolled over by size
    video_limit = mapping.video_files_size_in_mb * MB
    for key in video_keys:
        counter, members, size = _FileCounter(mapping.chunks_size), [], 0
        batches: list[tuple[int, int, list[int]]] = []
        for i, ep in enumerate(episodes):
            b = ep["videos"][key]["bytes"]
            if members and size + b > video_limit:
                batches.append((counter.chunk, counter.file, members))
                counter.advance()
                members, size = [], 0
            members.append(i)
            size += b
        batches.append((counter.chunk, counter.file, members))
        for chunk, file, members in batches:
            path = video_path(root, key, chunk, file)
            path.parent.mkdir(parents=True, exist_ok=True)
            concat_videos([cache_dirs[i] / f"{key}.mp4" for i in members],
                          [episodes[i]["length"] for i in members], fps, path)
            offset = 0
            for i in members:
                n = episodes[i]["length"]
                rows[i][f"videos/{key}/chunk_index"], rows[i][f"videos/{key}/file_index"] = chunk, file
                rows[i][f"videos/{key}/from_timestamp"] = offset / fps
                rows[i][f"videos/{key}/to_timestamp"] = (offset + n) / fps
                offset += n

    # statistics: per episode (episodes parquet) and for the dataset (stats.json)
    ep_stats: list[dict[str, dict]] = []
    for i, (ep, arr) in enumerate(zip(episodes, arrays)):
        n = ep["length"]
        fi = np.arange(n, dtype=np.int64)
        s = {f.name: vector_stats(arr[f.name]) for f in mapping.vector_features}
        s.update({k: histogram_stats(arr[f"hist:{k}"], ep["image_stats_frames"][k]) for k in video_keys})
        s["timestamp"] = vector_stats((fi / fps).astype(np.float32))
        s["frame_index"] = vector_stats(fi)
        s["episode_index"] = vector_stats(np.full(n, i))
        s["index"] = vector_stats(np.arange(rows[i]["dataset_from_index"], rows[i]["dataset_to_index"]))
        s["task_index"] = vector_stats(np.full(n, tasks[ep["task"]]))
        ep_stats.append(s)
        for feat, st in s.items():
            for stat, v in st.items():
                rows[i][f"stats/{feat}/{stat}"] = np.asarray(v).tolist()
    dataset_stats: dict[str, dict] = {}
    for feat in ep_stats[0]:
        parts = [s[feat] for s in ep_stats]
        if feat in video_keys:
            dataset_stats[feat] = histogram_stats(sum(a[f"hist:{feat}"] for a in arrays),
                                                  sum(e["image_stats_frames"][feat] for e in episodes))
            continue
        if feat in arrays[0]:
            full = np.concatenate([a[feat] for a in arrays])
        else:
            full = np.concatenate([_default_column(feat, i, e, rows[i], tasks, fps) for i, e in enumerate(episodes)])
        dataset_stats[feat] = aggregate_vector_stats(parts, full)

    for r in rows:
        r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = 0, 0
    ep_path = episodes_path(root, 0, 0)
    ep_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), ep_path)

    task_df = pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task"))
    task_df.to_parquet(root / TASKS_PATH)
    with open(root / STATS_PATH, "w") as f:
        json.dump({k: to_json(v) for k, v in dataset_stats.items()}, f, indent=2)

    robot_types = sorted({e["robot_type"] for e in episodes if e.get("robot_type")})
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_types[0] if len(robot_types) == 1 else (mapping.robot_type or "+".join(robot_types) or None),
        "total_episodes": len(episodes),
        "total_frames": global_index,
        "total_tasks": len(tasks),
        "chunks_size": mapping.chunks_size,
        "data_files_size_in_mb": _number(mapping.data_files_size_in_mb),
        "video_files_size_in_mb": _number(mapping.video_files_size_in_mb),
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DEFAULT_DATA_PATH,
        "video_path": DEFAULT_VIDEO_PATH if video_keys else None,
        "features": features,
    }
    with open(root / INFO_PATH, "w") as f:
        json.dump(info, f, indent=4)
    return info


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _default_column(feat: str, i: int, ep: dict, row: dict, tasks: dict, fps: int) -> np.ndarray:
    n = ep["length"]
    if feat == "timestamp":
        return (np.arange(n) / fps).astype(np.float32)
    if feat == "frame_index":
        return np.arange(n)
    if feat == "episode_index":
        return np.full(n, i)
    if feat == "index":
        return np.arange(row["dataset_from_index"], row["dataset_to_index"])
    return np.full(n, tasks[ep["task"]])
