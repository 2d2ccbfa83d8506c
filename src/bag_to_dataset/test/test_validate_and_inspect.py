"""The validator finds each kind of broken dataset; inspect reports topics, rates and gaps."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.synthetic import write_bag, write_session
from robot_common.testing import ros_env


@pytest.fixture(scope="module")
def valid_dataset(tmp_path_factory, so101_names, mapping_factory):
    root = tmp_path_factory.mktemp("val")
    write_session(root / "s", 2, so101_names, robot="so101", task="push", cameras={"front": (64, 48)}, duration=1.0)
    mapping = mapping_factory(root / "m.yaml", drop=("observation.images.wrist",))
    assert convert([root / "s"], mapping, root / "ds", progress=False).ok
    assert validate_dataset(root / "ds") == []
    return root / "ds"


def _edit_parquet(path, fn):
    df = pd.read_parquet(path)
    fn(df)
    df.to_parquet(path)


def _break_tasks(ds):
    pd.DataFrame({"task": ["push"], "task_index": [0]}).to_parquet(ds / "meta" / "tasks.parquet", index=False)


def _break_timestamp(ds):
    path = ds / "data" / "chunk-000" / "file-000.parquet"
    t = pq.read_table(path)
    ts = t.column("timestamp").to_numpy().copy()
    ts[5] += np.float32(1e-3)
    pq.write_table(t.set_column(t.schema.get_field_index("timestamp"), "timestamp", pa.array(ts)), path)


def _break_from_timestamp(ds):
    def fn(df):
        df.loc[1, "videos/observation.images.front/from_timestamp"] += 0.5 / 30
        df.loc[1, "videos/observation.images.front/to_timestamp"] += 0.5 / 30
    _edit_parquet(ds / "meta" / "episodes" / "chunk-000" / "file-000.parquet", fn)


def _drop_a_video_frame(ds):
    path = ds / "videos" / "observation.images.front" / "chunk-000" / "file-000.mp4"
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for img in frames[:-1]:
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))


def _drop_quantile(ds):
    stats = json.loads((ds / "meta" / "stats.json").read_text())
    del stats["action"]["q99"]
    (ds / "meta" / "stats.json").write_text(json.dumps(stats))


def _break_index(ds):
    _edit_parquet(ds / "data" / "chunk-000" / "file-000.parquet", lambda df: df.__setitem__("index", df["index"] + 1))


@pytest.mark.parametrize("breaker, message", [
    (_break_tasks, "indexed by the task string"),
    (_break_timestamp, "timestamps differ from frame_index / fps"),
    (_break_from_timestamp, "from_timestamp"),
    (_drop_a_video_frame, "decoded frames, the episodes need"),
    (_drop_quantile, "action lacks ['q99']"),
    (_break_index, "index must be 0..total_frames-1"),
])
def test_validator_finds_the_problem(valid_dataset, tmp_path, breaker, message):
    ds = tmp_path / "broken"
    shutil.copytree(valid_dataset, ds)
    breaker(ds)
    problems = validate_dataset(ds)
    assert any(message in p for p in problems), problems


def test_validator_checks_decoded_frame_times(valid_dataset, tmp_path):
    """Shifting one episode's window inside the shared mp4 puts its frames off the loader's 1e-4 s tolerance."""
    ds = tmp_path / "shifted"
    shutil.copytree(valid_dataset, ds)
    _break_from_timestamp(ds)
    problems = validate_dataset(ds)
    assert any("frames off the fps clock" in p for p in problems), problems
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.validate_cli", str(ds)], env=ros_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "INVALID" in run.stdout


def test_inspect_reports_counts_rates_and_gaps(tmp_path, so101_names):
    truth = write_bag(tmp_path / "bag", so101_names, storage="sqlite3", duration=2.0, cameras={"front": (64, 48)},
                      camera_gap=(0.8, 1.3))
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.inspect_cli", str(tmp_path / "bag"), "--json"],
                         env=ros_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (report,) = json.loads(run.stdout)
    topics = report["topics"]
    assert set(topics) == set(truth.streams)
    for topic, stream in truth.streams.items():
        assert topics[topic]["count"] == stream.header_ns.size
    assert topics["/joint_states"]["rate_hz"] == pytest.approx(100, rel=0.05)
    assert topics["/joint_states"]["gaps"] == 0
    cam = topics["/cameras/front/image_raw"]
    assert cam["gaps"] == 1 and cam["max_gap_s"] == pytest.approx(0.5, abs=0.05)
    assert report["duration_s"] == pytest.approx(2.0, abs=0.05)
    text = subprocess.run([sys.executable, "-m", "bag_to_dataset.inspect_cli", str(tmp_path / "bag")],
                          env=ros_env(), capture_output=True, text=True, timeout=120).stdout
    assert "/cameras/front/image_raw" in text and "sensor_msgs/msg/Image" in text


def test_gap_report_reaches_the_dataset(tmp_path, so101_names, mapping_factory):
    """A camera dropout is held over (policy hold) and reported per episode with counts."""
    write_bag(tmp_path / "bag", so101_names, duration=2.0, cameras={"front": (64, 48)}, camera_gap=(0.8, 1.3))
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([tmp_path / "bag"], mapping, tmp_path / "ds", task="t", progress=False)
    rep = result.episodes[0]["report"]["/cameras/front/image_raw"]
    assert rep["gaps"] == 1 and rep["stale_frames"] >= 10 and rep["dropped_frames"] == 0
    assert validate_dataset(tmp_path / "ds") == []
