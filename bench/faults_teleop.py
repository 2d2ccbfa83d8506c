"""bench_faults.py's teleop loop: an SO-101 leader on the emulated Feetech bus, behind a symlink, drives
the MuJoCo follower through teleop_node; the leader is pulled in turn three ways (see bench_faults.py)."""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TELEOP_KINDS = ("cable pulled, replugged", "new adapter on the same path", "replugged 1 rad away")


@dataclass
class PullCounts:
    trials: int = 0
    faulted: int = 0
    commands_after_fault: int = 0
    drift: list[float] = field(default_factory=list)         # follower motion while unplugged (rad)
    detect_ms: list[float] = field(default_factory=list)     # pull -> fault on ~/status
    reengaged: int = 0
    held_misaligned: int = 0                                 # 1 rad away: no engage, no command, still
    failures: list[str] = field(default_factory=list)


@dataclass
class TeleopResult:
    kinds: dict[str, PullCounts] = field(default_factory=dict)
    max_speed: float = 0.0          # follower joint speed, max over 50 ms windows (rad/s)
    speed_limit: float = 0.0


def teleop_loop(pulls: int, seed: int, work: Path, on_running) -> TeleopResult:
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from robot_common.conversions import joint_state_to_arrays, stamp_to_ns
    from robot_common.spec import load_robot_spec
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
    from teleop.calibration import Calibration, save_calibration
    from teleop.leaders import follower_names
    from teleop.servo_emulator import BusEmulator

    rng = random.Random(seed)
    spec = load_robot_spec("so101")
    names = follower_names(spec)
    cal = Calibration(offsets=[math.pi] * 5, signs=[1.0] * 5, lower=spec.lower, upper=spec.upper,
                      gripper_open=math.pi + 0.5, gripper_closed=math.pi - 0.5, style="so101")
    cal_file = save_calibration(work / "teleop_cal.yaml", cal)
    link = work / "leader_port"                    # what the node opens, like /dev/serial/by-id/...

    def raw(q: np.ndarray) -> dict[int, float]:
        out = {i + 1: math.pi + float(q[i]) for i in range(5)}
        out[6] = math.pi                           # gripper half open
        return out

    def plug(emulator: BusEmulator) -> None:
        tmp = link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        os.symlink(emulator.port, tmp)
        os.replace(tmp, link)

    res = TeleopResult(kinds={k: PullCounts() for k in TELEOP_KINDS}, speed_limit=float(np.min(spec.max_velocity)))
    emu = BusEmulator("feetech", [1, 2, 3, 4, 5, 6])
    plug(emu)
    with ProbeNode("bench_faults_teleop") as probe:
        follower = probe.collect(JointState, "/joint_states")
        status = probe.collect(String, "/teleop_node/status")
        trajs = probe.collect(JointTrajectory, "/arm_controller/joint_trajectory")
        sim = NodeProcess(python_module_cmd("sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=['']",
                                            "-p", "tactile:=false", "-p", "joint_state_rate:=100.0"),
                          work / "teleop_sim.log")
        teleop = None

        def pose() -> np.ndarray:
            return joint_state_to_arrays(follower[-1][1], names)[0][:5]

        def seen(prefix: str, since: int) -> bool:
            return any(m.data.startswith(prefix) for _, m in status[since:])

        def moved(since: int, ref: np.ndarray) -> float:
            """How far the follower got from `ref` in the joint states received since index `since`."""
            return max((float(np.abs(joint_state_to_arrays(m, names)[0][:5] - ref).max()) for _, m in follower[since:]),
                       default=0.0)

        try:
            wait_for(lambda: len(follower) > 5, 90, what="sim joint_states")
            emu.set_angles(raw(pose()))
            teleop = NodeProcess(python_module_cmd(
                "teleop.teleop_node", "--ros-args", "-p", "robot:=so101", "-p", "rate_hz:=200.0",
                "-p", "leader.type:=so101", "-p", f"leader.port:={link}", "-p", "leader.ids:=[1,2,3,4,5]",
                "-p", "leader.gripper_id:=6", "-p", f"calibration_file:={cal_file}",
                "-p", "leader.timeout_ms:=50.0"),    # the emulator shares this process's GIL with the probe
                work / "teleop_node.log")
            wait_for(lambda: seen("engaged", 0), 90, what="teleop engaged")
            on_running({"sim_node": sim.proc.pid, "teleop_node": teleop.proc.pid})
            for k in range(pulls):
                kind = TELEOP_KINDS[k % len(TELEOP_KINDS)]
                c = res.kinds[kind]
                c.trials += 1
                base, t_base = pose(), time.monotonic() - emu.t0
                amp = np.array([0.3, 0.2, -0.2, 0.2, 0.3]) * rng.uniform(0.5, 1.0)
                emu.script = lambda t, b=base, a=amp, t0=t_base: raw(b + a * math.sin(2 * math.pi * 0.5 * (t - t0)))
                time.sleep(rng.uniform(1.0, 2.0))               # engaged, the leader moving
                mark, t_pull = len(status), time.monotonic_ns()
                if kind == TELEOP_KINDS[1]:                     # the adapter goes: its device node too
                    emu.script = None
                    emu.stop()
                    link.unlink()
                else:
                    emu.unplug()
                try:
                    wait_for(lambda m=mark: seen("fault", m), 15, what="fault")
                except TimeoutError:
                    c.failures.append(f"pull {k} ({kind}): no fault reported")
                    continue
                c.faulted += 1
                c.detect_ms.append((next(t for t, m in status[mark:] if m.data.startswith("fault")) - t_pull) / 1e6)
                time.sleep(0.2)                                 # commands in flight arrive
                n_traj, n_fol, q_fault = len(trajs), len(follower), pose()
                time.sleep(1.0)
                c.commands_after_fault += len(trajs) - n_traj
                c.drift.append(moved(n_fol, q_fault))
                here = pose()
                target = here.copy()
                if kind == TELEOP_KINDS[2]:
                    target[0] += -1.0 if here[0] > 0 else 1.0
                mark = len(status)
                if kind == TELEOP_KINDS[1]:
                    emu = BusEmulator("feetech", [1, 2, 3, 4, 5, 6])
                    emu.set_angles(raw(target))
                    plug(emu)
                else:
                    emu.script = None
                    emu.set_angles(raw(target))
                    emu.replug()
                if kind == TELEOP_KINDS[2]:
                    n_traj, n_fol = len(trajs), len(follower)
                    try:
                        wait_for(lambda m=mark: seen("aligning", m), 15, what="aligning after the replug")
                        time.sleep(1.0)
                        away = moved(n_fol, here)
                        if not seen("engaged", mark) and len(trajs) == n_traj and away < 0.02:
                            c.held_misaligned += 1
                        else:
                            c.failures.append(f"pull {k}: 1 rad away: engaged={seen('engaged', mark)}, "
                                              f"{len(trajs) - n_traj} commands, follower moved {away:.3f} rad")
                    except TimeoutError:
                        c.failures.append(f"pull {k}: no 'aligning' after a replug 1 rad away")
                    emu.set_angles(raw(pose()))                 # the operator brings the leader back
                try:
                    wait_for(lambda m=mark: seen("engaged", m), 30, what="engaged again")
                    c.reengaged += 1
                except TimeoutError:
                    c.failures.append(f"pull {k} ({kind}): not engaged again; last status "
                                      f"{[m.data for _, m in status[-2:]]}")
                    emu.set_angles(raw(pose()))
        finally:
            emu.stop()
            if teleop is not None:
                teleop.stop()
            sim.stop()
    # follower speed over 50 ms windows of its own stamps (the sim's clock)
    t = np.array([stamp_to_ns(m.header.stamp) * 1e-9 for _, m in follower])
    q = np.array([joint_state_to_arrays(m, names)[0][:5] for _, m in follower])
    if len(t) > 10:
        j = np.searchsorted(t, t + 0.05)
        ok = j < len(t)
        dt = t[j[ok]] - t[ok]
        good = dt > 0.03
        res.max_speed = float((np.abs(q[j[ok]][good] - q[ok][good]).max(axis=1) / dt[good]).max())
    return res
