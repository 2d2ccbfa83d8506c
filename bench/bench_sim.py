"""Sim speed: real-time factor with one 320x240 camera at 30 Hz (goal >= 1.0 on a 2-core CPU),
the camera frame rate achieved, joint_states timing over DDS, and the plain-Python costs.

    python bench/bench_sim.py [--robot so101] [--robots fr3 so101] [--seconds 20]

Figures depend on machine load: run it on an otherwise idle machine for numbers to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# run through `make bench` (install/setup.bash puts the packages on the path)
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))


def plain_python(robot: str) -> None:
    from sim.env import SimEnv

    env = SimEnv(robot, cameras=["front"])
    n = int(10.0 / env.dt)
    t = time.perf_counter()
    env.step(n)
    physics = time.perf_counter() - t
    env.render("front", 320, 240)
    t = time.perf_counter()
    for _ in range(30):
        env.step(int(round(1 / 30 / env.dt)))
        env.render("front", 320, 240)
    per_frame = (time.perf_counter() - t) / 30
    print(f"[plain] {robot}: physics {n / physics:,.0f} steps/s (RTF {10.0 / physics:.1f} without rendering), "
          f"320x240 render + 1/30 s physics {per_frame * 1000:.1f} ms -> RTF {1 / 30 / per_frame:.2f} at 30 Hz")
    env.close()


def node_cmd(robot: str, *params: str) -> list[str]:
    args = [sys.executable, "-m", "sim.sim_node", "--ros-args", "-p", f"robot:={robot}", "-p", "cameras:=[front]",
            "-p", "image_width:=320", "-p", "image_height:=240", "-p", "camera_rate:=30.0"]
    for p in params:
        args += ["-p", p]
    return args


def run_node(cmd: list[str], timeout: float) -> tuple[dict, float]:
    from robot_common.testing import ros_env

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, env=ros_env(), capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((x for x in out.stdout.splitlines() if x.startswith("SIM_STATS ")), None)
    if line is None:
        raise RuntimeError(f"sim_node printed no stats:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(line[len("SIM_STATS "):]), cpu


def fast_mode(robot: str, seconds: float) -> None:
    stats, cpu = run_node(node_cmd(robot, "real_time:=false", f"max_sim_time:={seconds}"), timeout=600)
    print(f"[as fast as possible] {robot}: {stats['sim_time']:.1f} s sim in {stats['wall_time']:.1f} s wall -> "
          f"RTF {stats['real_time_factor']:.2f} (goal >= 1.0) with one 320x240 camera at 30 Hz (sim time); "
          f"camera {stats['camera_fps_wall']:.1f} frames/s wall; CPU {cpu / stats['wall_time'] * 100:.0f}% "
          f"of one core (incl. startup)")


def real_time_mode(robot: str, seconds: float) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    from robot_common.testing import NodeProcess, ProbeNode, wait_for

    with tempfile.TemporaryDirectory() as tmp, ProbeNode("bench_sim_probe") as probe:
        js = probe.collect(JointState, "/joint_states")
        imgs = probe.collect(Image, "/cameras/front/image_raw", qos_profile_sensor_data)
        proc = NodeProcess(node_cmd(robot, "real_time:=true", f"max_sim_time:={seconds + 5}"), Path(tmp) / "sim.log")
        try:
            wait_for(lambda: len(imgs) > 5, 60, what="first camera frames")
            time.sleep(1.0)
            n_js, n_img, t0 = len(js), len(imgs), time.monotonic()
            time.sleep(seconds)
            dt = time.monotonic() - t0
            rx = np.array([t for t, _ in js[n_js:]]) * 1e-9
            gaps = np.diff(rx) * 1000
            stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in js[n_js:]])
            lat = (rx - rx[0]) - (stamps - stamps[0])
            wait_for(lambda: not proc.alive, 60, what="sim_node exit")
            stats = json.loads(next(x for x in proc.log().splitlines() if x.startswith("SIM_STATS "))[10:])
        finally:
            proc.stop()
    print(f"[real time] {robot}: joint_states {len(rx) / dt:.1f} Hz received (gap p50 {np.percentile(gaps, 50):.1f} ms, "
          f"p99 {np.percentile(gaps, 99):.1f} ms, max {gaps.max():.1f} ms; stamp drift {lat[-1] * 1000:+.0f} ms); "
          f"camera {(len(imgs) - n_img) / dt:.1f} frames/s received; sim RTF {stats['real_time_factor']:.3f}, "
          f"frames dropped to keep real time: {stats['dropped_frames']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="so101", help="arm of the real-time figure")
    ap.add_argument("--robots", nargs="+", default=None,
                    help="arms of the plain-Python and as-fast-as-possible figures (default: every arm in config/robots)")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    from robot_common.spec import list_robots

    robots = args.robots or list_robots()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (figures degrade under load)")
    for robot in robots:
        plain_python(robot)
    for robot in robots:
        fast_mode(robot, args.seconds)
    real_time_mode(args.robot, min(args.seconds, 15.0))


if __name__ == "__main__":
    main()
