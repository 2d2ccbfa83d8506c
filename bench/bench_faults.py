"""Fault injection with counts, so that issue 14's figures are re-measured on every change.

Loops, each on real processes over DDS:
  - recorder SIGKILLs (half 0-100 ms after `save` replied, half 0-2 s into an episode), restarted on
    the same session each time, and bits flipped in its bags: bench_recorder_faults.kill_loop and
    flip_loop (16 bits inside chunk data per bag, read through the converter's CRC check);
  - teleop cables pulled and replugged: an SO-101 leader on an emulated Feetech bus (a pty behind a
    symlink, the way /dev/serial/by-id names an adapter) drives the MuJoCo follower through
    teleop_node; in turn the bus stops answering and comes back (cable), the adapter disappears and a
    new one appears on the same path (adapter), and the cable comes back with the leader 1 rad away
    from the follower (replug 1 rad away). Counted: faults detected, commands after the fault, how
    far the follower moved while unplugged, re-engagement only once aligned, the follower's top speed;
  - DDS sockets: every inet socket of every node process above (and this one, and of a sim + teleop +
    recorder started for this check) while it runs, against
    loopback; DDS packets: every UDP packet on the non-loopback interfaces meanwhile (root only), none
    of which may carry this domain's DDS; and, for comparison, sim, teleop and recorder nodes with
    ROBOT_WS_DDS=off (rmw_fastrtps's own LOCALHOST transports, the state before the workspace's profile).
Prints one table (the README's benchmark rows come from it); exits 1 when a loop did not hold.

    python bench/bench_faults.py [--kills 20] [--flips 30] [--pulls 6] [--seed 0] [--only recorder,teleop,dds]

`make bench` runs it with the workspace installed; from a checkout without a build, put the
packages on the path first: PYTHONPATH=$(ls -d src/*/ | tr '\\n' :) python bench/bench_faults.py
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TELEOP_KINDS = ("cable pulled, replugged", "new adapter on the same path", "replugged 1 rad away")


def _bench_module(name: str):
    """Another bench script of this folder as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ---- teleop ----------------------------------------------------------------------------------------

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


# ---- DDS -------------------------------------------------------------------------------------------

@dataclass
class SocketCounts:
    processes: int = 0
    sockets: int = 0
    beyond: list[str] = field(default_factory=list)


class PacketWatch:
    """Counts the UDP packets on every non-loopback interface (both directions, AF_PACKET: needs root)
    and those of this run's DDS: the ports of its ROS_DOMAIN_ID (RTPS: 7400 + 250 * domain + 0..249)
    or the discovery multicast group 239.255.0.1. Nothing when it cannot open the sockets."""

    def __init__(self, domain: int) -> None:
        import socket
        import threading

        from robot_common import dds

        self.lo, self.hi = 7400 + 250 * domain, 7400 + 250 * (domain + 1)
        self.udp = self.dds = 0
        self.samples: list[str] = []
        self.error = ""
        self._socks = []
        for name in dds.local_ipv4():
            if name == "lo":
                continue
            try:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))   # ETH_P_ALL
                s.bind((name, 0))
                s.setblocking(False)
                self._socks.append(s)
            except (PermissionError, OSError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
        self._running = bool(self._socks)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.probes_seen = 0
        if self._running:
            self._thread.start()
            self._probe([n for n in dds.local_ipv4() if n != "lo"])

    PROBE_PORT = 9       # discard: one broadcast datagram per interface shows the capture sees packets

    def _probe(self, names: list[str]) -> None:
        import socket

        for name in names:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                    s.sendto(b"bench_faults capture probe", ("255.255.255.255", self.PROBE_PORT))
                except OSError:
                    pass
        time.sleep(0.5)

    def _run(self) -> None:
        import select
        import struct

        while self._running:
            ready, _, _ = select.select(self._socks, [], [], 0.2)
            for s in ready:
                try:
                    frame = s.recv(65535)
                except BlockingIOError:
                    continue
                off, ethertype = 14, struct.unpack_from("!H", frame, 12)[0]
                if ethertype == 0x8100:                       # a VLAN tag
                    off, ethertype = 18, struct.unpack_from("!H", frame, 16)[0]
                if ethertype != 0x0800 or len(frame) < off + 28 or frame[off + 9] != 17:
                    continue
                ihl = (frame[off] & 0x0F) * 4
                src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
                sport, dport = struct.unpack_from("!HH", frame, off + ihl)
                if dport == self.PROBE_PORT and dst == bytes([255, 255, 255, 255]):
                    self.probes_seen += 1
                    continue
                self.udp += 1
                if self.lo <= sport < self.hi or self.lo <= dport < self.hi or dst == bytes([239, 255, 0, 1]):
                    self.dds += 1
                    if len(self.samples) < 5:
                        self.samples.append(f"{'.'.join(map(str, src))}:{sport} -> {'.'.join(map(str, dst))}:{dport}")

    def stop(self) -> None:
        self._running = False
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for s in self._socks:
            s.close()

    @property
    def measured(self) -> bool:
        return bool(self._socks)


def count_sockets(pids: dict[str, int]) -> SocketCounts:
    from robot_common import dds

    out = SocketCounts()
    for name, pid in pids.items():
        try:
            sockets = dds.process_sockets(pid)
        except FileNotFoundError:       # it exited meanwhile
            continue
        out.processes += 1
        out.sockets += len(sockets)
        out.beyond += [f"{name}: {s}" for s in sockets if not s.loopback]
    return out


def stack_sockets(work: Path, off: bool) -> SocketCounts:
    """sim, teleop (software leader) and recorder in the workspace's environment, or with
    ROBOT_WS_DDS=off and plain LOCALHOST (the sockets rmw_fastrtps opens by itself), counted once they
    have discovered each other."""
    from sensor_msgs.msg import JointState

    from robot_common import dds
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, ros_env, wait_for

    env = ros_env()
    if off:
        for name in dds.PROFILE_VARS:
            env.pop(name, None)
        env.update({dds.RANGE_VAR: "LOCALHOST", dds.SWITCH_VAR: "off"})
    tag = "off" if off else "ws"
    cmds = {"sim_node": python_module_cmd("sim.sim_node", "--ros-args", "-p", "robot:=so101", "-p", "cameras:=['']",
                                          "-p", "tactile:=false"),
            "teleop_node": python_module_cmd("teleop.teleop_node", "--ros-args", "-p", "robot:=so101"),
            "recorder_node": python_module_cmd("recorder.recorder_node", "--ros-args", "-p",
                                               f"session_dir:={work / f'dds_session_{tag}'}")}
    procs = {}
    try:
        with ProbeNode("bench_faults_dds") as probe:
            got = probe.collect(JointState, "/joint_states")
            for name, cmd in cmds.items():
                procs[name] = NodeProcess(cmd, work / f"dds_{tag}_{name}.log", env)
            wait_for(lambda: len(got) > 20, 90, what=f"joint states from the sim ({tag})")
            wait_for(lambda: probe.node.count_subscribers("/joint_states") >= 3, 60, what="teleop and recorder")
            time.sleep(2.0)
            pids = {name: p.proc.pid for name, p in procs.items()}
            return count_sockets(pids if off else {**pids, "bench_faults (probe)": os.getpid()})
    finally:
        for p in procs.values():
            p.stop()


# ---- report ----------------------------------------------------------------------------------------

def _range(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    lo, hi, med = min(values), max(values), sorted(values)[len(values) // 2]
    return f"{fmt.format(lo)}-{fmt.format(hi)} (median {fmt.format(med)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="recorder SIGKILLs")
    ap.add_argument("--flips", type=int, default=30, help="bags with 16 flipped bits")
    ap.add_argument("--pulls", type=int, default=6, help="teleop pulls, cycling over the three kinds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="recorder,teleop,dds", help="comma-separated loops to run")
    args = ap.parse_args()
    only = set(args.only.split(","))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from robot_common import dds

    dds.apply(os.environ)
    work = Path(tempfile.mkdtemp(prefix="bench_faults_"))
    load0 = os.getloadavg()[0]
    print(f"fault injection, seed {args.seed}, load average {load0:.1f} on {os.cpu_count()} cores; "
          f"{dds.PROFILE_VAR}={os.environ.get(dds.PROFILE_VAR, '')}", flush=True)
    rows: list[tuple[str, str, str, str]] = []
    ok = True
    sockets = SocketCounts()
    packets = PacketWatch(int(os.environ.get("ROS_DOMAIN_ID", "0"))) if "dds" in only else None

    def sample(pids: dict[str, int]) -> None:
        got = count_sockets({**pids, "bench_faults (probe)": os.getpid()})
        sockets.processes += got.processes
        sockets.sockets += got.sockets
        sockets.beyond += got.beyond

    try:
        if "recorder" in only:
            rec = _bench_module("bench_recorder_faults")
            (work / "recorder").mkdir()
            kills = rec.kill_loop(args.kills, args.seed, work / "recorder", on_running=sample)
            flips = rec.flip_loop(kills.sources(), args.flips, args.seed, work / "recorder")
            held = kills.lost_finished == 0 and kills.restarts_failed == 0 and kills.repaired == len(kills.cut)
            ok &= held and flips.caught == flips.trials
            rows.append(("recorder SIGKILL", f"{args.kills} ({len(kills.saved)} right after save, "
                         f"{len(kills.cut)} inside an episode); {kills.restarts_failed} restarts failed",
                         f"{len(kills.saved) - kills.lost_finished}/{len(kills.saved)} saved episodes kept; "
                         f"{kills.repaired}/{len(kills.cut)} cut episodes readable after repair",
                         f"lost before the kill {_range(kills.gaps)} s"))
            rows.append(("bag bit flips", f"{flips.trials} bags x 16 bits in chunk data",
                         f"{flips.caught}/{flips.trials} caught by the converter's CRC check", ""))
        if "teleop" in only:
            (work / "teleop").mkdir()
            tel = teleop_loop(args.pulls, args.seed, work / "teleop", on_running=sample)
            for kind, c in tel.kinds.items():
                if not c.trials:
                    continue
                held = (c.faulted == c.trials and c.commands_after_fault == 0 and c.reengaged == c.trials
                        and max(c.drift, default=0.0) < 0.05 and not c.failures)
                if kind == TELEOP_KINDS[2]:
                    held &= c.held_misaligned == c.trials
                ok &= held
                what = (f"{c.faulted}/{c.trials} faulted, {c.commands_after_fault} commands after the fault, "
                        f"{c.reengaged}/{c.trials} re-engaged once aligned")
                if kind == TELEOP_KINDS[2]:
                    what += f"; {c.held_misaligned}/{c.trials} held still while 1 rad away"
                rows.append((f"teleop: {kind}", str(c.trials), what,
                             f"fault {_range(c.detect_ms, '{:.0f}')} ms after the pull; follower moved "
                             f"<= {max(c.drift, default=0.0):.3f} rad while unplugged"))
                for f in c.failures:
                    print(f"  teleop failure: {f}")
            ok &= tel.max_speed <= tel.speed_limit * 1.05
            rows.append(("teleop: follower speed", "whole run", f"max {tel.max_speed:.2f} rad/s",
                         f"limit {tel.speed_limit:.1f} rad/s"))
        if "dds" in only:
            own = stack_sockets(work, off=False)
            sockets.processes += own.processes
            sockets.sockets += own.sockets
            sockets.beyond += own.beyond
            packets.stop()       # before the comparison without the profile (which is not the workspace's)
            if packets.measured:
                ok &= packets.dds == 0
                rows.append(("DDS packets", f"every UDP packet on the non-loopback interfaces during the loops above "
                             f"({packets.udp}; the capture saw {packets.probes_seen} of its own probe broadcasts)",
                             f"{packets.dds} of this domain's DDS (ports {packets.lo}-{packets.hi - 1}, 239.255.0.1)",
                             ", ".join(packets.samples)))
            else:
                rows.append(("DDS packets", "not measured", f"no packet capture ({packets.error or 'no interface'})",
                             "needs root (AF_PACKET)"))
            off = stack_sockets(work, off=True)
            ok &= not sockets.beyond and sockets.sockets > 0
            rows.append(("DDS sockets", f"{sockets.processes} process samples, {sockets.sockets} sockets",
                         f"{len(sockets.beyond)} beyond loopback",
                         f"sim + teleop + recorder (+ the bench): {len(own.beyond)} of {own.sockets}; the same "
                         f"with ROBOT_WS_DDS=off (rmw_fastrtps's own LOCALHOST): {len(off.beyond)} of {off.sockets} "
                         f"beyond loopback"))
            for b in sockets.beyond:
                print(f"  beyond loopback: {b}")
    finally:
        if packets is not None:
            packets.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("\n| fault loop | injected | held | figure |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nload average {load0:.1f} -> {os.getloadavg()[0]:.1f}; {'all held' if ok else 'NOT all held'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
