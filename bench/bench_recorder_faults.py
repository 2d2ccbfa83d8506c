"""Fault injection on the data path, with counts: the recorder SIGKILLed at random moments (inside
episodes and right after `save` replied), restarted on the same session each time; and bits
flipped inside the chunks of its bags.

Prints: finished (saved) episodes lost, cut episodes repaired, how much of each cut episode was
lost before the kill (kill time - last recovered message), and flipped bags caught by the
converter's CRC check.

    python bench/bench_recorder_faults.py [--kills 20] [--flips 30] [--seed 0]

`make bench` runs it with the workspace installed; from a checkout without a build, put the
packages on the path first: PYTHONPATH=$(ls -d src/*/ | tr '\n' :) python bench/...
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
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--flips", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import numpy as np
    import yaml
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from recorder.layout import read_yaml
    from recorder.recorder_node import STATUS_QOS
    from recorder.repair import bag_readable
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_faults_"))
    setup = work / "setup.yaml"
    setup.write_text(yaml.safe_dump({"topics": [
        {"name": "joint_states", "type": "sensor_msgs/msg/JointState", "qos": "reliable", "depth": 2000},
        {"name": "cameras/cam0/image_raw", "type": "sensor_msgs/msg/Image", "qos": "reliable", "depth": 50}]}))
    session = work / "session"
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    pub = NodeProcess(python_module_cmd("recorder.load_publisher", "--joint-hz", "500", "--cameras", "1",
                                        "--width", "320", "--height", "240", "--fps", "30", "--duration", "3600",
                                        "--depth", "1000", "--wait-subscribers", "0"), work / "load.log")
    saved: dict[int, dict] = {}
    cut: dict[int, float] = {}      # episode -> kill time (ns, wall clock = the recorder's clock)
    restarts_failed = 0
    try:
        with ProbeNode("bench_faults_probe") as probe:
            statuses = probe.collect(String, "/recorder/status", qos=STATUS_QOS)

            def call(action: str, timeout: float = 30.0):
                return probe.call(Trigger, f"/recorder/{action}", timeout=timeout)

            for k in range(args.kills):
                statuses.clear()
                node = NodeProcess(python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={setup}",
                                                     "-p", f"session_dir:={session}", "-p", "min_free_disk_gb:=0.5"),
                                   work / f"recorder_{k}.log")
                try:
                    wait_for(lambda n=node: bool(statuses) or not n.alive, 60, what="recorder status")
                except TimeoutError:
                    pass
                if not node.alive or not statuses:
                    restarts_failed += 1
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
            node.stop()
    finally:
        pub.stop()

    lost_finished = 0
    for index in saved:
        ep = session / f"episode_{index:06d}"
        meta = read_yaml(ep / "episode.yaml")
        if meta.get("status") != "complete" or not bag_readable(ep):
            lost_finished += 1
    repaired, gaps = 0, []
    from rosbags.rosbag2 import Reader

    for index, killed_ns in cut.items():
        ep = session / f"episode_{index:06d}"
        if bag_readable(ep):
            repaired += 1
            with Reader(ep) as reader:
                last = reader.end_time if reader.message_count else read_yaml(ep / "episode.yaml")["start_time_ns"]
            gaps.append(max(0.0, (killed_ns - last) / 1e9))

    from bag_to_dataset.bagio import BagError, BagReader, discover_episodes

    nprng = np.random.default_rng(args.seed)
    caught = trials = 0
    sources = [session / f"episode_{i:06d}" for i in saved] or [session / f"episode_{i:06d}" for i in cut]
    from bag_to_dataset.integrity import chunk_data_ranges

    for t in range(args.flips):
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
        trials += 1
        try:
            with BagReader(discover_episodes([copy])[0]) as bag:
                bag.verify()
        except BagError:
            caught += 1
    shutil.rmtree(work, ignore_errors=True)

    print(f"\nrecorder SIGKILLs: {args.kills} ({restarts_failed} restarts failed)")
    print(f"  finished episodes lost: {lost_finished} of {len(saved)} (killed 0-100 ms after save replied)")
    print(f"  cut episodes readable after the restarts' repair: {repaired} of {len(cut)}")
    if gaps:
        print(f"  lost before the kill: {min(gaps):.2f}-{max(gaps):.2f} s (median {sorted(gaps)[len(gaps) // 2]:.2f} s; "
              f"flush period 0.5 s)")
    print(f"bags with 16 flipped bits inside chunk data: {caught} of {trials} caught by the CRC check")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if lost_finished == 0 and restarts_failed == 0 and caught == trials else 1


if __name__ == "__main__":
    sys.exit(main())
