"""Editing LeRobot v3.0 datasets: delete episodes, split into train/val, merge datasets recorded
with the same features. Each operation writes a new dataset (the inputs are never changed) with
episode indices, global frame indices, tasks, per-episode and dataset statistics and the video
files rewritten, so that it passes `validate` and LeRobot's loader like a converted one.

Videos: a source video file whose episodes are all kept, in order, is remuxed as it is (no
re-encoding: merging whole datasets is lossless). An episode cut out of a shared file that loses
some of its neighbours is decoded and re-encoded with the dataset's codec (a cut can only start at
a keyframe, and the encoders' reference frames span episodes).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import layout
from .stats import QUANTILES, combine_mean_std, to_json, vector_stats

MB = 1024 * 1024
ENCODERS = {"av1": "libsvtav1", "h264": "libx264"}


class EditError(ValueError):
    """An edit that cannot be done as asked (unknown episode, mismatched datasets, output exists)."""


@dataclass
class Dataset:
    root: Path
    info: dict
    episodes: pd.DataFrame           # one row per episode, sorted by episode_index
    tasks: pd.DataFrame              # index: task string, column task_index
    stats: dict

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.info["features"].items() if f.get("dtype") == "video"]

    def task_of(self, task_index: int) -> str:
        return str(self.tasks.index[list(self.tasks["task_index"]).index(task_index)])


def load_dataset(root: str | Path) -> Dataset:
    root = Path(root)
    info_path = root / layout.INFO_PATH
    if not info_path.is_file():
        raise EditError(f"{root} is not a LeRobot dataset: {info_path} is missing")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != layout.CODEBASE_VERSION:
        raise EditError(f"{root}: codebase_version {info.get('codebase_version')!r}, editing needs "
                        f"{layout.CODEBASE_VERSION!r}")
    files = layout.episodes_files(root)
    if not files:
        raise EditError(f"{root}: no {layout.EPISODES_GLOB}")
    episodes = pd.concat([pd.read_parquet(f) for f in files]).sort_values("episode_index").reset_index(drop=True)
    tasks = pd.read_parquet(root / layout.TASKS_PATH)
    stats_path = root / layout.STATS_PATH
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return Dataset(root, info, episodes, tasks, stats)


def parse_episodes(text: str, total: int) -> list[int]:
    """'0,3-5,9' -> [0, 3, 4, 5, 9]; every index must exist."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise EditError(f"episodes '{text}': '{part}' is not an index or a range like 3-5") from None
    bad = sorted({e for e in out if not 0 <= e < total})
    if bad:
        raise EditError(f"episodes {bad} do not exist (the dataset has episodes 0..{total - 1})")
    return sorted(set(out))


def check_compatible(datasets: list[Dataset]) -> None:
    """Datasets that can share one dataset: same fps, robot_type and features (names, dtypes,
    shapes, video codec and size)."""
    first = datasets[0]
    for other in datasets[1:]:
        where = f"{other.root} and {first.root}"
        if other.fps != first.fps:
            raise EditError(f"cannot merge {where}: fps {other.fps} vs {first.fps}")
        if other.info.get("robot_type") != first.info.get("robot_type"):
            raise EditError(f"cannot merge {where}: robot_type {other.info.get('robot_type')!r} vs "
                            f"{first.info.get('robot_type')!r}")
        a, b = first.info["features"], other.info["features"]
        if list(a) != list(b):
            missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            raise EditError(f"cannot merge {where}: different features"
                            + (f"; {other.root} lacks {missing}" if missing else "")
                            + (f"; {other.root} has {extra} in addition" if extra else "")
                            + ("" if missing or extra else "; same names in another order"))
        for k in a:
            fa, fb = a[k], b[k]
            for key in ("dtype", "shape", "names"):
                if fa.get(key) != fb.get(key):
                    raise EditError(f"cannot merge {where}: feature {k} {key} {fb.get(key)} vs {fa.get(key)}")
            if fa.get("dtype") == "video":
                for key in ("video.codec", "video.pix_fmt", "video.fps"):
                    if fa["info"].get(key) != fb["info"].get(key):
                        raise EditError(f"cannot merge {where}: {k} {key} {fb['info'].get(key)} vs "
                                        f"{fa['info'].get(key)}")


def delete_episodes(root: str | Path, episodes: list[int], output: str | Path) -> dict:
    ds = load_dataset(root)
    drop = set(episodes)
    keep = [e for e in range(len(ds.episodes)) if e not in drop]
    if not keep:
        raise EditError(f"deleting {sorted(drop)} would leave {ds.root} without episodes")
    return write_selection([(ds, e) for e in keep], output)


def split_dataset(root: str | Path, val_episodes: list[int], output_dir: str | Path) -> tuple[dict, dict]:
    """<output_dir>/train and <output_dir>/val, by episode."""
    ds = load_dataset(root)
    val = sorted(set(val_episodes))
    train = [e for e in range(len(ds.episodes)) if e not in val]
    if not val or not train:
        raise EditError(f"a split needs episodes on both sides: val {val}, train {train}")
    output_dir = Path(output_dir)
    return (write_selection([(ds, e) for e in train], output_dir / "train"),
            write_selection([(ds, e) for e in val], output_dir / "val"))


def pick_val(total: int, fraction: float, seed: int = 0) -> list[int]:
    if not 0 < fraction < 1:
        raise EditError(f"--val-fraction must be between 0 and 1, got {fraction}")
    n = min(total - 1, max(1, int(round(total * fraction))))
    return sorted(np.random.default_rng(seed).choice(total, size=n, replace=False).tolist())


def merge_datasets(roots: list[str | Path], output: str | Path) -> dict:
    datasets = [load_dataset(r) for r in roots]
    check_compatible(datasets)
    return write_selection([(ds, e) for ds in datasets for e in range(len(ds.episodes))], output)


# --- writing -------------------------------------------------------------------------------------
def write_selection(selection: list[tuple[Dataset, int]], output: str | Path) -> dict:
    """A new dataset at `output` holding the selected (dataset, episode) pairs in this order."""
    output = Path(output).absolute()
    if output.exists() and any(output.iterdir()):
        raise EditError(f"{output} exists and is not empty; choose a new output folder")
    check_compatible(list({id(ds): ds for ds, _ in selection}.values()))
    first = selection[0][0]
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.editing-", dir=output.parent))
    try:
        info = _write(selection, first, staging)
        if output.exists():
            output.rmdir()
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def _episode_table(ds: Dataset, e: int) -> pa.Table:
    row = ds.episodes.iloc[e]
    path = layout.data_path(ds.root, int(row["data/chunk_index"]), int(row["data/file_index"]))
    table = pq.read_table(path)
    mask = pc.equal(table.column("episode_index"), pa.scalar(e, pa.int64()))
    table = table.filter(mask)
    if table.num_rows != int(row["length"]):
        raise EditError(f"{path}: episode {e} has {table.num_rows} rows, meta/episodes says {row['length']}")
    return table.sort_by("frame_index").replace_schema_metadata(None)


def _write(selection: list[tuple[Dataset, int]], first: Dataset, root: Path) -> dict:
    feats = first.info["features"]
    chunks_size = int(first.info.get("chunks_size", layout.DEFAULT_CHUNK_SIZE))
    tasks: dict[str, int] = {}
    rows: list[dict] = []
    tables: list[pa.Table] = []
    start = 0
    for i, (ds, e) in enumerate(selection):
        src = {k: _plain(v) for k, v in ds.episodes.iloc[e].to_dict().items()}
        t = _episode_table(ds, e)
        old_tasks = [ds.task_of(int(x)) for x in t.column("task_index").to_pylist()]
        for name in list(src["tasks"]) + old_tasks:
            tasks.setdefault(str(name), len(tasks))
        n = t.num_rows
        t = t.set_column(t.schema.get_field_index("episode_index"), "episode_index", pa.array(np.full(n, i, np.int64)))
        t = t.set_column(t.schema.get_field_index("index"), "index", pa.array(np.arange(start, start + n, dtype=np.int64)))
        t = t.set_column(t.schema.get_field_index("task_index"), "task_index",
                         pa.array(np.array([tasks[x] for x in old_tasks], dtype=np.int64)))
        tables.append(t)
        row = {k: v for k, v in src.items() if not k.startswith(("videos/", "data/", "meta/episodes/"))}
        row.update({"episode_index": i, "tasks": [str(x) for x in src["tasks"]], "length": n,
                    "dataset_from_index": start, "dataset_to_index": start + n})
        for feat, values in (("episode_index", np.full(n, i)), ("index", np.arange(start, start + n)),
                             ("task_index", t.column("task_index").to_numpy())):
            for stat, v in vector_stats(values).items():
                if f"stats/{feat}/{stat}" in row:
                    row[f"stats/{feat}/{stat}"] = np.asarray(v).tolist()
        rows.append(row)
        start += n

    # data files, rolled over by size like the converter's writer
    limit = float(first.info.get("data_files_size_in_mb", layout.DEFAULT_DATA_FILE_SIZE_IN_MB)) * MB
    schema = tables[0].schema
    chunk = file = 0
    group: list[int] = []
    size = 0

    def flush_data(members: list[int], c: int, f: int) -> None:
        path = layout.data_path(root, c, f)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables([tables[m].cast(schema) for m in members]), path)
        for m in members:
            rows[m]["data/chunk_index"], rows[m]["data/file_index"] = c, f

    for i, t in enumerate(tables):
        if group and size + t.nbytes > limit:
            flush_data(group, chunk, file)
            chunk, file = _advance(chunk, file, chunks_size)
            group, size = [], 0
        group.append(i)
        size += t.nbytes
    flush_data(group, chunk, file)

    for key in first.video_keys:
        _write_videos(selection, rows, key, root, first)

    for r in rows:
        r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = 0, 0
    ep_path = layout.episodes_path(root, 0, 0)
    ep_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), ep_path)
    pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task")).to_parquet(
        root / layout.TASKS_PATH)
    data = pa.concat_tables([t.cast(schema) for t in tables])
    stats = _dataset_stats(selection, rows, data, feats, first)
    (root / layout.STATS_PATH).write_text(json.dumps({k: to_json(v) for k, v in stats.items()}, indent=2))
    info = json.loads(json.dumps(first.info))
    info.update(total_episodes=len(rows), total_frames=start, total_tasks=len(tasks),
                splits={"train": f"0:{len(rows)}"})
    (root / layout.INFO_PATH).write_text(json.dumps(info, indent=4))
    return info


def _advance(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    file += 1
    return (chunk + 1, 0) if file >= chunks_size else (chunk, file)


def _write_videos(selection: list[tuple[Dataset, int]], rows: list[dict], key: str, root: Path, first: Dataset) -> None:
    """Parts in output order: a whole source file when all its episodes follow each other here, in
    their order (remuxed), else single episodes re-encoded."""
    from .video import concat_videos

    fps = first.fps
    parts: list[tuple[Path, list[int]]] = []        # (mp4, output episodes it holds)
    tmp = Path(tempfile.mkdtemp(prefix="edit-", dir=root))
    i = 0
    while i < len(selection):
        ds, e = selection[i]
        src = ds.episodes.iloc[e]
        c, f = int(src[f"videos/{key}/chunk_index"]), int(src[f"videos/{key}/file_index"])
        in_file = ds.episodes[(ds.episodes[f"videos/{key}/chunk_index"] == c)
                              & (ds.episodes[f"videos/{key}/file_index"] == f)]
        members = in_file.sort_values(f"videos/{key}/from_timestamp")["episode_index"].tolist()
        run = [(ds, m) for m in members]
        if selection[i:i + len(run)] == run and float(src[f"videos/{key}/from_timestamp"]) == 0.0:
            parts.append((layout.video_path(ds.root, key, c, f), list(range(i, i + len(run)))))
            i += len(run)
            continue
        out = tmp / f"{i}.mp4"
        _reencode(ds, e, key, out)
        parts.append((out, [i]))
        i += 1
    limit = float(first.info.get("video_files_size_in_mb", layout.DEFAULT_VIDEO_FILE_SIZE_IN_MB)) * MB
    chunks_size = int(first.info.get("chunks_size", layout.DEFAULT_CHUNK_SIZE))
    chunk = file = 0
    batch: list[tuple[Path, list[int]]] = []
    size = 0

    def flush(batch: list[tuple[Path, list[int]]], c: int, f: int) -> None:
        path = layout.video_path(root, key, c, f)
        path.parent.mkdir(parents=True, exist_ok=True)
        concat_videos([p for p, _ in batch], [sum(rows[m]["length"] for m in ms) for _, ms in batch], fps, path)
        offset = 0
        for _, ms in batch:
            for m in ms:
                n = rows[m]["length"]
                rows[m][f"videos/{key}/chunk_index"], rows[m][f"videos/{key}/file_index"] = c, f
                rows[m][f"videos/{key}/from_timestamp"] = offset / fps
                rows[m][f"videos/{key}/to_timestamp"] = (offset + n) / fps
                offset += n

    for part in parts:
        b = part[0].stat().st_size
        if batch and size + b > limit:
            flush(batch, chunk, file)
            chunk, file = _advance(chunk, file, chunks_size)
            batch, size = [], 0
        batch.append(part)
        size += b
    flush(batch, chunk, file)
    shutil.rmtree(tmp, ignore_errors=True)


def _reencode(ds: Dataset, e: int, key: str, out: Path) -> None:
    """Decode episode e's frames of camera `key` from its shared file and encode them on their own."""
    import av

    from .mapping import VideoSettings
    from .video import StreamingEncoder

    src = ds.episodes.iloc[e]
    ft = ds.info["features"][key]
    fps = ds.fps
    path = layout.video_path(ds.root, key, int(src[f"videos/{key}/chunk_index"]), int(src[f"videos/{key}/file_index"]))
    frm, n = float(src[f"videos/{key}/from_timestamp"]), int(src["length"])
    codec = ENCODERS.get(ft["info"]["video.codec"])
    if codec is None:
        raise EditError(f"{path}: cannot re-encode {ft['info']['video.codec']} video (known: {sorted(ENCODERS)})")
    settings = VideoSettings(codec=codec, pix_fmt=ft["info"].get("video.pix_fmt", "yuv420p"),
                             **({"crf": 23, "preset": "veryfast"} if codec == "libx264" else {}))
    enc = StreamingEncoder(out, fps, int(ft["shape"][1]), int(ft["shape"][0]), settings)
    half = 0.5 / fps
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        c.seek(max(0, int((frm - 1.0) / s.time_base)), stream=s, backward=True)
        for frame in c.decode(s):
            t = float(frame.pts * frame.time_base)
            if t < frm - half:
                continue
            if enc.frames >= n:
                break
            enc.add(frame.to_ndarray(format="rgb24"))
    if enc.frames != n:
        raise EditError(f"{path}: episode {e} of {key} has {enc.frames} decodable frames, it needs {n}")
    enc.close()


def _dataset_stats(selection: list[tuple[Dataset, int]], rows: list[dict], data: pa.Table, feats: dict,
                   first: Dataset) -> dict:
    """Vectors and default columns: exact, from every frame. Videos: from the per-episode stats
    (count-weighted mean, parallel variance, min/max; quantiles count-weighted, as LeRobot combines
    episode stats), or the first source's stats.json when its episodes carry none."""
    out: dict[str, dict] = {}
    for k, ft in feats.items():
        if ft["dtype"] in ("video", "image"):
            parts = []
            for r in rows:
                if f"stats/{k}/mean" not in r:
                    parts = None
                    break
                parts.append({s: np.asarray(r[f"stats/{k}/{s}"], dtype=np.float64)
                              for s in ("min", "max", "mean", "std", "count", *QUANTILES)})
            if not parts:
                if k in first.stats:
                    out[k] = {s: np.asarray(v) for s, v in first.stats[k].items()}
                continue
            mean, std, total = combine_mean_std([{**p, "mean": p["mean"].reshape(-1), "std": p["std"].reshape(-1)}
                                                 for p in parts])
            n = np.array([p["count"][0] for p in parts], dtype=np.float64)
            st = {"min": np.min([p["min"] for p in parts], axis=0), "max": np.max([p["max"] for p in parts], axis=0),
                  "mean": mean.reshape(3, 1, 1), "std": std.reshape(3, 1, 1), "count": np.array([total])}
            for q in QUANTILES:
                st[q] = (np.stack([p[q] for p in parts]) * n[:, None, None, None]).sum(axis=0) / n.sum()
            out[k] = st
            continue
        col = data.column(k)
        if isinstance(col.type, pa.FixedSizeListType) or pa.types.is_list(col.type):
            values = np.asarray(col.to_pylist(), dtype=np.float64)
        else:
            values = col.to_numpy().astype(np.float64)
        out[k] = vector_stats(values)
    return out


def _plain(value):
    """Parquet cells as pandas returns them (numpy arrays, nested object arrays) -> plain lists."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
