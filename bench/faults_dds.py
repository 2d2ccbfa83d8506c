"""bench_faults.py's DDS checks: the inet sockets of processes against loopback, the UDP packets on the
external interfaces, and a sim + teleop + recorder stack with and without the workspace's profile."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path


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
