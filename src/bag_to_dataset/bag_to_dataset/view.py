"""Episodes in the rerun viewer: a recorded MCAP bag or one episode of a LeRobot v3.0 dataset.

What rerun's own loaders show, and what is logged here on top (docs/view.md):

- bag (rerun.chunk.McapReader, `ros2msg` decoder): sensor_msgs/Image (cameras, tactile gel
  images) as images, CameraInfo as pinholes, JointState position/velocity/effort and
  Float64MultiArray (gripper commands) as time series, PoseStamped as 3-D poses. Its MCAP loader
  has no semantic decoder for trajectory_msgs/JointTrajectory (the arm commands),
  geometry_msgs/WrenchStamped (tactile shear/load), std_msgs/Bool (task success) or
  std_msgs/Float32 (contact area), so those are logged here as time series
  (`<topic>/positions`, `<topic>/force`, `<topic>/torque`, `<topic>/data`), and PoseStamped
  positions as `<topic>/position` series beside rerun's poses. Timelines are rerun's:
  `message_log_time` (receive time) and `ros2_timestamp` (header stamp).
- dataset (rerun.experimental.LeRobotReader): every vector feature (observation.state, action,
  observation.pose.*, observation.tactile.*) and the task on the `frame_index` timeline. Its
  video path needs an ffmpeg executable for our H.264/AV1 files; without one the videos are
  decoded here (PyAV) and logged as images at their frame_index.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .bagio import BagError, BagReader, EpisodeInput, discover_episodes, typestore
from .layout import INFO_PATH, episodes_files, video_path

APP_ID = "robot_ws"
LOG_TIME = "message_log_time"      # rerun's MCAP loader: the MCAP log time (the recorder's receive time)
HEADER_TIME = "ros2_timestamp"     # rerun's MCAP loader: header.stamp
FRAME_INDEX = "frame_index"        # rerun's LeRobot loader

# message types rerun's MCAP loader decodes into viewable archetypes (checked against 0.41's ros2msg decoder)
RERUN_DECODES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo",
                 "sensor_msgs/msg/JointState", "std_msgs/msg/Float64MultiArray", "geometry_msgs/msg/PoseStamped")


class ViewError(RuntimeError):
    """Input the viewer cannot open; names the path and the problem."""


def is_dataset(path: Path) -> bool:
    return (Path(path) / INFO_PATH).is_file()


# ---------------------------------------------------------------- bags


def _series(msgtype: str, msg) -> dict[str, tuple[list[float], list[str]]]:
    """Sub-entity -> (values, series names) for the message types logged here."""
    if msgtype == "trajectory_msgs/msg/JointTrajectory":
        pos = list(msg.points[0].positions) if len(msg.points) else []
        return {"positions": (pos, list(msg.joint_names))}
    if msgtype == "geometry_msgs/msg/WrenchStamped":
        f, t = msg.wrench.force, msg.wrench.torque
        return {"force": ([f.x, f.y, f.z], ["x", "y", "z"]), "torque": ([t.x, t.y, t.z], ["x", "y", "z"])}
    if msgtype == "geometry_msgs/msg/PoseStamped":
        p = msg.pose.position
        return {"position": ([p.x, p.y, p.z], ["x", "y", "z"])}
    if msgtype in ("std_msgs/msg/Bool", "std_msgs/msg/Float32", "std_msgs/msg/Float64"):
        return {"data": ([float(msg.data)], ["data"])}
    return {}


OWN_TYPES = ("trajectory_msgs/msg/JointTrajectory", "geometry_msgs/msg/WrenchStamped", "geometry_msgs/msg/PoseStamped",
             "std_msgs/msg/Bool", "std_msgs/msg/Float32", "std_msgs/msg/Float64")


def _stamp_ns(msg) -> int | None:
    header = getattr(msg, "header", None)
    return None if header is None else int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def log_bag(rec, episode: EpisodeInput) -> dict[str, int]:
    """Send one recorded episode to `rec`; returns messages per topic that the view shows."""
    import rerun as rr
    from rerun.chunk import McapReader

    mcaps = [p for p in episode.storage_files() if p.suffix == ".mcap"]
    if not mcaps:
        raise ViewError(f"{episode.path}: no .mcap file (rerun reads MCAP bags; the recorder writes them)")
    with BagReader(episode) as bag:
        topics = dict(bag.topics)
        for path in mcaps:
            try:
                # ros2msg turns images and camera infos into archetypes only beside ros2_reflection (rerun 0.41)
                reader = McapReader(path, decoders=["ros2msg", "ros2_reflection", "recording_info"])
                rr.send_chunks(reader.stream(), recording=rec)
            except Exception as exc:  # noqa: BLE001 - rerun reports broken files as RuntimeError/ValueError
                raise ViewError(f"{path}: rerun cannot read it: {exc}") from exc
        own = [t for t, (m, _) in topics.items() if m in OWN_TYPES]
        store = typestore()
        cols: dict[str, dict] = {}
        for topic, msgtype, t_ns, raw in bag.messages(own):
            msg = store.deserialize_cdr(bytes(raw), msgtype)
            stamp = _stamp_ns(msg)
            for sub, (values, names) in _series(msgtype, msg).items():
                c = cols.setdefault(f"{topic}/{sub}", {"log": [], "stamp": [], "values": [], "names": names})
                if values and len(values) == len(c["names"]):
                    c["log"].append(t_ns)
                    c["stamp"].append(stamp)
                    c["values"].append(values)
    for entity, c in cols.items():
        if not c["log"]:
            continue
        rec.log(entity, rr.SeriesLines(names=c["names"]), static=True)
        indexes = [_times(LOG_TIME, c["log"])]
        if None not in c["stamp"]:   # headerless messages (Bool, Float32) have receive times only, as in rerun's
            indexes.append(_times(HEADER_TIME, c["stamp"]))
        rr.send_columns(entity, indexes=indexes,
                        columns=rr.Scalars.columns(scalars=np.asarray(c["values"], dtype=np.float64)), recording=rec)
    return {t: n for t, (_, n) in topics.items()}


def _times(name: str, ns: list[int]):
    import rerun as rr

    return rr.TimeColumn(name, timestamp=np.asarray(ns, dtype=np.int64).astype("datetime64[ns]"))


def bag_blueprint(topics: dict[str, tuple[str, int]]):
    """Images in a grid on the left, one time-series plot per joint/command/tactile stream on the right."""
    import rerun.blueprint as rrb

    images = [rrb.Spatial2DView(origin=t, name=t.strip("/")) for t, (m, _) in sorted(topics.items())
              if m in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")]
    plots = []
    for t, (m, _) in sorted(topics.items()):
        if m == "sensor_msgs/msg/JointState":
            plots.append(rrb.TimeSeriesView(origin=f"{t}/position", name=f"{t} position"))
        elif m in OWN_TYPES or m == "std_msgs/msg/Float64MultiArray":
            plots.append(rrb.TimeSeriesView(origin=t, name=t))
    return _layout(images, plots, LOG_TIME)


def _layout(images: list, plots: list, timeline: str):
    import rerun.blueprint as rrb

    views = ([rrb.Grid(*images)] if images else []) + ([rrb.Vertical(*plots)] if plots else [])
    return rrb.Blueprint(rrb.Horizontal(*views) if views else rrb.Spatial2DView(),
                         rrb.TimePanel(timeline=timeline), collapse_panels=True)


# ---------------------------------------------------------------- datasets


def log_dataset(rec, root: Path, episode: int = 0, video: str = "auto") -> dict[str, int]:
    """Send one dataset episode to `rec`; returns frames per feature. video: auto (rerun's video
    streams when an ffmpeg executable is there, else decoded images), native, or images."""
    import rerun as rr
    from rerun.experimental import LeRobotReader

    root = Path(root)
    info = json.loads((root / INFO_PATH).read_text())
    try:
        reader = LeRobotReader(root)
    except (ValueError, FileNotFoundError) as exc:
        raise ViewError(f"{root}: not a LeRobot dataset rerun can read: {exc}") from exc
    if episode not in reader.episodes():
        raise ViewError(f"{root}: no episode {episode} (episodes {reader.episodes()})")
    native = video == "native" or (video == "auto" and shutil.which("ffmpeg") is not None)
    try:
        rr.send_chunks(reader.stream(episode, video_mode="native" if native else "skip"), recording=rec)
    except RuntimeError as exc:
        raise ViewError(f"{root}: episode {episode}: rerun cannot load it: {exc}") from exc
    ep = _episode_row(root, episode)
    length = int(ep["length"])
    counts = {k: length for k, f in info["features"].items() if f["dtype"] not in ("video", "image")}
    for key, feat in info["features"].items():
        if feat["dtype"] == "video":
            counts[key] = length if native else _log_video(rec, root, key, ep, length, info["fps"])
    return counts


def _episode_row(root: Path, episode: int) -> dict:
    import pandas as pd

    for path in episodes_files(root):
        df = pd.read_parquet(path)
        rows = df[df["episode_index"] == episode]
        if len(rows):
            return rows.iloc[0].to_dict()
    raise ViewError(f"{root}: episode {episode} is not in meta/episodes")


def _log_video(rec, root: Path, key: str, ep: dict, length: int, fps: float) -> int:
    """Decode the episode's window of a video file with PyAV; log each frame as an image."""
    import av
    import rerun as rr

    path = video_path(root, key, int(ep[f"videos/{key}/chunk_index"]), int(ep[f"videos/{key}/file_index"]))
    start = float(ep[f"videos/{key}/from_timestamp"])
    n = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.pts * frame.time_base)
                i = int(round((t - start) * fps))
                if i < 0:
                    continue
                if i >= length:
                    break
                rec.set_time(FRAME_INDEX, sequence=i)
                rec.log(key, rr.Image(frame.to_ndarray(format="rgb24")))
                n += 1
    except av.error.FFmpegError as exc:
        raise ViewError(f"{path}: cannot decode video: {exc}") from exc
    rec.reset_time()
    return n


def dataset_blueprint(root: Path):
    import rerun.blueprint as rrb

    info = json.loads((Path(root) / INFO_PATH).read_text())
    feats = info["features"]
    images = [rrb.Spatial2DView(origin=k, name=k) for k, f in feats.items() if f["dtype"] in ("video", "image")]
    plots = [rrb.TimeSeriesView(origin=k, name=k) for k, f in feats.items()
             if f["dtype"].startswith("float") and k not in ("timestamp",)]
    return _layout(images, plots, FRAME_INDEX)


# ---------------------------------------------------------------- entry point


def view(path: str | Path, *, save: str | Path | None = None, episode: int = 0, web: bool | None = None,
         web_port: int = 9090, video: str = "auto", grpc_port: int = 9876):
    """Open `path` (bag folder, recorder session or dataset) in rerun, or write it to `save` (.rrd).
    Returns (recording, counts); the caller keeps a served viewer alive while it needs it."""
    import rerun as rr

    path = Path(path)
    if not path.exists():
        raise ViewError(f"{path}: no such file or folder")
    rec = rr.RecordingStream(APP_ID, recording_id=f"{path.resolve().name}-{episode}")
    if is_dataset(path):
        blueprint = dataset_blueprint(path)
        _sink(rec, save, web, web_port, grpc_port, blueprint)
        counts = log_dataset(rec, path, episode, video)
    else:
        try:
            episodes = discover_episodes([path])
        except BagError as exc:
            raise ViewError(str(exc)) from None
        if not 0 <= episode < len(episodes):
            raise ViewError(f"{path}: no episode {episode} ({len(episodes)} found)")
        ep = episodes[episode]
        with BagReader(ep) as bag:
            blueprint = bag_blueprint(bag.topics)
        _sink(rec, save, web, web_port, grpc_port, blueprint)
        counts = log_bag(rec, ep)
    rec.flush()
    return rec, counts


def _sink(rec, save, web: bool | None, web_port: int, grpc_port: int, blueprint) -> None:
    import os

    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        rec.save(str(save), default_blueprint=blueprint)
        return
    if web is None:
        web = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if web:
        uri = rec.serve_grpc(grpc_port=grpc_port, default_blueprint=blueprint)
        import rerun as rr

        rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=uri)
    else:
        rec.spawn(default_blueprint=blueprint)
