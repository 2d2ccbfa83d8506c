"""Dataset editing: delete episodes, split train/val, merge. Each output is checked by our validator,
by `lerobot-doctor` (an independent one, from PyPI) and against the source datasets' own frames."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pytest

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.edit import EditError, load_dataset, merge_datasets, parse_episodes
from bag_to_dataset.synthetic import write_session
from robot_common.testing import ros_env

CAMS = {"front": (64, 48), "wrist": (32, 24)}


def make_dataset(root, names, mapping_factory, *, task: str, seed: int, n: int = 3, fps: int = 30,
                 drop: tuple[str, ...] = (), robot_type: str | None = None):
    write_session(root / "s", n, names, robot="so101", task=task, cameras=CAMS, duration=1.0 + 0.1 * seed)
    mapping = mapping_factory(root / "m.yaml", drop=drop, fps=fps)
    assert convert([root / "s"], mapping, root / "ds", robot_type=robot_type, progress=False).ok
    return root / "ds"


@pytest.fixture(scope="module")
def sources(tmp_path_factory, so101_names, mapping_factory):
    a = make_dataset(tmp_path_factory.mktemp("a"), so101_names, mapping_factory, task="pick", seed=0)
    b = make_dataset(tmp_path_factory.mktemp("b"), so101_names, mapping_factory, task="place", seed=1)
    return a, b


def doctor(ds) -> dict:
    """lerobot-doctor's verdict (exit code 0 with --ci: no FAIL)."""
    run = subprocess.run([shutil.which("lerobot-doctor") or "lerobot-doctor", "check", str(ds), "--ci"],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(run.stdout[run.stdout.index("{"):run.stdout.rindex("}") + 1])
    assert run.returncode == 0 and report["summary"]["FAIL"] == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return report


def frames_of(ds, e: int) -> pd.DataFrame:
    data = pd.concat([pd.read_parquet(p) for p in sorted((ds / "data").rglob("*.parquet"))])
    return data[data["episode_index"] == e].sort_values("frame_index").reset_index(drop=True)


def video_frames(ds, e: int, key: str) -> np.ndarray:
    eps = load_dataset(ds).episodes
    row = eps.iloc[e]
    path = ds / "videos" / key / f"chunk-{row[f'videos/{key}/chunk_index']:03d}" / \
        f"file-{row[f'videos/{key}/file_index']:03d}.mp4"
    lo, hi = row[f"videos/{key}/from_timestamp"], row[f"videos/{key}/to_timestamp"]
    with av.open(str(path)) as c:
        out = [f.to_ndarray(format="rgb24") for f in c.decode(video=0) if lo - 1e-4 <= float(f.pts * f.time_base) < hi - 1e-4]
    return np.stack(out)


def assert_same_episode(new, i, old, e) -> None:
    a, b = frames_of(new, i), frames_of(old, e)
    assert len(a) == len(b)
    for col in ("observation.state", "action"):
        np.testing.assert_array_equal(np.stack(a[col].to_numpy()), np.stack(b[col].to_numpy()))
    np.testing.assert_array_equal(a["timestamp"].to_numpy(), b["timestamp"].to_numpy())


def test_delete_rewrites_indices_stats_and_videos(sources, tmp_path):
    a, _ = sources
    out = tmp_path / "deleted"
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.edit_cli", "delete", str(a), "--episodes", "1",
                          "-o", str(out)], env=ros_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert validate_dataset(out) == []
    doctor(out)
    info = json.loads((out / "meta" / "info.json").read_text())
    eps = load_dataset(out).episodes
    assert info["total_episodes"] == 2 and eps["episode_index"].tolist() == [0, 1]
    assert_same_episode(out, 0, a, 0)
    assert_same_episode(out, 1, a, 2)
    data = pd.concat([pd.read_parquet(p) for p in sorted((out / "data").rglob("*.parquet"))])
    assert data["index"].tolist() == list(range(len(data))) == list(range(info["total_frames"]))
    stats = json.loads((out / "meta" / "stats.json").read_text())
    state = np.stack(data["observation.state"].to_numpy()).astype(np.float64)
    np.testing.assert_allclose(stats["observation.state"]["mean"], state.mean(0), rtol=1e-9)
    np.testing.assert_allclose(stats["observation.state"]["q99"], np.quantile(state, 0.99, axis=0), rtol=1e-9)
    assert stats["observation.state"]["count"] == [len(data)]
    for key in ("observation.images.front", "observation.images.wrist"):   # episode 2 was re-encoded
        new, old = video_frames(out, 1, key), video_frames(a, 2, key)
        assert new.shape == old.shape and np.abs(new.astype(int) - old.astype(int)).mean() < 3.0


def test_split_by_episode(sources, tmp_path):
    a, _ = sources
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.edit_cli", "split", str(a), "--val-episodes", "0",
                          "-o", str(tmp_path / "split")], env=ros_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    train, val = tmp_path / "split" / "train", tmp_path / "split" / "val"
    for ds in (train, val):
        assert validate_dataset(ds) == []
        doctor(ds)
    assert len(load_dataset(train).episodes) == 2 and len(load_dataset(val).episodes) == 1
    assert_same_episode(val, 0, a, 0)
    assert_same_episode(train, 0, a, 1)
    assert_same_episode(train, 1, a, 2)


def test_merge_is_lossless_and_merges_tasks(sources, tmp_path):
    a, b = sources
    out = tmp_path / "merged"
    info = merge_datasets([a, b], out)
    assert validate_dataset(out) == []
    doctor(out)
    assert info["total_episodes"] == 6 and info["total_tasks"] == 2
    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")
    assert list(tasks.index) == ["pick", "place"]
    for i, (src, e) in enumerate([(a, 0), (a, 1), (a, 2), (b, 0), (b, 1), (b, 2)]):
        assert_same_episode(out, i, src, e)
        assert set(frames_of(out, i)["task_index"]) == {0 if src == a else 1}
        for key in ("observation.images.front", "observation.images.wrist"):   # remuxed: the same pixels
            np.testing.assert_array_equal(video_frames(out, i, key), video_frames(src, e, key))
    eps = load_dataset(out).episodes
    assert eps["dataset_from_index"].tolist()[3] == eps["dataset_to_index"].tolist()[2]
    assert [list(t) for t in eps["tasks"]] == [["pick"]] * 3 + [["place"]] * 3


def test_merge_refuses_mismatched_datasets(sources, tmp_path, so101_names, mapping_factory):
    a, _ = sources
    slow = make_dataset(tmp_path / "fps", so101_names, mapping_factory, task="pick", seed=2, n=1, fps=15)
    with pytest.raises(EditError, match="fps 15 vs 30"):
        merge_datasets([a, slow], tmp_path / "o1")
    one_cam = make_dataset(tmp_path / "cam", so101_names, mapping_factory, task="pick", seed=2, n=1,
                           drop=("observation.images.wrist",))
    with pytest.raises(EditError, match=r"lacks \['observation.images.wrist'\]"):
        merge_datasets([a, one_cam], tmp_path / "o2")
    other = make_dataset(tmp_path / "rt", so101_names, mapping_factory, task="pick", seed=2, n=1, robot_type="koch")
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.edit_cli", "merge", str(a), str(other), "-o",
                          str(tmp_path / "o3")], env=ros_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0 and "robot_type 'koch' vs 'so101'" in run.stderr
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o1").exists()


def test_bad_requests_are_refused(sources, tmp_path):
    a, _ = sources
    assert parse_episodes("0,2-3", 5) == [0, 2, 3]
    with pytest.raises(EditError, match=r"episodes \[7\] do not exist"):
        parse_episodes("1,7", 3)
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.edit_cli", "delete", str(a), "--episodes", "0-2",
                          "-o", str(tmp_path / "none")], env=ros_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "without episodes" in run.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    with pytest.raises(EditError, match="exists and is not empty"):
        merge_datasets([a, a], tmp_path / "taken")
