"""Checks a dataset folder against every invariant of LeRobot v3.0 (layout in bag_to_dataset.layout,
docs/bag_to_dataset.md), decoding every video frame's timestamp as the loader would. Returns a list
of problems; empty means valid."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .layout import (
    CODEBASE_VERSION,
    DATA_DIR,
    DEFAULT_EPISODES_PATH,
    DEFAULT_FEATURES,
    EPISODES_DIR,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_DIR,
    VIDEO_INFO_KEYS,
    VIDEO_NAMES,
    data_files,
    episodes_files,
)
from .stats import STAT_KEYS
from .video import decoded_frame_times

TOLERANCE_S = 1e-4   # the loader rejects a decoded frame farther than this from the asked time
INFO_KEYS = ("codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
             "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path",
             "features")
DEFAULT_ORDER = list(DEFAULT_FEATURES)
DEFAULT_DTYPES = {k: f["dtype"] for k, f in DEFAULT_FEATURES.items()}
EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index")
CODEC_ALIASES = {"av1": ("av1", "libdav1d", "libaom-av1"), "h264": ("h264",), "hevc": ("hevc",)}


class Problems(list):
    def add(self, msg: str) -> None:
        self.append(msg)


def validate_dataset(root: str | Path, decode_video: bool = True) -> list[str]:
    """Every problem found, one line each; a file that cannot be read at all is one problem naming
    it (the checks that depend on it are then skipped)."""
    try:
        return _validate(Path(root), decode_video)
    except _Unreadable as exc:
        return [str(exc)]


class _Unreadable(Exception):
    pass


def _read(path: Path, reader):
    try:
        return reader(path)
    except FileNotFoundError:
        raise _Unreadable(f"{path}: missing") from None
    except Exception as exc:  # noqa: BLE001 - json, pyarrow and OS errors all mean "cannot read this file"
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise _Unreadable(f"{path}: cannot be read: {type(exc).__name__}: {text}") from None


def _validate(root: Path, decode_video: bool) -> list[str]:
    p = Problems()
    info_path = root / INFO_PATH
    if not info_path.exists():
        return [f"{info_path}: missing"]
    info = _read(info_path, lambda f: json.loads(f.read_text()))
    if not isinstance(info, dict):
        return [f"{info_path}: not a JSON object"]
    for k in INFO_KEYS:
        if k not in info:
            p.add(f"info.json: missing '{k}'")
    if p:
        return p
    if info["codebase_version"] != CODEBASE_VERSION:
        p.add(f"info.json: codebase_version is {info['codebase_version']!r}, not {CODEBASE_VERSION!r}")
    fps = info["fps"]
    feats: dict = info["features"]
    names = list(feats)
    if names[-5:] != DEFAULT_ORDER:
        p.add(f"info.json: the last five features must be {DEFAULT_ORDER}, got {names[-5:]}")
    for k, dt in DEFAULT_DTYPES.items():
        if k in feats and (feats[k].get("dtype") != dt or list(feats[k].get("shape", [])) != [1]):
            p.add(f"info.json: feature {k} must be {dt} shape [1]")
    video_keys = [k for k, f in feats.items() if f.get("dtype") == "video"]
    for k, f in feats.items():
        if not {"dtype", "shape", "names"} <= set(f):
            p.add(f"info.json: feature {k} lacks dtype/shape/names")
        if f.get("dtype") == "video":
            if f.get("names") != VIDEO_NAMES or len(f.get("shape", [])) != 3 or f["shape"][2] != 3:
                p.add(f"info.json: video feature {k} needs shape [H, W, 3] and names [height, width, channels]")
            missing = [x for x in VIDEO_INFO_KEYS if x not in f.get("info", {})]
            if missing:
                p.add(f"info.json: video feature {k} info lacks {missing}")
            elif f["info"]["video.fps"] != fps:
                p.add(f"info.json: {k} video.fps {f['info']['video.fps']} != fps {fps}")
        elif f.get("dtype") == "float32" and f.get("names") is not None and len(f["names"]) != f["shape"][0]:
            p.add(f"info.json: feature {k} has {len(f['names'])} names for shape {f['shape']}")
    if video_keys and not info["video_path"]:
        p.add("info.json: video_path is null but there are video features")
    if not video_keys and info["video_path"] is not None:
        p.add("info.json: video_path must be null without video features")
    n_eps = info["total_episodes"]
    if info["splits"] != {"train": f"0:{n_eps}"}:
        p.add(f"info.json: splits {info['splits']} != {{'train': '0:{n_eps}'}}")

    # tasks
    tasks_path = root / TASKS_PATH
    tasks = _read(tasks_path, pd.read_parquet) if tasks_path.exists() else None
    if tasks is None:
        p.add(f"{TASKS_PATH}: missing")
    elif tasks.index.name != "task" or "task_index" not in tasks.columns:
        p.add(f"{TASKS_PATH}: must be indexed by the task string (index name 'task') with a task_index "
              "column (written as plain columns, the loader returns task 0 for every frame)")
        tasks = None
    elif sorted(tasks["task_index"].tolist()) != list(range(len(tasks))):
        p.add(f"{TASKS_PATH}: task_index must be 0..T-1")
    if tasks is not None and len(tasks) != info["total_tasks"]:
        p.add(f"info.json: total_tasks {info['total_tasks']} != {len(tasks)} rows in tasks.parquet")

    # episodes
    ep_files = episodes_files(root)
    if not ep_files:
        p.add(f"{EPISODES_DIR}: no parquet files")
        return p
    eps = pd.concat([_read(f, pd.read_parquet).assign(_file=str(f.relative_to(root))) for f in ep_files],
                    ignore_index=True)
    missing = [c for c in EPISODE_COLUMNS if c not in eps.columns]
    missing += [f"videos/{k}/{x}" for k in video_keys for x in ("chunk_index", "file_index", "from_timestamp",
                                                                "to_timestamp") if f"videos/{k}/{x}" not in eps.columns]
    if missing:
        p.add(f"meta/episodes: missing columns {missing}")
        return p
    if eps["episode_index"].tolist() != list(range(len(eps))):
        p.add("meta/episodes: episode_index must be 0..N-1 in order")
    if len(eps) != n_eps:
        p.add(f"info.json: total_episodes {n_eps} != {len(eps)} episode rows")
    for _, e in eps.iterrows():
        want = DEFAULT_EPISODES_PATH.format(chunk_index=e["meta/episodes/chunk_index"],
                                            file_index=e["meta/episodes/file_index"])
        if e["_file"] != want:
            p.add(f"episode {e['episode_index']}: meta/episodes indices point to {want}, row is in {e['_file']}")
    frm, to, length = eps["dataset_from_index"].to_numpy(), eps["dataset_to_index"].to_numpy(), eps["length"].to_numpy()
    if np.any(to - frm != length) or (len(frm) and frm[0] != 0) or np.any(frm[1:] != to[:-1]):
        p.add("meta/episodes: dataset_from/to_index must be contiguous half-open ranges of length `length`")
    if len(to) and to[-1] != info["total_frames"]:
        p.add(f"info.json: total_frames {info['total_frames']} != {to[-1]} frames in the episodes")
    if tasks is not None:
        for _, e in eps.iterrows():
            bad = [t for t in list(e["tasks"]) if t not in tasks.index]
            if bad:
                p.add(f"episode {e['episode_index']}: tasks {bad} not in tasks.parquet")

    # data
    data_paths = data_files(root)
    if not data_paths:
        p.add("data: no parquet files")
        return p
    frames = []
    for f in data_paths:
        rel = f.relative_to(root)
        t = _read(f, pq.read_table)
        cols = set(t.column_names)
        need = [k for k, ft in feats.items() if ft.get("dtype") not in ("video", "image")]
        if set(need) - cols:
            p.add(f"{rel}: missing columns {sorted(set(need) - cols)}")
            continue
        for k in need:
            ft = feats[k]
            col = t.column(k)
            if list(ft["shape"]) == [1]:
                if str(col.type) not in (ft["dtype"],) and not (ft["dtype"] == "float32" and str(col.type) == "float"):
                    p.add(f"{rel}: column {k} is {col.type}, info.json says scalar {ft['dtype']}")
            else:
                arr = np.asarray(col.to_pylist(), dtype=object)
                lens = {len(x) for x in arr}
                if lens != {ft["shape"][0]}:
                    p.add(f"{rel}: column {k} has vector lengths {sorted(lens)}, info.json says {ft['shape']}")
                if str(col.type.value_type) not in ("float", "float32") and ft["dtype"] == "float32":
                    p.add(f"{rel}: column {k} holds {col.type.value_type}, info.json says float32")
        df = t.select(DEFAULT_ORDER).to_pandas()
        df["_file"] = str(rel)
        frames.append(df)
    if p:
        return p
    data = pd.concat(frames, ignore_index=True)
    if data["index"].tolist() != list(range(len(data))):
        p.add("data: index must be 0..total_frames-1, contiguous, in file order")
    if len(data) != info["total_frames"]:
        p.add(f"info.json: total_frames {info['total_frames']} != {len(data)} data rows")
    expected_ts = (data["frame_index"].to_numpy() / fps).astype(np.float32)
    bad = np.nonzero(data["timestamp"].to_numpy(dtype=np.float32) != expected_ts)[0]
    if bad.size:
        i = int(bad[0])
        p.add(f"data: {bad.size} timestamps differ from frame_index / fps (first: row {i}, "
              f"{data['timestamp'].iloc[i]} vs {expected_ts[i]})")
    if tasks is not None:
        unknown = set(data["task_index"].unique()) - set(tasks["task_index"])
        if unknown:
            p.add(f"data: task_index values {sorted(unknown)} not in tasks.parquet")
    for _, e in eps.iterrows():
        rows = data.iloc[e["dataset_from_index"]: e["dataset_to_index"]]
        ei = e["episode_index"]
        if not (rows["episode_index"] == ei).all():
            p.add(f"episode {ei}: data rows {e['dataset_from_index']}..{e['dataset_to_index']} are not all episode {ei}")
        if rows["frame_index"].tolist() != list(range(len(rows))):
            p.add(f"episode {ei}: frame_index must run 0..length-1")
        want = info["data_path"].format(chunk_index=e["data/chunk_index"], file_index=e["data/file_index"])
        if set(rows["_file"]) != {want}:
            p.add(f"episode {ei}: data/chunk_index,file_index name {want}, rows are in {sorted(set(rows['_file']))}")
        if tasks is not None and len(rows):
            tix = set(tasks.loc[list(e["tasks"]), "task_index"])
            if not set(rows["task_index"]) <= tix:
                p.add(f"episode {ei}: frames' task_index not among the episode's tasks {list(e['tasks'])}")
    _check_sizes(root, info, p)
    _check_stats(root, feats, p)
    for key in video_keys:
        _check_videos(root, info, eps, key, decode_video, p)
    return p


def _check_sizes(root: Path, info: dict, p: Problems) -> None:
    for top in (DATA_DIR, VIDEO_DIR, EPISODES_DIR):
        for chunk in (root / top).rglob("chunk-*"):
            n = len(list(chunk.glob("file-*")))
            if n > info["chunks_size"]:
                p.add(f"{chunk.relative_to(root)}: {n} files > chunks_size {info['chunks_size']}")


def _check_stats(root: Path, feats: dict, p: Problems) -> None:
    path = root / STATS_PATH
    if not path.exists():
        p.add(f"{STATS_PATH}: missing")
        return
    stats = _read(path, lambda f: json.loads(f.read_text()))
    for k, ft in feats.items():
        if ft["dtype"] == "string":
            continue
        if k not in stats:
            p.add(f"stats.json: no stats for {k}")
            continue
        missing = [s for s in STAT_KEYS if s not in stats[k]]
        if missing:
            p.add(f"stats.json: {k} lacks {missing}")
            continue
        for s in STAT_KEYS:
            v = np.asarray(stats[k][s], dtype=np.float64)
            if s == "count":
                if v.shape != (1,) or v[0] <= 0:
                    p.add(f"stats.json: {k}.count must be [N > 0]")
                continue
            want = (3, 1, 1) if ft["dtype"] in ("video", "image") else tuple(ft["shape"])
            if v.shape != want:
                p.add(f"stats.json: {k}.{s} has shape {v.shape}, expected {want}")
            elif ft["dtype"] in ("video", "image") and (np.any(v < 0) or np.any(v > 1)):
                p.add(f"stats.json: {k}.{s} must lie in [0, 1]")
            elif not np.all(np.isfinite(v)):
                p.add(f"stats.json: {k}.{s} is not finite")
        lo, hi = np.asarray(stats[k]["min"], float), np.asarray(stats[k]["max"], float)
        if lo.shape == hi.shape and np.any(lo > hi):
            p.add(f"stats.json: {k} min > max")


def _check_videos(root: Path, info: dict, eps: pd.DataFrame, key: str, decode: bool, p: Problems) -> None:
    fps = info["fps"]
    ft = info["features"][key]
    by_file: dict[str, pd.DataFrame] = {}
    for (c, f), rows in eps.groupby([f"videos/{key}/chunk_index", f"videos/{key}/file_index"], sort=True):
        by_file[info["video_path"].format(video_key=key, chunk_index=c, file_index=f)] = rows
    for rel, rows in by_file.items():
        path = root / rel
        if not path.exists():
            p.add(f"{rel}: missing (episodes {rows['episode_index'].tolist()})")
            continue
        rows = rows.sort_values("episode_index")
        expected, offset = [], 0.0
        for _, e in rows.iterrows():
            frm, to = e[f"videos/{key}/from_timestamp"], e[f"videos/{key}/to_timestamp"]
            if abs(frm - offset) > 1e-6:
                p.add(f"episode {e['episode_index']}: {key} from_timestamp {frm} != {offset} "
                      f"(the earlier episodes' duration in {rel})")
            if abs((to - frm) - e["length"] / fps) > 1e-6:
                p.add(f"episode {e['episode_index']}: {key} to - from = {to - frm} != length / fps")
            expected += [frm + i / fps for i in range(int(e["length"]))]
            offset = to
        if not decode:
            continue
        try:
            times, facts = decoded_frame_times(path)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding
            p.add(f"{rel}: cannot decode: {exc}")
            continue
        if facts["codec"] not in CODEC_ALIASES.get(ft["info"]["video.codec"], (ft["info"]["video.codec"],)):
            p.add(f"{rel}: codec {facts['codec']} but info.json says {ft['info']['video.codec']}")
        if (facts["height"], facts["width"]) != tuple(ft["shape"][:2]):
            p.add(f"{rel}: {facts['width']}x{facts['height']} but info.json says shape {ft['shape']}")
        if facts["pix_fmt"] != ft["info"]["video.pix_fmt"]:
            p.add(f"{rel}: pix_fmt {facts['pix_fmt']} but info.json says {ft['info']['video.pix_fmt']}")
        if facts["audio_streams"] and not ft["info"]["has_audio"]:
            p.add(f"{rel}: has audio but info.json says has_audio false")
        if len(times) != len(expected):
            p.add(f"{rel}: {len(times)} decoded frames, the episodes need {len(expected)}")
            continue
        err = np.abs(np.asarray(sorted(times)) - np.asarray(expected))
        if err.max(initial=0) > TOLERANCE_S:
            i = int(np.argmax(err))
            p.add(f"{rel}: {int((err > TOLERANCE_S).sum())} frames off the fps clock by more than {TOLERANCE_S} s "
                  f"(worst: frame {i} at {sorted(times)[i]:.6f} s, expected {expected[i]:.6f} s)")
