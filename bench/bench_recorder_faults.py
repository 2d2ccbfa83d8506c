"""Fault injection on the data path, with counts: the recorder SIGKILLed at random moments (inside
episodes and right after `save` replied), restarted on the same session each time; and bits
flipped inside the chunks of its bags.

Prints: finished (saved) episodes lost, cut episodes repaired, how much of each cut episode was
lost before the kill (kill time - last recovered message), and flipped bags caught by the
converter's CRC check.

    python bench/bench_recorder_faults.py [--kills 20] [--flips 30] [--seed 0]

`make bench` runs it with the workspace installed; from a checkout without a build, put the
packages on the path first: PYTHONPATH=$(ls -d src/*/ | tr '\n' :) python bench/...
bench/bench_faults.py runs kill_loop and flip_loop among its other fault loops.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class KillResult:
    kills: int
    restarts_failed: int = 0
    saved: list[int] = field(default_factory=list)          # episodes saved right before a kill
    cut: dict[int, int] = field(default_factory=dict)        # episode -> kill time (ns, wall clock)
    lost_finished: int = 0
    repaired: int = 0
    gaps: list[float] = field(default_factory=list)          # s lost before each repaired cut episode
    session: Path | None = None
    pids: list[int] = field(default_factory=list)            # the recorder processes (for socket checks)

    def sources(self) -> list[Path]:
        """Episodes to flip bits in: the saved ones, then the cut ones."""
        return [self.session / f"episode_{i:06d}" for i in (*self.saved, *self.cut)]


@dataclass
class FlipResult:
    trials: int = 0
    caught: int = 0


def kill_loop(kills: int, seed: int, work: Path, on_running=None) -> KillResult:
    """`kills` recorder_node processes on one session, each SIGKILLed: odd ones 0-100 ms after `save`
    replied, even ones 0-2 s into an episode; then one clean restart (which repairs), and the check of
    every episode. `on_running(pids)` is called while the last recorder and the load publisher run."""
    import yaml
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from recorder.layout import read_yaml
    from recorder.recorder_node import STATUS_QOS
    from recorder.repair import bag_readable
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

    rng = random.Random(seed)
    setup = work / "setup.yaml"
    setup.write_text(yaml.safe_dump({"topics": [
        {"name": "joint_states", "type": "sensor_msgs/msg/JointState", "qos": "reliable", "depth": 2000},
        {"name": "cameras/cam0/image_raw", "type": "sensor_msgs/msg/Image", "qos": "reliable", "depth": 50}]}))
    res = KillResult(kills, session=work / "session")
    session = res.session
    pub = NodeProcess(python_module_cmd("recorder.load_publisher", "--joint-hz", "500", "--cameras", "1",
                                        "--width", "320", "--height", "240", "--fps", "30", "--duration", "3600",
                                        "--depth", "1000", "--wait-subscribers", "0"), work / "load.log")
    saved: dict[int, dict] = {}
    cut = res.cut
    try:
        with ProbeNode("bench_faults_probe") as probe:
            statuses = probe.collect(String, "/recorder/status", qos=STATUS_QOS)

            def call(action: str, timeout: float = 30.0):
                return probe.call(Trigger, f"/recorder/{action}", timeout=timeout)

            for k in range(kills):
                statuses.clear()
                node = NodeProcess(python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={setup}",
                                                     "-p", f"session_dir:={session}", "-p", "min_free_disk_gb:=0.5"),
                                   work / f"recorder_{k}.log")
                res.pids.append(node.proc.pid)
                try:
                    wait_for(lambda n=node: bool(statuses) or not n.alive, 60, what="recorder status")
                except TimeoutError:
                    pass
                if not node.alive or not statuses:
                    res.restarts_failed += 1
                    node.kill()
                    continue
                deadline = time.monotonic() + 60       # a dead recorder's services linger in DDS: retry
                while time.monotonic() < deadline:
                    try:
                        call("save", timeout=2.0)
                        break
                    except TimeoutError:
                        continue
                index = json.loads(statuses[-1][1].data)["episode_index"]
                if not call("start").success:
                    node.kill()
                    continue
                if k % 2:                               # kill 0-100 ms after save replied
                    time.sleep(rng.uniform(0.3, 1.5))
                    if call("save").success:
                        saved[index] = {}
                    time.sleep(rng.uniform(0.0, 0.1))
                else:                                   # kill inside the episode, 0-2 s in
                    time.sleep(rng.uniform(0.0, 2.0))
                    cut[index] = time.time_ns()
                node.kill()
            node = NodeProcess(python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={setup}",
                                                 "-p", f"session_dir:={session}"), work / "recorder_last.log")
            wait_for(lambda: bool(statuses) or not node.alive, 60, what="final restart")
            if on_running is not None:
                on_running({"recorder_node": node.proc.pid, "load_publisher": pub.proc.pid})
            node.stop()
    finally:
        pub.stop()
    res.saved = list(saved)

    for index in saved:
        ep = session / f"episode_{index:06d}"
        meta = read_yaml(ep / "episode.yaml")
        if meta.get("status") != "complete" or not bag_readable(ep):
            res.lost_finished += 1
    from rosbags.rosbag2 import Reader

    for index, killed_ns in cut.items():
        ep = session / f"episode_{index:06d}"
        if bag_readable(ep):
            res.repaired += 1
            with Reader(ep) as reader:
                last = reader.end_time if reader.message_count else read_yaml(ep / "episode.yaml")["start_time_ns"]
            res.gaps.append(max(0.0, (killed_ns - last) / 1e9))
    return res


def flip_loop(sources: list[Path], flips: int, seed: int, work: Path) -> FlipResult:
    """Copies of the episodes with 16 bits flipped inside chunk data each, read through the converter's
    BagReader.verify() (the chunk CRC check): how many it catches."""
    import numpy as np

    from bag_to_dataset.bagio import BagError, BagReader, discover_episodes
    from bag_to_dataset.integrity import chunk_data_ranges

    nprng = np.random.default_rng(seed)
    res = FlipResult()
    sources = [s for s in sources if any(chunk_data_ranges(m) for m in s.glob("*.mcap"))]   # a bag cut before
    for t in range(flips if sources else 0):                                                # its first chunk: none
        src = sources[t % len(sources)]
        copy = work / "flips" / f"{t}" / src.name
        shutil.copytree(src, copy)
        mcap = next(copy.glob("*.mcap"))
        ranges = chunk_data_ranges(mcap)
        if not ranges:                         # a bag cut before its first chunk
            continue
        data = bytearray(mcap.read_bytes())
        for _ in range(16):                    # 16 bits flipped inside chunk data
            a, b = ranges[int(nprng.integers(len(ranges)))]
            data[int(nprng.integers(a, b))] ^= 1 << int(nprng.integers(8))
        mcap.write_bytes(bytes(data))
        res.trials += 1
        try:
            with BagReader(discover_episodes([copy])[0]) as bag:
                bag.verify()
        except BagError:
            res.caught += 1
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--flips", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    work = Path(tempfile.mkdtemp(prefix="bench_faults_"))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    kills = kill_loop(args.kills, args.seed, work)
    flips = flip_loop(kills.sources(), args.flips, args.seed, work)
    shutil.rmtree(work, ignore_errors=True)

    gaps = kills.gaps
    print(f"\nrecorder SIGKILLs: {args.kills} ({kills.restarts_failed} restarts failed)")
    print(f"  finished episodes lost: {kills.lost_finished} of {len(kills.saved)} (killed 0-100 ms after save replied)")
    print(f"  cut episodes readable after the restarts' repair: {kills.repaired} of {len(kills.cut)}")
    if gaps:
        print(f"  lost before the kill: {min(gaps):.2f}-{max(gaps):.2f} s (median {sorted(gaps)[len(gaps) // 2]:.2f} s; "
              f"flush period 0.5 s)")
    print(f"bags with 16 flipped bits inside chunk data: {flips.caught} of {flips.trials} caught by the CRC check")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if kills.lost_finished == 0 and kills.restarts_failed == 0 and flips.caught == flips.trials else 1


if __name__ == "__main__":
    sys.exit(main())
