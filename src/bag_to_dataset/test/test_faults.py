"""Faults that used to convert silently or stop a whole run: flipped bytes in a bag (chunk CRCs),
joint values beyond the robot's limits, an unreadable episode.yaml, an episode the mapping does not
fit, a mapping that does not parse, a broken sqlite3 file, a truncated MCAP bag."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from bag_to_dataset import convert, validate_dataset
from bag_to_dataset.bagio import BagError, BagReader, discover_episodes
from bag_to_dataset.integrity import chunk_data_ranges
from bag_to_dataset.synthetic import NS, typestore, write_bag, write_session
from recorder.episode_recorder import EpisodeRecorder, RecorderOptions
from recorder.repair import repair_episode
from robot_common.testing import ros_env

JS = "sensor_msgs/msg/JointState"
TOPICS = {"/joint_states": JS, "/leader/joint_states": JS, "/cameras/front/image_raw": "sensor_msgs/msg/Image"}


def record_session(root: Path, names: list[str], n: int, edit=None) -> Path:
    """Episodes written by the recorder's own bag writer (real chunk CRCs), replaying synthetic bags;
    `edit(episode, topic, k, msg)` may change the k-th message of a topic before it is recorded."""
    rec = EpisodeRecorder(root / "session", RecorderOptions(robot_type="so101", robot="so101", task="pick",
                                                            setup="sim", fsync=False))
    for topic, msgtype in TOPICS.items():
        rec.add_topic(topic, msgtype)
    ts = typestore()
    for e in range(n):
        src = write_bag(root / f"src{e}", names, duration=1.5, seed=e, start_ns=(1_700_000_000 + 10 * e) * NS,
                        cameras={"front": (160, 120)})    # 2.6 MB of images: several 1 MiB chunks
        assert rec.start()[0]
        counters: dict[str, int] = {}
        with Reader(src.path) as reader:
            for conn, t, raw in reader.messages():
                k = counters.get(conn.topic, 0)
                counters[conn.topic] = k + 1
                if edit is not None and conn.msgtype == JS:
                    msg = ts.deserialize_cdr(raw, conn.msgtype)
                    msg.position = msg.position.copy()
                    if edit(e, conn.topic, k, msg):
                        raw = ts.serialize_cdr(msg, conn.msgtype)
                rec.on_message(conn.topic, bytes(raw), t)
        assert rec.save()[0]
    assert rec.close()
    return root / "session"


def flip(path: Path, rng: np.random.Generator, count: int = 16) -> None:
    ranges = chunk_data_ranges(path)
    data = bytearray(path.read_bytes())
    for _ in range(count):
        a, b = ranges[int(rng.integers(len(ranges)))]
        i = int(rng.integers(a, b))
        data[i] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def crc_session(tmp_path_factory, so101_names):
    return record_session(tmp_path_factory.mktemp("crc"), so101_names, 3)


def test_recorder_bags_carry_chunk_crcs_and_every_flip_is_caught(crc_session, tmp_path):
    ep = discover_episodes([crc_session])[0]
    with BagReader(ep) as bag:
        check = bag.verify()
    assert check["chunks"] >= 2 and check["crc_checked"] == check["chunks"]
    rng = np.random.default_rng(7)
    for trial in range(30):                    # 16 flipped bits inside chunk data, 30 times: each one caught
        copy = tmp_path / f"t{trial}" / ep.name
        shutil.copytree(ep.path, copy)
        flip(next(copy.glob("*.mcap")), rng)
        with pytest.raises(BagError, match="fails its CRC check"):
            with BagReader(discover_episodes([copy])[0]) as bag:
                bag.verify()


def test_a_flipped_episode_fails_alone_and_the_others_convert(crc_session, tmp_path, mapping_factory):
    session = tmp_path / "session"
    shutil.copytree(crc_session, session)
    mcap = next((session / "episode_000001").glob("*.mcap"))
    flip(mcap, np.random.default_rng(1))
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([session], mapping, tmp_path / "ds", progress=False)
    assert result.converted == 2 and len(result.failures) == 1
    bag, error = result.failures[0]
    assert bag.endswith("episode_000001") and str(mcap) in error and "fails its CRC check" in error
    assert validate_dataset(tmp_path / "ds") == []
    assert all(e["integrity"]["crc_checked"] >= 2 for e in result.episodes)


def test_bags_without_crcs_convert_and_say_so(tmp_path, so101_names, mapping_factory):
    write_bag(tmp_path / "bag", so101_names, duration=1.0, cameras={"front": (64, 48)})   # rosbags: CRC 0
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([tmp_path / "bag"], mapping, tmp_path / "ds", task="t", progress=False)
    assert result.ok and result.episodes[0]["integrity"]["crc_missing"] >= 1


def _spike(episode: int, topic: str, k: int, msg) -> bool:
    """Episode 1's follower reports 50 rad on its elbow for 20 messages (0.2 s)."""
    if episode == 1 and topic == "/joint_states" and 50 <= k < 70:
        msg.position[list(msg.name).index("elbow_flex")] = 50.0
        return True
    return False


def test_joint_values_beyond_the_limits_fail_the_episode_or_are_kept_flagged(tmp_path, so101_names, mapping_factory):
    session = record_session(tmp_path, so101_names, 2, edit=_spike)
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([session], mapping, tmp_path / "ds", progress=False)
    assert result.converted == 1 and len(result.failures) == 1
    bag, error = result.failures[0]
    assert bag.endswith("episode_000001")
    assert "observation.state elbow_flex reaches 50, outside its limits" in error and "(so101)" in error
    assert "out_of_range: keep" in error
    keep = mapping_factory(tmp_path / "keep.yaml", drop=("observation.images.wrist",), out_of_range="keep")
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.convert_cli", str(session), "-m", str(keep),
                          "-o", str(tmp_path / "kept"), "--no-progress"], env=ros_env(), capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert "episode_000001: WARNING observation.state elbow_flex reaches 50" in run.stdout
    meta = yaml.safe_load((tmp_path / "kept" / "meta" / "bag_to_dataset.json").read_text())
    flagged = [e["out_of_range"] for e in meta["episodes"]]
    assert flagged[0] == {} and flagged[1]["observation.state"]["elbow_flex"]["worst"] == 50.0
    assert validate_dataset(tmp_path / "kept") == []


def test_bad_episode_metadata_fails_only_that_episode_with_a_summary(tmp_path, so101_names, mapping_factory):
    write_session(tmp_path / "s", 4, so101_names, robot="so101", task="t", cameras={"front": (64, 48)}, duration=1.0)
    (tmp_path / "s" / "episode_000001" / "episode.yaml").write_text("task: [unclosed\nstatus: complete\n")
    meta2 = tmp_path / "s" / "episode_000002" / "episode.yaml"
    meta2.write_text(meta2.read_text().replace("robot_type: so101", "robot: no_such_arm\nrobot_type: so101"))
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.convert_cli", str(tmp_path / "s"), "-m", str(mapping),
                          "-o", str(tmp_path / "ds"), "--no-progress"], env=ros_env(), capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    failed = [x for x in run.stderr.splitlines() if x.startswith("FAILED")]
    assert len(failed) == 2
    assert "episode_000001" in failed[0] and "episode.yaml: not valid YAML: line 2" in failed[0]
    assert "episode_000002" in failed[1] and "unknown robot 'no_such_arm'" in failed[1]
    assert "summary: 2 of 4 episodes" in run.stderr and "2 failed" in run.stderr
    assert validate_dataset(tmp_path / "ds") == []


def test_a_mapping_that_does_not_parse_is_one_line_naming_the_file(tmp_path, so101_names):
    write_bag(tmp_path / "bag", so101_names, duration=0.5)
    bad = tmp_path / "broken_mapping.yaml"
    bad.write_text("fps: 30\nfeatures: {observation.state: [unclosed\n")
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.convert_cli", str(tmp_path / "bag"), "-m", str(bad),
                          "-o", str(tmp_path / "ds"), "--task", "t"], env=ros_env(), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "not valid YAML: line 3" in lines[0], run.stderr


def test_a_broken_sqlite_file_is_named(tmp_path, so101_names, mapping_factory):
    write_session(tmp_path / "s", 2, so101_names, robot="so101", task="t", cameras={"front": (64, 48)},
                  duration=1.0, storage="sqlite3")
    db = next((tmp_path / "s" / "episode_000000").glob("*.db3"))
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2] + b"\xff" * 4096 + data[len(data) // 2 + 4096:])
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([tmp_path / "s"], mapping, tmp_path / "ds", progress=False)
    assert result.converted == 1 and len(result.failures) == 1
    assert str(db) in result.failures[0][1]


def test_a_truncated_mcap_error_says_whether_repair_can_salvage_it(tmp_path, crc_session, mapping_factory):
    session = tmp_path / "session"
    shutil.copytree(crc_session, session)
    cut = next((session / "episode_000000").glob("*.mcap"))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 6 // 10])
    garbage = next((session / "episode_000001").glob("*.mcap"))
    garbage.write_bytes(b"this is not an MCAP file at all" * 100)
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    result = convert([session], mapping, tmp_path / "ds", progress=False)
    errors = dict(result.failures)
    assert result.converted == 1 and len(errors) == 2
    msg = errors[str(session / "episode_000000")]
    assert "File end magic is invalid" in msg
    assert f"`ros2 run recorder repair {session / 'episode_000000'}` can salvage it: " in msg
    recovered = int(msg.split("can salvage it: ")[1].split(" messages recovered")[0])
    assert "cannot salvage" in errors[str(session / "episode_000001")]
    report = repair_episode(session / "episode_000000")      # what the hint promised
    assert report.messages == recovered > 0
    assert convert([session / "episode_000000"], mapping, tmp_path / "ds2", include_incomplete=True,
                   progress=False).ok


def test_unreadable_dataset_files_are_named_by_validate(tmp_path, so101_names, mapping_factory):
    write_session(tmp_path / "s", 1, so101_names, robot="so101", task="t", cameras={"front": (64, 48)}, duration=1.0)
    mapping = mapping_factory(tmp_path / "m.yaml", drop=("observation.images.wrist",))
    assert convert([tmp_path / "s"], mapping, tmp_path / "ds", progress=False).ok
    data = next((tmp_path / "ds" / "data").rglob("*.parquet"))
    data.write_bytes(data.read_bytes()[:100])
    problems = validate_dataset(tmp_path / "ds")
    assert len(problems) == 1 and problems[0].startswith(f"{data}: cannot be read: "), problems
    info = tmp_path / "ds" / "meta" / "info.json"
    info.write_text("{not json")
    run = subprocess.run([sys.executable, "-m", "bag_to_dataset.validate_cli", str(tmp_path / "ds")], env=ros_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{info}: cannot be read: JSONDecodeError" in run.stdout
