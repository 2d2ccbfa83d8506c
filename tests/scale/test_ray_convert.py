"""`bag_to_dataset convert --ray`: episodes as Ray tasks on a private local Ray (2 CPUs) give the
same dataset, byte for byte, as the local process pool; a failing episode is reported as locally
(its own line, a summary, exit 1) and the others are in the dataset."""
from __future__ import annotations

from pathlib import Path

from bag_to_dataset.convert_cli import main as convert_main
from bag_to_dataset.synthetic import NS, write_bag
from robot_common.paths import config_dir
from robot_common.spec import load_robot_spec


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ray_and_process_pool_write_the_same_dataset_and_report_a_failed_episode(tmp_path, capsys):
    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    bags = []
    for i in range(3):
        # episode 1 lacks the wrist camera the mapping needs: it fails inside its worker / Ray task
        cams = {"front": (64, 48)} if i == 1 else {"front": (64, 48), "wrist": (64, 48)}
        bags.append(str(write_bag(tmp_path / f"bag{i}", names, duration=1.0, seed=i, cameras=cams,
                                  start_ns=(1_700_000_000 + 10 * i) * NS).path))
    mapping = tmp_path / "sim.yaml"
    mapping.write_text((config_dir("dataset") / "sim.yaml").read_text() + "robot: so101\n")
    common = [*bags, "-m", str(mapping), "--codec", "h264", "-j", "2", "--task", "pick"]

    assert convert_main([*common, "-o", str(tmp_path / "local"), "--no-progress"]) == 1
    local_err = capsys.readouterr().err
    assert convert_main([*common, "-o", str(tmp_path / "ray"), "--ray", "--ray-cpus", "2"]) == 1
    out, err = capsys.readouterr()

    # the failed episode: its own line naming the bag and the missing topic, and the summary
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and bags[1] in failed[0] and "wrist" in failed[0], err
    assert "summary: 2 of 3 episodes" in err and "1 failed" in err
    assert [line for line in local_err.splitlines() if line.startswith("FAILED")] == failed
    assert "2 episodes" in out
    assert "episodes: 100%" in err and "3/3" in err     # the tqdm bar, through to the end

    local, ray = files_of(tmp_path / "local"), files_of(tmp_path / "ray")
    assert any(k.endswith(".mp4") for k in local) and any(k.endswith(".parquet") for k in local)
    assert sorted(local) == sorted(ray)
    differ = [k for k in local if local[k] != ray[k]]
    assert differ == [], differ


def test_an_address_where_no_cluster_answers_is_one_line_and_exit_2(tmp_path, capsys):
    import socket

    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = load_robot_spec("so101")
    bag = write_bag(tmp_path / "bag", spec.joint_names + [spec.gripper.joint], duration=0.5,
                    cameras={"front": (64, 48), "wrist": (64, 48)}).path
    mapping = tmp_path / "sim.yaml"
    mapping.write_text((config_dir("dataset") / "sim.yaml").read_text() + "robot: so101\n")
    rc = convert_main([str(bag), "-m", str(mapping), "--task", "pick", "-o", str(tmp_path / "ds"),
                       "--ray", f"127.0.0.1:{port}", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "nothing answers" in err[0], err
    assert not (tmp_path / "ds").exists()
