"""Camera frames for dataset rows: decoded once into memory, or streamed (decoded per sample).

`VideoFrames` maps every dataset row of a camera to one frame of one mp4 (by presentation time,
read from the container's packets without decoding). In memory (`cache=True`) each file is decoded
once and the rows' frames kept as uint8; streamed (`cache=False`) a sample seeks to the frame's
keyframe and decodes forward (PyAV), keeping a small LRU of decoded frames per process, so memory
stays flat however long the dataset is. Both paths convert frames with the same function, so a
streamed sample is bit-identical to a cached one.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["VideoFrames", "decoded_bytes", "to_rgb"]


class FrameIndexError(ValueError):
    """A row has no video frame close enough in time (raised as the dataset's DatasetError)."""


def to_rgb(frame, size: tuple[int, int] | None, crop: list[float] | None = None) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(H, W, 3) uint8 of a decoded frame, cut to `crop` and resized to size=(H, W) by
    policy.preprocess, what the policy node does to its camera images (so training and inference
    see the same pixels)."""
    from policy.preprocess import crop_uint8, resize_uint8

    return resize_uint8(crop_uint8(frame.to_ndarray(format="rgb24"), crop), size)


def packet_times(path: Path) -> tuple[np.ndarray, float]:
    """Sorted presentation timestamps (pts) of the file's video frames, and the time base (s/pts)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
        return np.sort(np.asarray(pts, dtype=np.int64)), float(stream.time_base)


def decoded_bytes(rows: int, shapes: list[tuple[int, int]]) -> int:
    """Bytes of `rows` decoded uint8 RGB frames for each camera of shape (H, W)."""
    return int(sum(rows * h * w * 3 for h, w in shapes))


class VideoFrames:
    """Frames of `keys` for the rows of `frames` (a data parquet frame with episode_index, timestamp)."""

    def __init__(self, root: Path, info: dict, episodes: pd.DataFrame, frames: pd.DataFrame, keys: list[str],
                 size: tuple[int, int] | None, cache: bool, lru_frames: int = 256,
                 crops: dict[str, list[float]] | None = None) -> None:
        self.size, self.cache, self.lru_frames = size, cache, lru_frames
        self.file_crop: dict[int, list[float] | None] = {}  # file id -> its camera's crop box
        self.paths: list[Path] = []
        self.row_file: dict[str, np.ndarray] = {}  # camera -> file id of each row
        self.row_pts: dict[str, np.ndarray] = {}  # camera -> pts of each row's frame
        self._times: dict[Path, tuple[np.ndarray, float]] = {}
        eps = episodes.set_index("episode_index")
        fps = float(info["fps"])
        tol = 0.5 / fps
        stamps = frames["timestamp"].to_numpy().astype(np.float64)
        for key in keys:
            file_of = np.empty(len(frames), dtype=np.int64)
            pts_of = np.empty(len(frames), dtype=np.int64)
            for e, rows in frames.groupby("episode_index").indices.items():
                ch, fi = int(eps.at[e, f"videos/{key}/chunk_index"]), int(eps.at[e, f"videos/{key}/file_index"])
                path = root / info["video_path"].format(video_key=key, chunk_index=ch, file_index=fi)
                if path not in self._times:
                    if not path.is_file():
                        raise FileNotFoundError(f"video {path} is missing")
                    self._times[path] = packet_times(path)
                    self.paths.append(path)
                pts, base = self._times[path]
                if not len(pts):
                    raise FrameIndexError(f"{path}: no decodable video frames")
                times = pts * base
                wanted = float(eps.at[e, f"videos/{key}/from_timestamp"]) + stamps[rows]
                idx = np.clip(np.searchsorted(times, wanted - tol), 0, len(times) - 1)
                err = np.abs(times[idx] - wanted)
                if np.any(err > tol):
                    raise FrameIndexError(f"{key}, episode {e}: no video frame within {tol * 1e3:.1f} ms of "
                                          f"t={wanted[int(np.argmax(err))]:.3f} s")
                file_of[rows] = self.paths.index(path)
                self.file_crop[self.paths.index(path)] = (crops or {}).get(key)
                pts_of[rows] = pts[idx]
            self.row_file[key], self.row_pts[key] = file_of, pts_of
        self.memory: dict[str, np.ndarray] = {k: self._decode_all(k) for k in keys} if cache else {}
        self._open: dict[int, object] = {}
        self._lru: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._pid = os.getpid()

    def get(self, key: str, rows: int | np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 for one row, (n, H, W, 3) for an array of rows."""
        if self.cache:
            return self.memory[key][rows]
        if np.ndim(rows) == 0:
            return self._frame(int(self.row_file[key][rows]), int(self.row_pts[key][rows]))
        return np.stack([self._frame(int(self.row_file[key][r]), int(self.row_pts[key][r])) for r in np.asarray(rows)])

    def _decode_all(self, key: str) -> np.ndarray:
        """Every row's frame of camera `key`, each file decoded once front to back."""
        import av

        out, filled = None, np.zeros(len(self.row_pts[key]), dtype=bool)
        for fid in np.unique(self.row_file[key]):
            path = self.paths[int(fid)]
            rows = np.flatnonzero(self.row_file[key] == fid)
            wanted = self.row_pts[key][rows]
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    hit = rows[wanted == frame.pts]
                    if not len(hit):
                        continue
                    img = to_rgb(frame, self.size, self.file_crop[int(fid)])
                    if out is None:
                        out = np.empty((len(self.row_pts[key]), *img.shape), dtype=np.uint8)
                    out[hit] = img
                    filled[hit] = True
        if out is None or not filled.all():
            raise FrameIndexError(f"{key}: {int((~filled).sum())} rows' frames were not produced by the decoder")
        return out

    # -- streaming -------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        # DataLoader workers (spawn) get the index, never open containers or decoded frames
        state = dict(self.__dict__)
        state["_open"], state["_lru"] = {}, OrderedDict()
        return state

    def _container(self, fid: int):  # noqa: ANN202 - av.container.InputContainer
        import av

        if os.getpid() != self._pid:  # a forked worker: never share the parent's demuxer state
            self._open, self._lru, self._pid = {}, OrderedDict(), os.getpid()
        if fid not in self._open:
            self._open[fid] = av.open(str(self.paths[fid]))
        return self._open[fid]

    def _frame(self, fid: int, pts: int) -> np.ndarray:
        hit = self._lru.get((fid, pts)) if os.getpid() == self._pid else None
        if hit is not None:
            self._lru.move_to_end((fid, pts))
            return hit
        container = self._container(fid)
        stream = container.streams.video[0]
        container.seek(pts, stream=stream, backward=True, any_frame=False)  # the keyframe at or before pts
        found = None
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts > pts:
                break
            img = to_rgb(frame, self.size, self.file_crop[fid])
            self._lru[(fid, frame.pts)] = img  # the GOP's earlier frames: the next samples often want them
            if frame.pts == pts:
                found = img
                break
        while len(self._lru) > self.lru_frames:
            self._lru.popitem(last=False)
        if found is None:
            raise FrameIndexError(f"{self.paths[fid]}: no frame at pts {pts} after seeking")
        return found

    def close(self) -> None:
        for container in self._open.values():
            container.close()
        self._open.clear()
        self._lru.clear()


def worker_context(num_workers: int) -> str | None:
    """DataLoader workers start with `spawn`: a forked worker of a process with other threads (DDS,
    a progress bar, a test's emulators) can inherit a lock held by one of them and hang forever;
    each spawned worker opens its own video files (VideoFrames is picklable without them)."""
    return "spawn" if num_workers > 0 else None
