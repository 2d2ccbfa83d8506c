"""Does the live view (recorder live_view, display:=true) slow the 500 Hz teleop loop?

An emulated SO-101 leader (Feetech bus on a pty) is read by `teleop_node` at --rate Hz; this
process echoes the leader as a perfect follower on /joint_states and records the stamp of every
/leader/joint_states message; a load publisher streams two 640x480 rgb8 cameras at 30 Hz. The
loop is measured for --seconds without a viewer, then for --seconds with `live_view` subscribed
to the joints, commands and cameras and serving the web viewer (no browser attached, as headless),
then (--with-save) while it also writes the stream to an .rrd. Prints per phase: achieved loop
rate, period p50 / p99 / max, periods over 3 ms, and the CPU of teleop_node and live_view.

    python bench/bench_live_view.py [--rate 500] [--seconds 15] [--rounds 3] [--with-save]
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

SETUP = """description: bench_live_view topics
topics:
  - {name: joint_states, type: sensor_msgs/msg/JointState}
  - {name: leader/joint_states, type: sensor_msgs/msg/JointState}
  - {name: arm_controller/joint_trajectory, type: trajectory_msgs/msg/JointTrajectory}
  - {name: gripper_controller/commands, type: std_msgs/msg/Float64MultiArray}
  - {name: cameras/cam0/image_raw, type: sensor_msgs/msg/Image}
  - {name: cameras/cam1/image_raw, type: sensor_msgs/msg/Image}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loop_figures(stamps: list[int], rate: float) -> str:
    s = np.asarray(stamps, dtype=np.int64)
    periods = np.diff(s) * 1e-6
    achieved = (len(s) - 1) / ((s[-1] - s[0]) * 1e-9)
    return (f"{achieved:6.1f} Hz ({100 * (achieved / rate - 1):+.2f} %), period p50 {np.percentile(periods, 50):.3f} "
            f"p99 {np.percentile(periods, 99):.3f} max {periods.max():.2f} ms, std {periods.std():.3f} ms, "
            f"> 3 ms: {int((periods > 3).sum())}/{periods.size}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--with-save", action="store_true", help="a third phase: live_view also writes an .rrd")
    ap.add_argument("--cameras", type=int, default=2, help="640x480 rgb8 cameras at 30 Hz (0: joints only)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the phases, alternating (a shared machine's load drifts between phases)")
    args = ap.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    dds.apply(os.environ)

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import JointState

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    tmp = Path(tempfile.mkdtemp(prefix="bench_live_view_"))
    (tmp / "setup.yaml").write_text(SETUP)
    cal = Calibration(offsets=[math.pi] * 5, signs=[1.0] * 5, lower=spec.lower, upper=spec.upper,
                      gripper_open=math.pi + 0.5, gripper_closed=math.pi - 0.5, style="so101")
    cal_file = save_calibration(tmp / "cal.yaml", cal)
    emu = subprocess.Popen(python_module_cmd("teleop.servo_emulator", "--protocol", "feetech", "--ids",
                                             "1,2,3,4,5,6", "--amplitude", "1.0", "--freq", "0.5", "--wave", "triangle"),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ros_env())
    port = emu.stdout.readline().split()[1]

    rclpy.init()
    node = rclpy.create_node("bench_live_view")
    stamps: list[int] = []
    latest = {"q": None}

    def on_leader(data: bytes) -> None:
        msg = deserialize_message(data, JointState)
        stamps.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
        latest["q"] = list(msg.position)

    node.create_subscription(JointState, "/leader/joint_states", on_leader,
                             QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE), raw=True)
    follower_pub = node.create_publisher(JointState, "/joint_states", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    running = True

    def follower() -> None:
        while running:
            if latest["q"] is not None:
                follower_pub.publish(make_joint_state(names, latest["q"]))
            time.sleep(0.01)

    def spin_loop() -> None:
        while running:
            executor.spin_once(timeout_sec=0.05)

    spin = threading.Thread(target=spin_loop, daemon=True)
    spin.start()
    threading.Thread(target=follower, daemon=True).start()
    total = args.rounds * (args.seconds + args.warmup + 5) * (3 if args.with_save else 2) + 30
    cams = NodeProcess(python_module_cmd("recorder.load_publisher", "--joint-hz", "0", "--cameras", str(args.cameras),
                                         "--camera-prefix", "/cameras/cam", "--width", "640", "--height", "480",
                                         "--fps", "30", "--duration", str(total), "--wait-subscribers", "0",
                                         "--depth", "5", "--best-effort-images"), tmp / "cameras.log")
    teleop = NodeProcess(python_module_cmd(
        "teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "leader.type:=so101",
        "-p", f"leader.port:={port}", "-p", "leader.ids:=[1,2,3,4,5]", "-p", "leader.gripper_id:=6",
        "-p", f"calibration_file:={cal_file}", "-p", f"rate_hz:={args.rate}"), tmp / "teleop.log")
    viewer = None
    results = []
    try:
        wait_for(lambda: len(stamps) > 50, 60, what="leader states from teleop_node")

        def phase(label: str, viewer_proc) -> None:
            time.sleep(args.warmup)
            n0, cpu_t0 = len(stamps), cpu_seconds(teleop.proc.pid)
            cpu_v0 = cpu_seconds(viewer_proc.proc.pid) if viewer_proc else 0.0
            t0 = time.monotonic()
            time.sleep(args.seconds)
            dt = time.monotonic() - t0
            cpu_t = (cpu_seconds(teleop.proc.pid) - cpu_t0) / dt
            cpu_v = (cpu_seconds(viewer_proc.proc.pid) - cpu_v0) / dt if viewer_proc else 0.0
            results.append(f"  {label:<30} {loop_figures(stamps[n0:], args.rate)}; CPU teleop_node {100 * cpu_t:.0f} %"
                           + (f", live_view {100 * cpu_v:.0f} %" if viewer_proc else ""))

        base = ["--ros-args", "-p", f"setup:={tmp / 'setup.yaml'}", "-p", "grpc_port:=19876", "-p", "web_port:=19090"]
        for r in range(args.rounds):
            phase(f"[{r + 1}] without display", None)
            viewer = NodeProcess(python_module_cmd("recorder.live_view", *base, "-p", "viewer:=web"),
                                 tmp / "live_view.log")
            phase(f"[{r + 1}] display (web viewer)", viewer)
            viewer.stop()
            if args.with_save:
                viewer = NodeProcess(python_module_cmd("recorder.live_view", *base, "-p",
                                                       f"save:={tmp / 'live.rrd'}"), tmp / "live_view_save.log")
                phase(f"[{r + 1}] display (saving an .rrd)", viewer)
                viewer.stop()
    finally:
        running = False
        if viewer is not None:
            viewer.stop()
        teleop.stop()
        cams.stop()
        emu.stdin.close()
        emu.wait(timeout=5)
        spin.join(timeout=2)
        node.destroy_node()
        rclpy.try_shutdown()
    print(f"live view bench: SO-101 leader on an emulated Feetech bus, target {args.rate:.0f} Hz, {args.seconds:.0f} s "
          f"per phase, {args.cameras} cameras 640x480 rgb8 @ 30 Hz, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print("\n".join(results))
    logged = [line for line in (tmp / "live_view.log").read_text().splitlines() if "live view logged" in line]
    if logged:
        print("  " + logged[-1].split("]: ")[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
