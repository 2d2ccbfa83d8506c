"""Teleop latency and loop rate over real DDS.

An emulated SO-101 leader (Feetech bus on a pty, its own process, moving as a sine) is read by
`teleop_node` at --rate Hz; this process subscribes to /leader/joint_states (stamped with the time
the read started) and /arm_controller/joint_trajectory, and plays a perfect follower by echoing the
leader on /joint_states so the gate stays engaged. Prints:
  - leader read -> JointTrajectory received latency, p50 / p99 / max (ms)
    (trajectories are matched to leader readings by their joint values)
  - achieved loop rate vs. the target, period jitter, teleop_node CPU use
Goal on a quiet machine: p99 < 3 ms and the loop rate within 1 % of the target.

    python bench/bench_teleop.py [--rate 500] [--seconds 20]
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
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

from robot_common import dds  # noqa: E402
from robot_common.conversions import make_joint_state  # noqa: E402
from robot_common.spec import load_robot_spec  # noqa: E402
from robot_common.testing import NodeProcess, python_module_cmd, ros_env, wait_for  # noqa: E402
from teleop.calibration import Calibration, save_calibration  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--rt", type=int, default=0, help="teleop_node realtime_priority (SCHED_FIFO; needs rights)")
    args = ap.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    dds.apply(os.environ)   # this process's participant in the workspace's DDS environment, as its nodes'

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    tmp = Path(tempfile.mkdtemp(prefix="bench_teleop_"))
    cal = Calibration(offsets=[math.pi] * 5, signs=[1.0] * 5, lower=spec.lower, upper=spec.upper,
                      gripper_open=math.pi + 0.5, gripper_closed=math.pi - 0.5, style="so101")
    cal_file = save_calibration(tmp / "cal.yaml", cal)

    emu = subprocess.Popen(python_module_cmd("teleop.servo_emulator", "--protocol", "feetech", "--ids",
                                             "1,2,3,4,5,6", "--amplitude", "1.0", "--freq", "0.5",
                                             "--wave", "triangle", "--rt", str(args.rt)),  # 2 rad/s: reads differ
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ros_env())
    port = emu.stdout.readline().split()[1]

    rclpy.init()
    node = rclpy.create_node("bench_teleop")
    measuring = threading.Event()
    latest = {"q": None}

    raw_leader: list[tuple[int, bytes]] = []
    raw_traj: list[tuple[int, bytes]] = []

    # raw (serialized) callbacks keep this process light; messages are decoded after the run
    def on_leader(data: bytes) -> None:
        raw_leader.append((time.time_ns(), data))
        if len(raw_leader) % 10 == 0:  # the echoing follower keeps up (every 20 ms)
            latest["q"] = list(deserialize_message(data, JointState).position)

    def on_traj(data: bytes) -> None:
        if measuring.is_set():
            raw_traj.append((time.time_ns(), data))

    deep = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE)  # never drop a sample
    node.create_subscription(JointState, "/leader/joint_states", on_leader, deep, raw=True)
    node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", on_traj, deep, raw=True)
    follower_pub = node.create_publisher(JointState, "/joint_states", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    running = True

    def follower() -> None:  # a perfect follower: echo the leader at 100 Hz
        while running:
            if latest["q"] is not None:
                follower_pub.publish(make_joint_state(names, latest["q"]))
            time.sleep(0.01)

    def spin_loop() -> None:
        if args.rt > 0:  # the receiving side (DDS threads included) gets the node's scheduling
            try:
                for tid in os.listdir("/proc/self/task"):
                    os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(args.rt))
            except (PermissionError, OSError):
                pass
        while running:
            executor.spin_once(timeout_sec=0.05)

    spin = threading.Thread(target=spin_loop, daemon=True)
    spin.start()
    threading.Thread(target=follower, daemon=True).start()
    teleop = NodeProcess(python_module_cmd(
        "teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "leader.type:=so101",
        "-p", f"leader.port:={port}", "-p", "leader.ids:=[1,2,3,4,5]", "-p", "leader.gripper_id:=6",
        "-p", f"calibration_file:={cal_file}", "-p", f"rate_hz:={args.rate}",
        "-p", f"realtime_priority:={args.rt}"), tmp / "teleop.log")
    try:
        wait_for(lambda: len(raw_leader) > 50, 60, what="leader states from teleop_node")
        time.sleep(args.warmup)
        cpu0, t0 = cpu_seconds(teleop.proc.pid), time.monotonic()
        n_warm = len(raw_leader)
        measuring.set()
        try:
            from tqdm import tqdm

            for _ in tqdm(range(int(args.seconds)), desc="measuring", unit="s", file=sys.stderr):
                time.sleep(1.0)
        except ImportError:
            time.sleep(args.seconds)
        measuring.clear()
        cpu = (cpu_seconds(teleop.proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        running = False
        teleop.stop()
        emu.stdin.close()
        emu.wait(timeout=5)
        spin.join(timeout=2)
        node.destroy_node()
        rclpy.try_shutdown()

    leader: dict[tuple, list[int]] = {}  # joint values -> stamps of the reads that gave them
    leader_stamps = []
    for k, (_, data) in enumerate(raw_leader):
        msg = deserialize_message(data, JointState)
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        leader.setdefault(tuple(round(x, 9) for x in msg.position[:5]), []).append(stamp)
        if k >= n_warm:
            leader_stamps.append(stamp)
    # each trajectory belongs to the latest read with the same joint values that started before it
    latencies = []
    for received, data in raw_traj:
        key = tuple(round(x, 9) for x in deserialize_message(data, JointTrajectory).points[0].positions)
        earlier = [s for s in leader.get(key, []) if received - 200_000_000 <= s <= received]
        if earlier:
            latencies.append((received - max(earlier)) * 1e-6)
    if len(latencies) < 10 or len(leader_stamps) < 10:
        print("bench_teleop: too few samples; teleop_node log:\n" + (tmp / "teleop.log").read_text()[-2000:])
        return 1
    lat = np.array(latencies)
    stamps = np.array(leader_stamps, dtype=np.int64)
    periods = np.diff(stamps) * 1e-6
    achieved = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) * 1e-9)
    print(f"teleop bench: SO-101 leader on an emulated Feetech bus, target {args.rate:.0f} Hz, "
          f"{args.seconds:.0f} s, realtime_priority {args.rt}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"  leader read -> JointTrajectory received: p50 {np.percentile(lat, 50):.3f} ms, "
          f"p99 {np.percentile(lat, 99):.3f} ms, max {lat.max():.3f} ms  (n={lat.size})")
    print(f"  loop rate (good reads published): {achieved:.1f} Hz ({100 * (achieved / args.rate - 1):+.2f} % of target); "
          f"period p1/p50/p99 {np.percentile(periods, 1):.3f}/{np.percentile(periods, 50):.3f}/"
          f"{np.percentile(periods, 99):.3f} ms; trajectories matched {lat.size}/{len(raw_traj)}")
    summary = [line for line in (tmp / "teleop.log").read_text().splitlines() if "teleop_node: loop" in line]
    if summary:
        print("  " + summary[-1].replace("teleop_node: ", "node's own count (whole run): "))
    print(f"  teleop_node CPU: {100 * cpu:.0f} % of one core")
    print(f"  goals: p99 < 3 ms -> {'met' if np.percentile(lat, 99) < 3 else 'NOT met'}; "
          f"rate within 1 % -> {'met' if abs(achieved / args.rate - 1) < 0.01 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
