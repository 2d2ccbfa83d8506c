"""Broken inputs give clear errors and lose nothing; re-runs resume; a killed run never looks complete."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.bagio import BagError
from bag_to_dataset.pipeline import ConversionError
from bag_to_dataset.synthetic import write_bag, write_session
from robot_common.testing import ros_env, wait_for


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def one_camera_mapping(tmp_path, mapping_factory):
    return mapping_factory(tmp_path / "map.yaml", drop=("observation.images.wrist",))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_is_named_and_the_others_convert(tmp_path, so101_names, one_camera_mapping, storage):
    write_session(tmp_path / "s", 3, so101_names, robot="so101", task="t", cameras={"front": (64, 48)},
                  duration=1.0, storage=storage)
    broken = _storage_file(tmp_path / "s" / "episode_000001")
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) * 6 // 10])
    result = convert([tmp_path / "s"], one_camera_mapping, tmp_path / "ds", workers=2, progress=False)
    assert len(result.failures) == 1 and result.converted == 2
    bag, error = result.failures[0]
    assert str(broken) in error and "episode episode_000001" in error
    assert validate_dataset(tmp_path / "ds") == []
    eps = pd.read_parquet(tmp_path / "ds" / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    assert len(eps) == 2
    # the CLI reports it and exits non-zero, the dataset still holds the good episodes
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.convert_cli", str(tmp_path / "s"), "-m",
                          str(one_camera_mapping), "-o", str(tmp_path / "ds2"), "--no-progress"],
                         env=ros_env(), capture_output=True, text=True, timeout=240)
    assert run.returncode == 1 and "episode_000001" in run.stderr and "FAILED" in run.stderr
    assert (tmp_path / "ds2" / "meta" / "info.json").exists()


def test_corrupt_joint_state_message_is_an_error(tmp_path, so101_names, one_camera_mapping):
    write_bag(tmp_path / "bag", so101_names[:-1], duration=1.0, cameras={"front": (64, 48)})  # no gripper joint
    with pytest.raises(ConversionError, match=r"lacks joints \['gripper'\]"):
        convert([tmp_path / "bag"], one_camera_mapping, tmp_path / "ds", task="t", progress=False)
    assert not (tmp_path / "ds").exists()


def test_missing_topic_lists_what_the_bag_has(tmp_path, so101_names, mapping_factory):
    write_bag(tmp_path / "bag", so101_names, duration=1.0, cameras={"front": (64, 48)})
    mapping = mapping_factory(tmp_path / "map.yaml")   # wants the wrist camera too
    with pytest.raises(ConversionError) as info:
        convert([tmp_path / "bag"], mapping, tmp_path / "ds", task="t", progress=False)
    msg = str(info.value)
    assert "missing topic(s) ['/cameras/wrist/image_raw']" in msg
    for topic in ("/cameras/front/image_raw", "/joint_states", "/leader/joint_states"):
        assert topic in msg


def test_incomplete_and_discarded_episodes(tmp_path, so101_names, one_camera_mapping):
    write_session(tmp_path / "s", 3, so101_names, robot="so101", task="t", cameras={"front": (64, 48)},
                  duration=1.0, statuses=["complete", "incomplete", "discarded"])
    result = convert([tmp_path / "s"], one_camera_mapping, tmp_path / "ds", progress=False)
    assert result.converted == 1 and [Path(b).name for b, _ in result.skipped] == ["episode_000001", "episode_000002"]
    result = convert([tmp_path / "s"], one_camera_mapping, tmp_path / "ds2", include_incomplete=True, progress=False)
    assert result.converted == 2 and len(result.skipped) == 1


def test_header_stamp_zero_is_explained(tmp_path, so101_names, one_camera_mapping):
    write_bag(tmp_path / "bag", so101_names, duration=1.0, cameras={"front": (64, 48)},
              unstamped=("/leader/joint_states",))
    with pytest.raises(ConversionError, match="/leader/joint_states has header.stamp 0.*time: receive"):
        convert([tmp_path / "bag"], one_camera_mapping, tmp_path / "ds", task="t", progress=False)


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path, so101_names, one_camera_mapping):
    write_bag(tmp_path / "bag", so101_names, duration=1.0, cameras={"front": (64, 48)})
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "precious.txt").write_text("keep me")
    with pytest.raises(ConversionError, match="not a dataset written by bag_to_dataset"):
        convert([tmp_path / "bag"], one_camera_mapping, tmp_path / "ds", task="t", progress=False)
    assert (tmp_path / "ds" / "precious.txt").read_text() == "keep me"


def test_killed_run_resumes_to_the_same_dataset(tmp_path, so101_names, one_camera_mapping):
    n = 6
    write_session(tmp_path / "s", n, so101_names, robot="so101", task="t", cameras={"front": (160, 120)},
                  duration=3.0)
    out, cache = tmp_path / "ds", tmp_path / ".ds.cache"
    proc = subprocess.Popen([sys.executable, "-m", "bag_to_dataset.convert_cli", str(tmp_path / "s"), "-m",
                             str(one_camera_mapping), "-o", str(out), "-j", "1", "--no-progress"],
                            env=ros_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: cache.exists() and any(cache.glob("*/episode.json")), timeout=120,
                 what="the first finished episode")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "meta" / "info.json").exists()   # a killed run never leaves a complete-looking dataset
    finished = len(list(cache.glob("*/episode.json")))
    assert 1 <= finished < n

    resumed = convert([tmp_path / "s"], one_camera_mapping, out, workers=1, progress=False)  # the same command again
    assert resumed.reused == finished and resumed.converted == n - finished
    assert not cache.exists() and validate_dataset(out) == []
    clean = convert([tmp_path / "s"], one_camera_mapping, tmp_path / "clean", workers=1, progress=False)
    assert clean.converted == n
    assert _digest(out) == _digest(tmp_path / "clean")   # same inputs, same bytes

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = convert([tmp_path / "s"], one_camera_mapping, out, progress=False)
    assert again.up_to_date and again.converted == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    # a new episode in the session is noticed and the dataset rebuilt with it
    extra = tmp_path / "s" / "episode_000006"
    write_bag(extra, so101_names, duration=1.0, cameras={"front": (160, 120)}, seed=9)
    with open(extra / "episode.yaml", "w") as f:
        yaml.safe_dump({"status": "complete", "task": "t", "robot_type": "so101"}, f)
    grown = convert([tmp_path / "s"], one_camera_mapping, out, progress=False)
    assert not grown.up_to_date and grown.converted == n + 1   # the cache was cleared after the full success
    assert len(pd.read_parquet(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet")) == n + 1


def test_bag_error_is_raised_for_a_non_bag_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="holds no bag"):
        convert([tmp_path / "empty"], "sim", tmp_path / "ds", progress=False)


def test_camera_resolution_change_between_episodes_is_explained(tmp_path, so101_names, one_camera_mapping):
    write_bag(tmp_path / "a", so101_names, duration=1.0, cameras={"front": (64, 48)})
    write_bag(tmp_path / "b", so101_names, duration=1.0, cameras={"front": (96, 64)})
    with pytest.raises(ConversionError, match="96x64.*64x48.*separate datasets"):
        convert([tmp_path / "a", tmp_path / "b"], one_camera_mapping, tmp_path / "ds", task="t", progress=False)
    assert not (tmp_path / "ds").exists()


def test_the_same_bag_given_twice_converts_once(tmp_path, so101_names, one_camera_mapping):
    write_session(tmp_path / "s", 2, so101_names, robot="so101", task="t", cameras={"front": (64, 48)}, duration=1.0)
    result = convert([tmp_path / "s", tmp_path / "s" / "episode_000001"], one_camera_mapping, tmp_path / "ds",
                     progress=False)
    assert result.converted == 2 and validate_dataset(tmp_path / "ds") == []
