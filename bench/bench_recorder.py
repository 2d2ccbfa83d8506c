"""Recorder throughput and episode turnaround over real DDS. Prints figures only.

One recorder_node process records a load_publisher process (500 Hz joint states + N cameras of a
given resolution and rate, reliable, the publisher waits for every ack) with realistic subscriber
queues (joint states 1000, images 30). For each load level, one episode; per level it prints:
  - messages sent vs. recorded per stream kind (lost = sent - recorded), MB/s written
  - recorder CPU (% of one core, user + system, over the episode) and the writer backlog peak
  - save -> ready-for-next: wall time from the /recorder/save call until /recorder/start of the next
    episode has succeeded, and save -> on disk (bag closed, metadata.yaml + episode.yaml written, fsync on)
It reports the highest level recorded with zero loss. The machine is shared: the load average is
printed before and after, and a loss under a high load average is not a verdict on the recorder.

    python bench/bench_recorder.py [--seconds 6] [--levels 1x640x480@30,2x640x480@30,...]

(`make bench` runs it with the workspace installed; from a checkout without a build:
PYTHONPATH=$(ls -d src/*/ | tr '\n' :) python bench/bench_recorder.py)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

DEFAULT_LEVELS = "1x640x480@30,2x640x480@30,3x640x480@30,2x1280x720@30,4x1280x720@30"
MAX_CAMERAS = 4


def parse_level(text: str) -> tuple[int, int, int, float]:
    n, rest = text.split("x", 1)
    res, fps = rest.split("@")
    w, h = res.split("x")
    return int(n), int(w), int(h), float(fps)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="publishing time per level")
    ap.add_argument("--levels", default=DEFAULT_LEVELS, help="NxWxH@FPS,... (cameras x resolution @ fps)")
    ap.add_argument("--joint-hz", type=float, default=500.0)
    args = ap.parse_args()
    levels = [parse_level(x) for x in args.levels.split(",")]

    import yaml
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from tqdm import tqdm

    from recorder.recorder_node import STATUS_QOS
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for

    work = Path(tempfile.mkdtemp(prefix="bench_recorder_"))
    setup = work / "setup.yaml"
    topics = [{"name": "/joint_states", "type": "sensor_msgs/msg/JointState", "qos": "reliable", "depth": 1000}]
    topics += [{"name": f"/cameras/cam{i}/image_raw", "type": "sensor_msgs/msg/Image", "qos": "reliable",
                "depth": 30, "optional": True} for i in range(MAX_CAMERAS)]
    setup.write_text(yaml.safe_dump({"topics": topics}))
    session = work / "session"
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    node = NodeProcess(python_module_cmd("recorder.recorder_node", "--ros-args", "-p", f"setup:={setup}",
                                         "-p", f"session_dir:={session}", "-p", "fsync:=true",
                                         "-p", "min_free_disk_gb:=1.0"), work / "recorder.log")
    rows, best = [], None
    try:
        with ProbeNode("bench_recorder_probe") as probe:
            statuses = probe.collect(String, "/recorder/status", qos=STATUS_QOS)

            def status() -> dict:
                return json.loads(statuses[-1][1].data) if statuses else {}

            def call(action: str) -> tuple[bool, str]:
                res = probe.call(Trigger, f"/recorder/{action}", timeout=60)
                return res.success, res.message

            wait_for(lambda: bool(statuses), 60, what="recorder status")
            for n, w, h, fps in tqdm(levels, desc="load levels", unit="level"):
                ok, msg = call("start")
                if not ok:
                    print(f"cannot start: {msg}")
                    break
                cpu0, t0 = cpu_seconds(node.proc.pid), time.monotonic()
                pub = NodeProcess(python_module_cmd(
                    "recorder.load_publisher", "--joint-hz", str(args.joint_hz), "--cameras", str(n),
                    "--width", str(w), "--height", str(h), "--fps", str(fps), "--duration", str(args.seconds),
                    "--depth", "0", "--wait-subscribers", "30"), work / f"load_{n}_{w}_{fps}.log")
                backlog = 0.0
                while pub.alive:
                    backlog = max(backlog, status().get("writer", {}).get("backlog_mb", 0.0))
                    time.sleep(0.1)
                log = pub.log()
                pub.stop()
                sent = json.loads([x for x in log.splitlines() if x.startswith("COUNTS ")][-1][7:])
                try:   # the recorder may still be taking queued messages
                    wait_for(lambda s=sent: all(status()["topics"][t]["count"] >= c for t, c in s.items()), 10,
                             what="counts")
                except TimeoutError:
                    pass
                cpu = (cpu_seconds(node.proc.pid) - cpu0) / (time.monotonic() - t0)
                t_save = time.monotonic()
                ok, msg = call("save")
                ok2, _ = call("start")
                ready = time.monotonic() - t_save
                call("discard")
                idx = int(msg.split("saved episode ")[1].split(" ")[0]) if ok else -1
                wait_for(lambda i=idx: (status().get("last_saved") or {}).get("episode_index") == i, 120,
                         what="episode on disk")
                saved = status()["last_saved"]
                rec = saved["counts"]
                lost = {t: c - rec.get(t, 0) for t, c in sent.items()}
                ep = session / f"episode_{idx:06d}"
                mb = sum(p.stat().st_size for p in ep.iterdir()) / 1e6
                late = [x for x in log.splitlines() if x.startswith("published for")]
                rows.append((f"{n}x{w}x{h}@{fps:g}", sent, lost, mb / args.seconds, cpu * 100, backlog,
                             ready, saved["save_to_disk_s"], late[-1] if late else ""))
                if sum(lost.values()) == 0 and ok2:
                    best = rows[-1][0]
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\njoint states at {args.joint_hz:g} Hz + cameras, {args.seconds:g} s per level, reliable, "
          "subscriber depths joint 1000 / image 30")
    print(f"{'level':>16} {'joint sent/lost':>16} {'images sent/lost':>17} {'MB/s':>6} {'CPU %':>6} "
          f"{'backlog MB':>10} {'save->ready ms':>14} {'save->disk ms':>13}")
    for level, sent, lost, mbs, cpu, backlog, ready, disk, _late in rows:
        js = f"{sent.get('/joint_states', 0)}/{lost.get('/joint_states', 0)}"
        img_sent = sum(v for k, v in sent.items() if "image" in k)
        img_lost = sum(v for k, v in lost.items() if "image" in k)
        print(f"{level:>16} {js:>16} {f'{img_sent}/{img_lost}':>17} {mbs:6.1f} {cpu:6.0f} {backlog:10.1f} "
              f"{ready * 1e3:14.0f} {disk * 1e3:13.0f}")
    for level, *_rest, late in rows:
        print(f"  publisher at {level}: {late}")
    print(f"\nhighest load recorded with zero loss: {best or 'none'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
