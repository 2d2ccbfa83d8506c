"""Camera node throughput over real DDS: N camera_node processes (default 3) replaying a really encoded
640x480 H.264 video each at 30 fps (decoding stands in for a UVC camera's MJPEG decode), one subscriber
process (this one) on all image_raw topics with the drivers' sensor-data QoS. Prints per camera:
  - frames/s received vs. published (the node's own measurement on /diagnostics); frames missing
    from the received stamp sequence (lost on the way or published late), and what the node itself
    reports as dropped / late on /diagnostics
  - publish latency: receive wall time - header.stamp (the capture stamp), p50 / p99 / max (ms)
  - camera_node CPU use (% of one core)
then the tactile estimator's per-frame cost (no ROS) at 320x240 and 640x480.
Goal on a quiet machine: every camera at 30 fps with 0 drops, p99 latency < 15 ms.

    python bench/bench_sensors.py [--cameras 3] [--seconds 20] [--compressed] [--reliable] [--no-profile]

Every process runs in the workspace's DDS environment (robot_common.dds: config/dds/fastdds_localhost.xml,
16 MiB shared-memory segments, sockets on loopback); --no-profile runs rmw_fastrtps's own LOCALHOST
transports instead (512 KiB segments: large images go as UDP fragments), for comparison.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in sorted((ROOT / "src").iterdir()):
    if (pkg / "package.xml").exists():
        sys.path.insert(0, str(pkg))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

from robot_common.conversions import stamp_to_ns  # noqa: E402
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for  # noqa: E402
from sensors.synthetic_video import write_video  # noqa: E402

W, H, FPS = 640, 480, 30
NAMES = ["front", "wrist", "side", "top", "left", "right"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def moving_frames(count: int, seed: int):
    """A textured image panning: realistic content for the codec, cheap to make."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
    for k in range(count):
        y, x = (2 * k) % H, (3 * k) % W
        yield np.ascontiguousarray(base[y: y + H, x: x + W])


def bench_cameras(n: int, seconds: float, compressed: bool, reliable: bool, workdir: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image

    print(f"encoding {n} test videos ({W}x{H}, H.264) ...", flush=True)
    videos = [write_video(workdir / f"cam{i}.mp4", moving_frames(90, i), fps=FPS, crf=23) for i in range(n)]
    names = NAMES[:n]
    with ProbeNode("bench_sensors_probe") as probe:
        lock = threading.Lock()
        got = {name: [] for name in names}  # (receive wall ns, stamp ns)
        measuring = threading.Event()

        def on_image(name):
            def cb(msg):
                now = time.time_ns()
                if measuring.is_set():
                    with lock:
                        got[name].append((now, stamp_to_ns(msg.header.stamp)))
            return cb

        for name in names:
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE) if reliable else qos_profile_sensor_data
            probe.node.create_subscription(Image, f"/cameras/{name}/image_raw", on_image(name), qos)
        diag = probe.collect(DiagnosticArray, "/diagnostics", 50)
        nodes = []
        for name, video in zip(names, videos):
            cmd = python_module_cmd("sensors.camera_node", "--ros-args", "-p", f"camera_name:={name}",
                                    "-p", f"source:={video}", "-p", "loop:=true", "-p", f"fps:={FPS}.0",
                                    "-p", f"publish_compressed:={'true' if compressed else 'false'}",
                                    "-p", f"qos_reliable:={'true' if reliable else 'false'}")
            nodes.append(NodeProcess(cmd, workdir / f"{name}.log"))
        try:
            wait_for(lambda: all(any(f"camera {nm}" in s.name and s.level[0] == 0 for _, m in list(diag)
                                     for s in m.status) for nm in names), timeout=60, what="all cameras streaming")
            time.sleep(2.0)  # warm-up
            cpu0 = [cpu_seconds(p.proc.pid) for p in nodes]
            self0 = time.process_time()
            measuring.set()
            t0 = time.monotonic()
            time.sleep(seconds)
            measuring.clear()
            elapsed = time.monotonic() - t0
            cpu1 = [cpu_seconds(p.proc.pid) for p in nodes]
            self_cpu = time.process_time() - self0
            last = {nm: _diag_values(diag, nm) for nm in names}
        finally:
            for p in nodes:
                p.stop()
    print(f"\n{n} x camera_node {W}x{H}@{FPS} rgb8{' + JPEG' if compressed else ''}, "
          f"{'reliable' if reliable else 'best effort'}, {elapsed:.1f} s, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'camera':8} {'recv fps':>9} {'pub fps':>8} {'miss':>5} {'dropped':>8} {'late':>5} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU %':>6}")
    all_lat = []
    for i, nm in enumerate(names):
        rows = got[nm]
        lat = np.array([(r - s) / 1e6 for r, s in rows]) if rows else np.array([np.nan])
        all_lat.append(lat)
        stamps = np.array(sorted(s for _, s in rows), dtype=np.int64)
        gaps = np.diff(stamps) * FPS / 1e9 if len(stamps) > 1 else np.zeros(0)
        missing = int(np.sum(np.maximum(np.round(gaps) - 1, 0)))  # holes in the received stamp sequence
        print(f"{nm:8} {len(rows) / elapsed:9.1f} {float(last[nm].get('fps_measured', 'nan')):8.1f} {missing:5d} "
              f"{last[nm].get('frames_dropped', '?'):>8} {last[nm].get('frames_late', '?'):>5} "
              f"{np.percentile(lat, 50):7.2f} {np.percentile(lat, 99):7.2f} {lat.max():7.2f} "
              f"{100 * (cpu1[i] - cpu0[i]) / elapsed:6.1f}")
    lat = np.concatenate(all_lat)
    print(f"{'all':8} {sum(len(v) for v in got.values()) / elapsed:9.1f} {'':8} {'':5} {'':8} {'':5} "
          f"{np.nanpercentile(lat, 50):7.2f} {np.nanpercentile(lat, 99):7.2f} {np.nanmax(lat):7.2f} "
          f"{100 * sum(b - a for a, b in zip(cpu0, cpu1)) / elapsed:6.1f}")
    print(f"subscriber (this process) CPU: {100 * self_cpu / elapsed:.1f} %")


def _diag_values(diag, name: str) -> dict:
    for _, m in reversed(list(diag)):
        for s in m.status:
            if f"camera {name}" in s.name:
                return {kv.key: kv.value for kv in s.values}
    return {}


def bench_tactile() -> None:
    from sensors.gel_synth import Indentation, indented_markers, marker_grid, render_gel
    from sensors.tactile_processing import TactileProcessor

    print("\ntactile estimator per frame (no ROS, one thread)")
    for w, h in [(320, 240), (640, 480)]:
        grid = marker_grid(w, h, spacing=24 * w / 320, margin=14 * w / 320)
        proc = TactileProcessor()
        proc.set_reference(render_gel(w, h, grid, marker_radius=3 * w / 320))
        press = Indentation(w / 2, h / 2, h / 5, 40)
        frame = render_gel(w, h, indented_markers(grid, (1.0, 0.5)), marker_radius=3 * w / 320, indentations=[press])
        times = []
        for _ in range(30):
            t = time.perf_counter()
            proc.process(frame)
            times.append((time.perf_counter() - t) * 1e3)
        print(f"  {w}x{h}: p50 {np.percentile(times, 50):.1f} ms, max {max(times):.1f} ms "
              f"(~{1000 / np.percentile(times, 50):.0f} frames/s on one core)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--compressed", action="store_true", help="also publish image_raw/compressed (JPEG)")
    ap.add_argument("--reliable", action="store_true", help="publish and subscribe reliable (qos_reliable)")
    ap.add_argument("--no-profile", action="store_true",
                    help="without the workspace's Fast DDS profile (ROBOT_WS_DDS=off): rmw_fastrtps's LOCALHOST "
                         "transports, 512 KiB shared-memory segments")
    args = ap.parse_args()
    from robot_common import dds

    if args.no_profile:  # before rclpy starts in this process; node processes inherit it
        os.environ[dds.SWITCH_VAR] = "off"
        for name in dds.PROFILE_VARS:
            os.environ.pop(name, None)
    dds.apply(os.environ)
    print(f"Fast DDS profile: {os.environ.get(dds.PROFILE_VAR, '(none: rmw_fastrtps defaults)')}, "
          f"{dds.RANGE_VAR}={os.environ.get(dds.RANGE_VAR)}")
    with tempfile.TemporaryDirectory(prefix="bench_sensors_") as tmp:
        bench_cameras(min(args.cameras, len(NAMES)), args.seconds, args.compressed, args.reliable, Path(tmp))
    bench_tactile()
    return 0


if __name__ == "__main__":
    sys.exit(main())
