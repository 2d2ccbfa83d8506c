"""Converting one bag into one cached episode: aligned vectors (npz), one mp4 per camera, a summary.

Two passes over the bag: the first reads every stream's times (and the small vector messages),
the second streams only the image messages the aligned clock picks into the encoders, so memory
does not grow with the episode's length.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .align import AlignmentError, StreamTimes, align_streams, first_motion
from .bagio import BagError, BagReader, EpisodeInput
from .mapping import SOURCE_TYPES, Mapping, Source
from .messages import decode_vector, header_stamp_ns, image_to_rgb
from .video import ImageHistogram, StreamingEncoder

SUMMARY = "episode.json"


def _label(feature: str, source: Source, many: bool) -> str:
    return f"{feature} <- {source.topic}" if many else source.topic


class _Camera:
    """Feeds one camera's picked messages to its encoder in frame order."""

    def __init__(self, key: str, ordinals: np.ndarray, out: Path, mapping: Mapping, threads: int):
        self.key, self.ordinals, self.out = key, ordinals, out
        self.mapping, self.threads = mapping, threads
        self.needed = set(ordinals.tolist())
        last_use: dict[int, int] = {}
        for i, k in enumerate(ordinals.tolist()):
            last_use[k] = i
        self.last_use = last_use
        n = ordinals.size
        self.sample = set(np.unique(np.linspace(0, n - 1, min(n, mapping.image_stats_frames)).astype(int)).tolist())
        self.hist = ImageHistogram()
        self.pending: dict[int, np.ndarray] = {}
        self.next = 0
        self.max_pending = 0   # decoded frames held at once: bounded by stamp reordering, not by length
        self.encoder: StreamingEncoder | None = None

    def offer(self, ordinal: int, raw, msgtype: str) -> None:
        if ordinal not in self.needed:
            return
        rgb = image_to_rgb(raw, msgtype)
        if self.encoder is None:
            h, w = rgb.shape[:2]
            self.encoder = StreamingEncoder(self.out, self.mapping.fps, w, h, self.mapping.video, self.threads)
        self.pending[ordinal] = rgb
        n = self.ordinals.size
        while self.next < n and int(self.ordinals[self.next]) in self.pending:
            img = self.pending[int(self.ordinals[self.next])]
            self.encoder.add(img)
            if self.next in self.sample:
                self.hist.add(img)
            self.next += 1
        self.max_pending = max(self.max_pending, len(self.pending))
        for k in [k for k in self.pending if self.last_use[k] < self.next]:
            del self.pending[k]

    def finish(self) -> dict:
        if self.encoder is None or self.next != self.ordinals.size:
            raise ValueError(f"{self.key}: only {self.next} of {self.ordinals.size} frames could be encoded")
        self.encoder.close()
        return {"width": self.encoder.width, "height": self.encoder.height, "frames": self.encoder.frames,
                "bytes": self.out.stat().st_size, "max_buffered_frames": self.max_pending}


def convert_episode(ep: EpisodeInput, mapping: Mapping, dest: Path, task: str, robot_type: str | None,
                    threads: int = 1) -> dict:
    """Write the episode into `dest` (atomically: a temp folder renamed at the end); returns its summary."""
    tmp = dest.with_name(dest.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with BagReader(ep) as bag:
            integrity = bag.verify()       # a flipped byte fails the episode here, before any value is read
            summary = _convert(bag, ep, mapping, tmp, threads)
            summary["integrity"] = integrity
        summary.update(task=task, robot_type=robot_type, source=str(ep.path), name=ep.name,
                       success=ep.episode_meta.get("success"))
        with open(tmp / SUMMARY, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
        return summary
    except (AlignmentError, ValueError, KeyError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, BagError):
            raise
        where = ", ".join(str(p) for p in ep.storage_files()) or str(ep.path)
        raise BagError(f"{where}: episode {ep.name}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _convert(bag: BagReader, ep: EpisodeInput, mapping: Mapping, out: Path, threads: int) -> dict:
    bag.require(mapping.topics)
    many = len({s.topic for f in mapping.features for s in f.sources}) < sum(len(f.sources) for f in mapping.features)
    by_topic: dict[str, list[tuple[str, Source]]] = {}
    for f in mapping.features:
        for s in f.sources:
            msgtype = bag.topics[s.topic][0]
            if msgtype not in SOURCE_TYPES[s.type]:
                raise BagError(f"{bag.where}: episode {ep.name}: topic {s.topic} has type {msgtype}, "
                               f"the mapping's '{s.type}' needs {SOURCE_TYPES[s.type]}")
            by_topic.setdefault(s.topic, []).append((_label(f.name, s, many), s))

    times: dict[str, list[int]] = {lbl: [] for srcs in by_topic.values() for lbl, _ in srcs}
    values: dict[str, list[np.ndarray]] = {lbl: [] for lbl in times}
    image_topics = sorted({s.topic for f in mapping.video_features for s in f.sources})
    for topic, msgtype, t_recv, raw in bag.messages(mapping.topics):
        for lbl, s in by_topic[topic]:
            try:
                if s.is_image:
                    t = header_stamp_ns(raw) if s.time == "header" else t_recv
                else:
                    stamp, vec = decode_vector(raw, msgtype, s)
                    t = stamp if s.time == "header" else t_recv
                    values[lbl].append(vec)
            except (ValueError, KeyError) as exc:
                raise BagError(f"{bag.where}: episode {ep.name}: {topic} message {len(times[lbl])} "
                               f"(t={t_recv / 1e9:.3f}): {exc}") from exc
            if s.time == "header" and t == 0:
                raise BagError(f"{bag.where}: episode {ep.name}: {topic} has header.stamp 0 "
                               f"(unset by the publisher); map it with time: receive")
            times[lbl].append(t)

    streams, orders = [], {}
    for srcs in by_topic.values():
        for lbl, s in srcs:
            t = np.asarray(times[lbl], dtype=np.int64)
            order = np.argsort(t, kind="stable")  # header stamps may arrive out of order
            orders[lbl] = order
            streams.append(StreamTimes(lbl, t[order], s.policy, s.tolerance))
    alignment = align_streams(streams, mapping.fps)

    arrays: dict[str, np.ndarray] = {}
    for f in mapping.vector_features:
        parts = []
        for s in f.sources:
            lbl = _label(f.name, s, many)
            sorted_vals = np.stack(values[lbl])[orders[lbl]]
            parts.append(sorted_vals[alignment.indices[lbl]])
        arrays[f.name] = np.concatenate(parts, axis=1).astype(np.float32)
        if not np.all(np.isfinite(arrays[f.name])):
            bad = int((~np.isfinite(arrays[f.name])).any(axis=1).sum())
            raise BagError(f"{bag.where}: episode {ep.name}: {f.name} has non-finite values in {bad} frames")
    trimmed = 0
    if mapping.trim_idle_start > 0:
        k = trimmed = first_motion(arrays["action"], mapping.trim_idle_start)
        if k >= alignment.length - 1:
            raise BagError(f"{bag.where}: episode {ep.name}: the action never moves more than "
                           f"trim_idle_start={mapping.trim_idle_start}: nothing left to learn from")
        alignment.drop_first(k)
        arrays = {name: a[k:] for name, a in arrays.items()}
    out_of_range = check_limits(arrays, mapping, alignment.frame_times_ns - alignment.start_ns)
    if out_of_range and mapping.out_of_range == "fail":
        feat, joint, info = next((f, j, i) for f, joints in out_of_range.items() for j, i in joints.items())
        more = sum(len(j) for j in out_of_range.values()) - 1
        raise BagError(f"{bag.where}: episode {ep.name}: {feat} {joint} reaches {info['worst']:.4g}, outside its "
                       f"limits [{info['lower']:.4g}, {info['upper']:.4g}] ({mapping.robot}) in {info['frames']} frames "
                       f"(first at {info['first_s']:.2f} s)" + (f"; {more} more joint(s) out of range" if more else "")
                       + "; set out_of_range: keep in the mapping to keep such episodes")
    arrays["source_time_ns"] = alignment.frame_times_ns

    cameras: dict[str, _Camera] = {}
    topic_cams: dict[str, list[_Camera]] = {}
    for f in mapping.video_features:
        s = f.sources[0]
        lbl = _label(f.name, s, many)
        ordinals = orders[lbl][alignment.indices[lbl]]
        cam = _Camera(f.name, ordinals, out / f"{f.name}.mp4", mapping, threads)
        cameras[f.name] = cam
        topic_cams.setdefault(s.topic, []).append(cam)
    if cameras:
        counters = dict.fromkeys(image_topics, 0)
        for topic, msgtype, t_recv, raw in bag.messages(image_topics):
            k = counters[topic]
            counters[topic] = k + 1
            for cam in topic_cams[topic]:
                try:
                    cam.offer(k, raw, msgtype)
                except ValueError as exc:
                    raise BagError(f"{bag.where}: episode {ep.name}: {topic} message {k} "
                                   f"(t={t_recv / 1e9:.3f}): {exc}") from exc
    videos = {key: cam.finish() for key, cam in cameras.items()}
    np.savez(out / "arrays.npz", **arrays, **{f"hist:{k}": c.hist.counts for k, c in cameras.items()})
    return {"length": alignment.length, "start_ns": alignment.start_ns, "videos": videos,
            "image_stats_frames": {k: len(c.sample) for k, c in cameras.items()},
            "report": alignment.report, "trimmed_idle_frames": trimmed, "storage": [p.name for p in ep.storage_files()],
            "out_of_range": out_of_range, "robot": mapping.robot}


def check_limits(arrays: dict[str, np.ndarray], mapping: Mapping, times_ns: np.ndarray) -> dict:
    """Joint values (in the episode's frames) beyond the robot's limits by more than range_margin of
    the joint's range: {feature: {joint: {frames, worst, lower, upper, first_s}}}."""
    out: dict[str, dict] = {}
    for f in mapping.vector_features:
        col = 0
        for s in f.sources:
            for k, lim in enumerate(s.limits or (None,) * len(s.names)):
                if lim is not None:
                    lo, hi = lim
                    slack = mapping.range_margin * (hi - lo)
                    v = arrays[f.name][:, col + k].astype(np.float64)
                    bad = (v < lo - slack) | (v > hi + slack)
                    if bad.any():
                        worst = float(v[bad][np.argmax(np.abs(v[bad] - (lo + hi) / 2))])
                        out.setdefault(f.name, {})[s.names[k]] = {
                            "frames": int(bad.sum()), "worst": worst, "lower": lo, "upper": hi,
                            "first_s": float(times_ns[int(np.argmax(bad))]) / 1e9}
            col += len(s.names)
    return out
