"""fr3_driver against franky-sim (the libfranka protocol on loopback): control-loop rate and jitter,
and tracking error, in the simulator's clock.

franky-sim runs at --speed x real time (1.0: the FR3's own 1 kHz), fr3_driver with the loop at
SCHED_FIFO --priority (0: normal scheduling). A 3-point cubic trajectory (peak ~1 rad/s per joint) is
sent --repeats times. Prints:
  - loop: cycles per wall second, period p50 / p99 / max and its standard deviation (ms), compute
    time per cycle (read -> write, ms), lost command packets (the robot's view: 1 - success rate),
    the longest run lost in a row (the FR3 aborts at 20);
  - tracking: the command against the JTC reference (max, rad) and the simulated arm against it at
    the best lag (franky-sim's PD servo has no velocity feed-forward: it lags ~0.1 s), final error.

    python bench/bench_drivers.py [--speed 1.0] [--priority 20] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in sorted((ROOT / "src").iterdir()):
    if (pkg / "package.xml").exists():
        sys.path.insert(0, str(pkg))
sys.path.insert(0, str(ROOT))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

from scipy.interpolate import CubicHermiteSpline  # noqa: E402

from tests.drivers.fr3_stack import Fr3Stack, wait_quiet  # noqa: E402
from tests.drivers.test_fr3_driver import best_lag_error  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--priority", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--host", default="127.0.0.58")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_drivers_"))
    stack = Fr3Stack(tmp, args.host, "-p", f"realtime_priority:={args.priority}", speed=args.speed)
    cmd_errs, arm_errs, lags, finals = [], [], [], []
    try:
        q0 = wait_quiet(stack)
        times = np.array([0.6, 1.2, 2.0])
        off = np.array([[0.25, -0.2, 0.2, 0.3, -0.3, 0.25, 0.4], [0.45, -0.35, 0.3, 0.45, -0.5, 0.4, 0.7],
                        [0.5, -0.4, 0.35, 0.5, -0.6, 0.45, 0.8]])
        vel = np.array([[0.5, -0.4, 0.3, 0.4, -0.6, 0.45, 0.8], [0.2, -0.15, 0.1, 0.15, -0.25, 0.15, 0.3], np.zeros(7)])
        forward = (q0 + off, vel)
        back = (np.vstack([q0 + off[1], q0 + off[0], q0]), np.vstack([-vel[1], -vel[0], np.zeros(7)]))
        for k in range(args.repeats):
            start = wait_quiet(stack)
            pos, v = forward if k % 2 == 0 else back
            n, m = len(stack.js), len(stack.cmd)
            t0 = stack.now() + 0.3
            stack.send(times, pos, v, start=t0)
            stack.wait_arm_time(t0 + times[-1] + 0.8, timeout=120)
            t, q, _ = stack.samples(n)
            tc, qc = stack.commands(m)
            ref = CubicHermiteSpline(np.r_[0.0, times], np.vstack([start, pos]), np.vstack([np.zeros(7), v]))
            during = (tc >= t0) & (tc <= t0 + times[-1])
            cmd_errs.append(float(np.abs(qc[during] - ref(tc[during] - t0)).max()))
            err, lag = best_lag_error(t, q, ref, t0, 0.15)
            arm_errs.append(err)
            lags.append(lag)
            finals.append(float(np.abs(q[t >= t0 + times[-1] + 0.5] - pos[-1]).max()))
    finally:
        stack.close()
    line = next((x for x in (tmp / "fr3_driver.log").read_text().splitlines() if "_LOOP_STATS" in x), None)
    loadavg = os.getloadavg()
    print(f"fr3_driver against franky-sim at {args.speed:g}x real time, loop SCHED_FIFO {args.priority}, "
          f"load average {loadavg[0]:.1f} on {os.cpu_count()} cores")
    if line:
        s = json.loads(line.split("_LOOP_STATS", 1)[1])
        print(f"  loop: {s['cycles']} cycles in {s['wall_s']:.1f} s wall for {s['robot_s']:.1f} s of robot time; "
              f"{s['rate_hz']:.0f} cycles/s, period p50 {s['period_ms_p50']:.3f} ms, p99 {s['period_ms_p99']:.3f} ms, "
              f"max {s['period_ms_max']:.1f} ms, std {s['period_ms_std']:.3f} ms; compute p50 {s['compute_ms_p50']:.3f} ms, "
              f"p99 {s['compute_ms_p99']:.3f} ms")
        print(f"  lost command packets: {s['lost_packets']} ({100 * (1 - s['success_rate']):.2f} %), longest run "
              f"{s['lost_max_in_a_row']} in a row (the FR3 aborts at 20)")
    print(f"  tracking ({args.repeats} x 2 s cubic, peak ~1 rad/s): command vs reference max {max(cmd_errs):.5f} rad; "
          f"simulated arm vs reference max {max(arm_errs):.4f} rad at lag {np.median(lags) * 1e3:.0f} ms; "
          f"final error max {max(finals):.5f} rad")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
