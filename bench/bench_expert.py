"""The scripted expert as a software leader: its CPU and the smoothness of expert/joint_states.

    python bench/bench_expert.py [--episodes 3] [--robot so101]      (workspace sourced, or via pytest's path)

Starts sim_node (no cameras), teleop_node (topic leader) and `sim expert_node` (mode leader,
serving expert/run_episode), calls expert/run_episode N times (reset_on_run) and prints the
expert process's CPU over those episodes (utime + stime / wall, one core = 100 %) and the
expert/joint_states stream as received: message gaps p50/p99/max and the largest joint step
between consecutive messages.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--robot", default="so101")
    a = ap.parse_args()
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger

    logs = Path(tempfile.mkdtemp(prefix="bench_expert_"))
    procs = []
    try:
        with ProbeNode("bench_expert") as probe:
            leader = probe.collect(JointState, "/expert/joint_states")
            procs.append(NodeProcess(python_module_cmd("sim.sim_node", "--ros-args", "-p", f"robot:={a.robot}",
                                                       "-p", "cameras:=['']"), logs / "sim.log"))
            procs.append(NodeProcess(python_module_cmd("teleop.teleop_node", "--ros-args", "-p", f"robot:={a.robot}",
                                                       "-p", "leader.stale_after:=1.5"), logs / "teleop.log"))
            expert = NodeProcess(python_module_cmd("sim.expert_node", "--ros-args", "-p", f"robot:={a.robot}",
                                                   "-p", "mode:=leader", "-p", "reset_on_run:=true"),
                                 logs / "expert.log")
            procs.append(expert)
            wait_for(lambda: len(leader) > 50, 60, what="expert/joint_states")
            results, windows = [], []
            cpu0, wall0 = cpu_seconds(expert.proc.pid), time.monotonic()
            for _ in range(a.episodes):
                n0, t0 = len(leader), time.monotonic_ns()
                res = probe.call(Trigger, "/expert/run_episode", timeout=300.0)
                results.append(res.success)
                windows.append((n0, len(leader), t0))
            cpu, wall = cpu_seconds(expert.proc.pid) - cpu0, time.monotonic() - wall0
        gaps, steps, stalls = [], [], []
        for n0, n1, t0 in windows:
            t = (np.array([r for r, _ in leader[n0:n1]]) - t0) * 1e-9
            q = np.array([list(m.position) for _, m in leader[n0:n1]])
            gaps += list(np.diff(t) * 1e3)
            steps += list(np.max(np.abs(np.diff(q, axis=0)), axis=1))
            stalls += [f"{1e3 * g:.0f} ms at +{s:.2f} s" for s, g in zip(t[:-1], np.diff(t)) if g > 0.1]
        print(f"episodes: {sum(results)}/{len(results)} succeeded, {wall:.1f} s wall")
        print(f"expert CPU: {100 * cpu / wall:.1f} % of a core over the episodes")
        print(f"expert/joint_states: {len(gaps) + len(windows)} messages, gap p50 {np.percentile(gaps, 50):.1f} ms, "
              f"p99 {np.percentile(gaps, 99):.1f} ms, max {np.max(gaps):.1f} ms; "
              f"largest step {np.max(steps):.4f} rad")
        print(f"gaps over 100 ms (time into the episode call): {stalls or 'none'}")
        print(f"load average {os.getloadavg()[0]:.2f}; logs in {logs}")
    finally:
        for p in reversed(procs):
            p.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
