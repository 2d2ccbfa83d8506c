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
  - the policy node (bench/faults_policy.py, once the policy package has its follower guard): input
    faults (NaN, stale joints, stale images, a missing joint, a length mismatch) must make it hold and
    resume, with every commanded point within the limits; a follower pushed away while it acts must
    never be commanded beyond its velocity limit from where it is;
  - DDS sockets: every inet socket of every node process above (and this one, and of a sim + teleop +
    recorder started for this check) while it runs, against
    loopback; DDS packets: every UDP packet on the non-loopback interfaces meanwhile (root only), none
    of which may carry this domain's DDS; and, for comparison, sim, teleop and recorder nodes with
    ROBOT_WS_DDS=off (rmw_fastrtps's own LOCALHOST transports, the state before the workspace's profile).
Prints one table (the README's benchmark rows come from it); exits 1 when a loop did not hold.

    python bench/bench_faults.py [--kills 20] [--flips 30] [--pulls 6] [--pushes 4] [--seed 0]
                                 [--only recorder,teleop,policy,dds]

`make bench` runs it with the workspace installed; from a checkout without a build, put the
packages on the path first: PYTHONPATH=$(ls -d src/*/ | tr '\\n' :) python bench/bench_faults.py
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _bench_module(name: str):
    """A module of this folder (bench/ is not a package): bench_recorder_faults, faults_teleop, faults_dds."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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
    ap.add_argument("--pushes", type=int, default=4, help="policy: follower pushes")
    ap.add_argument("--only", default="recorder,teleop,policy,dds", help="comma-separated loops to run")
    args = ap.parse_args()
    only = set(args.only.split(","))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from robot_common import dds

    fdds, ftel, fpol = _bench_module("faults_dds"), _bench_module("faults_teleop"), _bench_module("faults_policy")
    SocketCounts, PacketWatch, count_sockets, stack_sockets = (  # noqa: N806 - classes
        fdds.SocketCounts, fdds.PacketWatch, fdds.count_sockets, fdds.stack_sockets)
    teleop_loop, TELEOP_KINDS = ftel.teleop_loop, ftel.TELEOP_KINDS  # noqa: N806

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
        if "policy" in only:
            why = fpol.ready()
            if why:
                rows.append(("policy node", "not measured", why, ""))
            else:
                (work / "policy").mkdir()
                checkpoint = fpol.small_checkpoint(work / "policy")
                inputs = fpol.input_fault_loop(checkpoint, work / "policy", on_running=sample)
                held = [f for f in fpol.INPUT_FAULTS if inputs.held.get(f) and inputs.resumed.get(f)]
                ok &= len(held) == len(fpol.INPUT_FAULTS) and inputs.violations == 0 and not inputs.failures
                rows.append(("policy: input faults", f"{len(fpol.INPUT_FAULTS)} ({', '.join(fpol.INPUT_FAULTS)})",
                             f"{len(held)}/{len(fpol.INPUT_FAULTS)} held (a one-point trajectory) and resumed; "
                             f"{inputs.violations} limit or step violations over {inputs.points} points",
                             "; ".join(f"{r.removeprefix('holding position: ')}" for r in inputs.reported.values())))
                pushed = fpol.push_loop(checkpoint, work / "policy", args.pushes, on_running=sample)
                ok &= pushed.over_limit == 0 and pushed.checked > 0 and not pushed.failures
                rows.append(("policy: follower pushed", f"{pushed.pushes} (slow push and hold, jump, alternately); "
                             f"{pushed.moved} moved it > 0.3 rad",
                             f"{pushed.over_limit} of {pushed.checked} commands beyond the velocity limit from their "
                             f"measured state (closest {pushed.worst:+.3f} rad)",
                             f"{pushed.replans} re-plans, {pushed.follower_limited} follower-limited ticks; follower "
                             f"top speed after a release {pushed.peak_speed:.2f} rad/s (limit {pushed.speed_limit:.1f})"))
                for f in inputs.failures + pushed.failures:
                    print(f"  policy failure: {f}")
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
