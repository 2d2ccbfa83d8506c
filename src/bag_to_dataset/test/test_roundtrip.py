"""Bags -> dataset -> independent checks with pyarrow/pandas/PyAV against the bags' ground truth."""
from __future__ import annotations

import json
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.pipeline import ConversionError
from bag_to_dataset.synthetic import NS, synth_image, write_bag, write_session
from robot_common.testing import ros_env

FPS = 30
CAMS = {"front": (96, 64), "wrist": (64, 48)}


def expected_frames(truth, topics, fps=FPS):
    """Independent re-statement of the alignment: start when all streams have data, causal hold."""
    start = max(int(truth.streams[t].header_ns[0]) for t in topics)
    end = min(int(truth.streams[t].header_ns[-1]) for t in topics)
    n = (end - start) * fps // NS + 1
    return start + np.arange(n, dtype=np.int64) * NS // fps


def hold(times, query):
    return np.searchsorted(times, query, side="right") - 1


@pytest.fixture(scope="module")
def session_dataset(tmp_path_factory, so101_names, mapping_factory):
    root = tmp_path_factory.mktemp("rt")
    truths = write_session(root / "session", 3, so101_names, robot="so101", task="pick the cube",
                           cameras=CAMS, duration=2.0, jitter=0.004)
    mapping = mapping_factory(root / "map.yaml", robot_type=None)
    result = convert([root / "session"], mapping, root / "ds", workers=2, progress=False)
    return root / "ds", truths, result


def test_recorder_session_round_trip(session_dataset, so101_names):
    ds, truths, result = session_dataset
    assert result.ok and result.converted == 3
    for ep in result.episodes:   # frames stream into the encoder: at most one decoded image held per camera
        assert ep["length"] >= 50
        assert all(v["max_buffered_frames"] == 1 for v in ep["videos"].values()), ep["videos"]
    assert validate_dataset(ds) == []
    info = json.loads((ds / "meta" / "info.json").read_text())
    assert info["robot_type"] == "so101"                       # from the recorder metadata
    assert info["features"]["observation.state"]["names"] == so101_names
    data = pd.read_parquet(ds / "data" / "chunk-000" / "file-000.parquet")
    eps = pd.read_parquet(ds / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    tasks = pd.read_parquet(ds / "meta" / "tasks.parquet")
    assert tasks.index.name == "task" and tasks.loc["pick the cube", "task_index"] == 0
    assert data["index"].tolist() == list(range(len(data)))
    topics = ["/joint_states", "/leader/joint_states"] + [f"/cameras/{c}/image_raw" for c in CAMS]
    for e, truth in enumerate(truths):
        rows = data[data["episode_index"] == e]
        frames = expected_frames(truth, topics)
        assert len(rows) == len(frames) == eps.loc[e, "length"]
        np.testing.assert_array_equal(rows["timestamp"].to_numpy(), (np.arange(len(frames)) / FPS).astype(np.float32))
        for feat, topic in (("observation.state", "/joint_states"), ("action", "/leader/joint_states")):
            s = truth.streams[topic]
            want = s.values[hold(s.header_ns, frames)].astype(np.float32)   # reordered to the spec's names
            np.testing.assert_allclose(np.stack(rows[feat].to_numpy()), want, atol=1e-7)


def test_video_frames_are_exact(session_dataset):
    """Every decoded frame sits at from_timestamp + i / fps and shows the image the clock picked."""
    ds, truths, _ = session_dataset
    eps = pd.read_parquet(ds / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    topics = ["/joint_states", "/leader/joint_states"] + [f"/cameras/{c}/image_raw" for c in CAMS]
    for cam, (w, h) in CAMS.items():
        key = f"observation.images.{cam}"
        with av.open(str(ds / "videos" / key / "chunk-000" / "file-000.mp4")) as c:
            decoded = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        assert len(decoded) == eps["length"].sum()
        for e, truth in enumerate(truths):
            frm = eps.loc[e, f"videos/{key}/from_timestamp"]
            assert frm == pytest.approx(eps["length"][:e].sum() / FPS, abs=1e-9)
            frames = expected_frames(truth, topics)
            ks = hold(truth.streams[f"/cameras/{cam}/image_raw"].header_ns, frames)
            ci = truth.cameras[cam][2]
            for i, k in enumerate(ks):
                t, img = decoded[int(eps.loc[e, "dataset_from_index"]) + i]
                assert abs(t - (frm + i / FPS)) < 1e-6
                assert np.abs(img.astype(int) - synth_image(int(k), w, h, ci)).mean() < 15
                # the top-left block's colour encodes the message index: it must be k, not a neighbour
                block = img[2: h // 4 - 2, 2: w // 4 - 2].reshape(-1, 3).mean(0)
                dist = {d: np.abs(block - synth_image(int(k) + d, w, h, ci)[0, 0]).max() for d in range(-2, 3)}
                assert min(dist, key=dist.get) == 0 and dist[0] < 12, (cam, e, i, dist)


def test_stats_match_numpy(session_dataset):
    ds, _, _ = session_dataset
    stats = json.loads((ds / "meta" / "stats.json").read_text())
    data = pd.read_parquet(ds / "data" / "chunk-000" / "file-000.parquet")
    for feat in ("observation.state", "action", "timestamp", "index"):
        x = np.stack(data[feat].to_numpy()).astype(np.float64).reshape(len(data), -1)
        s = {k: np.asarray(v, dtype=np.float64) for k, v in stats[feat].items()}
        np.testing.assert_allclose(s["mean"], x.mean(0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(s["std"], x.std(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(s["min"], x.min(0))
        np.testing.assert_array_equal(s["max"], x.max(0))
        for q, v in (("q01", 0.01), ("q10", 0.1), ("q50", 0.5), ("q90", 0.9), ("q99", 0.99)):
            np.testing.assert_allclose(s[q], np.quantile(x, v, axis=0), rtol=1e-12)
        assert s["count"].tolist() == [len(data)]
    img = {k: np.asarray(v) for k, v in stats["observation.images.front"].items()}
    assert img["mean"].shape == (3, 1, 1) and 0 < img["mean"].min() < img["mean"].max() < 1
    assert np.all(img["q01"] <= img["q50"]) and np.all(img["q50"] <= img["q99"])


def test_plain_sqlite3_bag_with_trajectory_action_via_cli(tmp_path, fr3_spec, mapping_factory):
    """A `ros2 bag record`-style sqlite3 bag (no recorder metadata), action from the commanded trajectory,
    a wrench and an object pose."""
    names = fr3_spec.joint_names + [fr3_spec.gripper.joint]
    truth = write_bag(tmp_path / "plain_bag", names, storage="sqlite3", duration=1.5, trajectory=True,
                      gripper_joint=fr3_spec.gripper.joint, cameras={"front": (64, 48)}, wrench=True, pose=True)
    mapping = mapping_factory(tmp_path / "map.yaml", base="real",
                              drop=("observation.images.wrist", "observation.tactile.left_finger.image"),
                              **{"feature:observation.pose.object": {"topic": "/sim/object_pose", "type": "pose"}})
    out = tmp_path / "ds"
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.convert_cli", str(tmp_path / "plain_bag"),
                          "-m", str(mapping), "-o", str(out), "--task", "stack blocks", "--no-progress"],
                         env=ros_env(), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    check = subprocess.run([sys.executable, "-m", "bag_to_dataset.validate_cli", str(out)],
                           env=ros_env(), capture_output=True, text=True, timeout=240)
    assert check.returncode == 0 and "valid LeRobot v3.0" in check.stdout, check.stdout
    table = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    action = np.asarray(table.column("action").to_pylist())
    state = np.asarray(table.column("observation.state").to_pylist())
    wrench = np.asarray(table.column("observation.tactile.left_finger.wrench").to_pylist())
    pose = np.asarray(table.column("observation.pose.object").to_pylist())
    assert action.shape[1] == 8 and state.shape[1] == 8 and wrench.shape[1] == 6 and pose.shape[1] == 7
    st = truth.streams
    traj, grip = st["/arm_controller/joint_trajectory"], st["/gripper_controller/commands"]
    # commands are aligned on receive times (time: receive in the mapping), the rest on header stamps
    clocks = [st["/joint_states"].header_ns, st["/cameras/front/image_raw"].header_ns,
              st["/tactile/left_finger/wrench"].header_ns, st["/sim/object_pose"].header_ns,
              traj.receive_ns, grip.receive_ns]
    start, end = max(int(c[0]) for c in clocks), min(int(c[-1]) for c in clocks)
    frames = start + np.arange((end - start) * FPS // NS + 1, dtype=np.int64) * NS // FPS
    want = np.concatenate([traj.values[hold(traj.receive_ns, frames)], grip.values[hold(grip.receive_ns, frames)]], 1)
    # the bag lists the arm joints in reverse order; the dataset has them in the robot's order
    np.testing.assert_allclose(action, want.astype(np.float32), atol=1e-7)
    obj = st["/sim/object_pose"]
    np.testing.assert_allclose(pose, obj.values[hold(obj.header_ns, frames)].astype(np.float32), atol=1e-7)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["features"]["observation.pose.object"]["names"][-1] == "orientation.w"
    meta = json.loads((out / "meta" / "bag_to_dataset.json").read_text())["episodes"][0]
    assert meta["task"] == "stack blocks"
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["robot_type"] == "fr3" and info["total_tasks"] == 1


def test_default_av1_and_file_roll_over(tmp_path, so101_names, mapping_factory):
    """LeRobot's default codec (libsvtav1), with tiny size limits so every episode starts new files."""
    write_session(tmp_path / "s", 3, so101_names, robot="so101", task="t", cameras={"front": (64, 64)}, duration=1.0)
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",),
                              video={"codec": "libsvtav1"}, files={"data_files_size_in_mb": 0.001,
                                                                   "video_files_size_in_mb": 0.001})
    out = tmp_path / "ds"
    assert convert([tmp_path / "s"], mapping, out, workers=1, progress=False).ok
    assert validate_dataset(out) == []
    eps = pd.read_parquet(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    assert eps["data/file_index"].tolist() == [0, 1, 2]
    assert eps["videos/observation.images.front/file_index"].tolist() == [0, 1, 2]
    assert eps["videos/observation.images.front/from_timestamp"].tolist() == [0.0, 0.0, 0.0]
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.front"]["info"]["video.codec"] == "av1"
    with av.open(str(out / "videos/observation.images.front/chunk-000/file-002.mp4")) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1")


def test_images_arriving_out_of_stamp_order(tmp_path, so101_names, mapping_factory):
    """Header stamps decide the order; the encoder still gets frame after frame, holding two at most."""
    truth = write_bag(tmp_path / "bag", so101_names, duration=1.5, cameras={"front": (64, 48)}, reorder_images=True)
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([tmp_path / "bag"], mapping, tmp_path / "ds", task="t", progress=False)
    assert result.ok and result.episodes[0]["videos"]["observation.images.front"]["max_buffered_frames"] == 2
    assert validate_dataset(tmp_path / "ds") == []
    topics = ["/joint_states", "/leader/joint_states", "/cameras/front/image_raw"]
    ks = hold(truth.streams["/cameras/front/image_raw"].header_ns, expected_frames(truth, topics))
    with av.open(str(tmp_path / "ds/videos/observation.images.front/chunk-000/file-000.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == len(ks)
    for img, k in zip(decoded, ks):
        block = img[2:10, 2:14].reshape(-1, 3).mean(0)
        dist = {d: np.abs(block - synth_image(int(k) + d, 64, 48, 0)[0, 0]).max() for d in range(-2, 3)}
        assert min(dist, key=dist.get) == 0


def test_trim_idle_start_drops_exactly_the_leading_still_frames(tmp_path, so101_names, mapping_factory):
    """trim_idle_start: the trimmed episode is the untrimmed one from the last frame before the
    action first moves by more than the threshold, for every column and the video."""
    write_session(tmp_path / "s", 1, so101_names, robot="so101", task="t", cameras={"front": (64, 48)}, duration=2.0)
    plain = mapping_factory(tmp_path / "plain.yaml", drop=("observation.images.wrist",))
    trim = mapping_factory(tmp_path / "trim.yaml", drop=("observation.images.wrist",), trim_idle_start=0.05)
    assert convert([tmp_path / "s"], plain, tmp_path / "a", progress=False).ok
    assert convert([tmp_path / "s"], trim, tmp_path / "b", progress=False).ok
    a = pd.read_parquet(tmp_path / "a" / "data" / "chunk-000" / "file-000.parquet")
    b = pd.read_parquet(tmp_path / "b" / "data" / "chunk-000" / "file-000.parquet")
    act = np.stack(a["action"].values)
    moved = np.max(np.abs(act - act[0]), axis=1) > 0.05
    k = int(np.argmax(moved)) - 1
    assert k > 0 and len(b) == len(a) - k
    for col in ("action", "observation.state"):
        np.testing.assert_array_equal(np.stack(b[col].values), np.stack(a[col].values)[k:])
    np.testing.assert_allclose(b["timestamp"].values, np.arange(len(b)) / FPS, atol=1e-6)
    assert b["frame_index"].tolist() == list(range(len(b)))
    with av.open(str(next((tmp_path / "b" / "videos").rglob("*.mp4")))) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(b)
    assert validate_dataset(tmp_path / "b") == []
    meta = json.loads((tmp_path / "b" / "meta" / "bag_to_dataset.json").read_text())
    assert meta["episodes"][0]["trimmed_idle_frames"] == k
    # an action that never moves that far leaves nothing to learn from: a clear per-episode failure
    still = mapping_factory(tmp_path / "still.yaml", drop=("observation.images.wrist",), trim_idle_start=100.0)
    with pytest.raises(ConversionError, match="never moves more than trim_idle_start=100.0"):
        convert([tmp_path / "s"], still, tmp_path / "c", progress=False)
