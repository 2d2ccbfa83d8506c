"""The workspace's DDS environment: which Fast DDS profile a process gets, and where its sockets bind.

One rule, applied by every entry point (scripts/env.sh for the Makefile, the root conftest.py,
robot_common.testing's ros_env and ProbeNode, robot_common.node_main.run_node, and the launch
files through robot_common.launch_support); docs/dds.md explains it for users:

- ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (the workspace default), or ROS_LOCALHOST_ONLY=1:
  FASTRTPS_DEFAULT_PROFILES_FILE=config/dds/fastdds_localhost.xml, which binds every DDS socket
  to 127.0.0.1, and ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT. The second is needed because
  rmw_fastrtps (Jazzy, rmw_fastrtps_shared_cpp/src/participant.cpp) answers LOCALHOST by appending
  its own UDPv4 transport, without any interface restriction, to the profile's transports: its
  sockets bind 0.0.0.0 and every external address whatever the profile says. SYSTEM_DEFAULT leaves
  the transports to the profile (rmw_fastrtps's README recommends exactly this when an XML file
  configures discovery); the profile repeats LOCALHOST's discovery (unicast to 127.0.0.1, no
  multicast), so such processes and plain-LOCALHOST ones discover each other.
- any other range with ROBOT_WS_DDS_INTERFACES naming interfaces ("eth0", "192.168.1.20", comma or
  space separated): a generated variant of that profile allowing loopback plus those interfaces
  (names resolved to their IPv4 addresses, which is what Humble's Fast DDS 2.6 matches).
- otherwise, or when a profile of the user's own is set (FASTRTPS_DEFAULT_PROFILES_FILE, or Fast DDS
  3's FASTDDS_DEFAULT_PROFILES_FILE), or another RMW than rmw_fastrtps is chosen, or ROBOT_WS_DDS=off
  (rmw_fastrtps's and Fast DDS's own behaviour, for comparisons): nothing changes.

The rule is idempotent (applying it to its own result changes nothing), so nested entry points
(make -> pytest -> a node process -> ...) agree. `socket_report(pid)` lists a process's inet
sockets from /proc, for the tests and benches that check where they bind.

    python -m robot_common.dds env          # the variables this shell's processes would get
    python -m robot_common.dds sockets PID  # a process's sockets; exit 1 if one is beyond loopback
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import struct
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

PROFILE_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"          # read by Fast DDS 2.x (Humble 2.6, Jazzy 2.14)
PROFILE_VARS = (PROFILE_VAR, "FASTDDS_DEFAULT_PROFILES_FILE")   # the second: Fast DDS 3
RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
LOCALHOST_ONLY_VAR = "ROS_LOCALHOST_ONLY"               # deprecated since Iron; forces LOCALHOST in rcl
INTERFACES_VAR = "ROBOT_WS_DDS_INTERFACES"
SWITCH_VAR = "ROBOT_WS_DDS"                             # off: leave DDS alone
MANAGED_VARS = (PROFILE_VAR, RANGE_VAR, LOCALHOST_ONLY_VAR)  # every variable dds_environment may set
LOCALHOST_PROFILE = "config/dds/fastdds_localhost.xml"
RANGES = ("OFF", "LOCALHOST", "SUBNET", "SYSTEM_DEFAULT")
_NS = "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"
SIOCGIFADDR = 0x8915


class DdsConfigError(ValueError):
    """A DDS setting that cannot work (an unknown interface, ...); the message names it."""


# ---- which profile --------------------------------------------------------------------------------

def localhost_profile() -> Path:
    from robot_common.paths import workspace_file

    return workspace_file(LOCALHOST_PROFILE)


def generated_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the interface variants are written: $ROS_HOME/robot_ws_dds (ROS_HOME: ~/.ros)."""
    env = os.environ if env is None else env
    return Path(env.get("ROS_HOME") or Path.home() / ".ros").expanduser() / "robot_ws_dds"


def _profile_of(env: Mapping[str, str]) -> str:
    return next((env[v] for v in PROFILE_VARS if env.get(v)), "")


def is_workspace_profile(path: str, env: Mapping[str, str] | None = None) -> bool:
    """True for this workspace's profiles (any config/dds/ of the search roots, or a generated one)."""
    from robot_common.paths import search_roots

    p = Path(path).expanduser().resolve()
    folders = {(root / "config" / "dds").resolve() for root in search_roots()}
    folders.add(generated_dir(env).resolve())
    return p.parent in folders


def _uses_fastdds(env: Mapping[str, str]) -> bool:
    return env.get("RMW_IMPLEMENTATION", "").strip() in ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def requested_range(env: Mapping[str, str] | None = None) -> str:
    """The discovery range the user asked for: LOCALHOST also where this module already turned it
    into SYSTEM_DEFAULT + the localhost profile. Unset means SUBNET (rcl's default)."""
    env = os.environ if env is None else env
    if env.get(LOCALHOST_ONLY_VAR, "").strip() == "1":
        return "LOCALHOST"
    value = env.get(RANGE_VAR, "").strip().upper() or "SUBNET"
    profile = _profile_of(env)
    if value == "SYSTEM_DEFAULT" and profile and _same_file(profile, localhost_profile()):
        return "LOCALHOST"
    return value


def _same_file(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def dds_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to set on top of `env` (possibly none) for the workspace's DDS rule."""
    env = os.environ if env is None else env
    profile = _profile_of(env)
    if env.get(SWITCH_VAR, "").strip() == "off":
        return {}
    if not _uses_fastdds(env) or (profile and not is_workspace_profile(profile, env)):
        return {}
    wanted = requested_range(env)
    if wanted not in RANGES:
        raise DdsConfigError(f"{RANGE_VAR}={env.get(RANGE_VAR)!r}: expected one of {', '.join(RANGES)}")
    if wanted == "LOCALHOST":
        out = {PROFILE_VAR: str(localhost_profile()), RANGE_VAR: "SYSTEM_DEFAULT"}
        if env.get(LOCALHOST_ONLY_VAR, "").strip() == "1":
            out[LOCALHOST_ONLY_VAR] = ""     # "1" would make rcl force LOCALHOST again; "" is unset
        return {k: v for k, v in out.items() if env.get(k) != v}
    names = env.get(INTERFACES_VAR, "").strip()
    if names:
        path = str(interface_profile(resolve_interfaces(names), env))
        return {} if env.get(PROFILE_VAR) == path else {PROFILE_VAR: path}
    return {}


def apply(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply the rule to `env` (default: this process's environment, before rclpy.init); returns
    what changed."""
    env = os.environ if env is None else env
    changes = dds_environment(env)
    env.update(changes)
    return changes


# ---- interfaces ---------------------------------------------------------------------------------

def local_ipv4() -> dict[str, str]:
    """interface name -> its (primary) IPv4 address, for every interface that has one (Linux)."""
    out = {}
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                import fcntl

                raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
            except OSError:           # no IPv4 address on this interface
                continue
        out[name] = socket.inet_ntoa(raw[20:24])
    return out


def resolve_interfaces(text: str) -> list[str]:
    """'eth0, 192.168.1.20' -> IPv4 addresses of this machine, loopback first; unknown ones are an error."""
    have = local_ipv4()
    out = ["127.0.0.1"]
    for item in (t for t in re.split(r"[,\s]+", text) if t):
        if item in have:
            address = have[item]
        else:
            try:
                address = str(ipaddress.IPv4Address(item))
            except ValueError:
                address = ""
            if address not in have.values():
                known = ", ".join(f"{n} {a}" for n, a in sorted(have.items())) or "none"
                raise DdsConfigError(f"{INTERFACES_VAR}: '{item}' is not an interface or IPv4 address of this "
                                     f"machine (it has: {known})")
        if address not in out:
            out.append(address)
    return out


def interface_profile(addresses: list[str], env: Mapping[str, str] | None = None) -> Path:
    """The localhost profile with these interfaces allowed and Fast DDS's default discovery (multicast
    on the allowed interfaces, unicast), written once under generated_dir()."""
    ET.register_namespace("", _NS)
    tree = ET.parse(localhost_profile())
    q = f"{{{_NS}}}"
    for whitelist in tree.getroot().iter(f"{q}interfaceWhiteList"):
        for child in list(whitelist):
            whitelist.remove(child)
        for address in addresses:
            ET.SubElement(whitelist, f"{q}address").text = address
    for participant in tree.getroot().iter(f"{q}participant"):
        participant.set("profile_name", "robot_ws_interfaces")
        for rtps in participant.iter(f"{q}rtps"):
            for builtin in rtps.findall(f"{q}builtin"):
                for tag in ("metatrafficUnicastLocatorList", "initialPeersList"):   # the loopback-only discovery
                    for el in builtin.findall(f"{q}{tag}"):
                        builtin.remove(el)
                if len(builtin) == 0:
                    rtps.remove(builtin)
    ET.indent(tree, space="  ")
    folder = generated_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("fastdds_" + "_".join(addresses) + ".xml")
    text = ("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!-- written by robot_common.dds from "
            f"{LOCALHOST_PROFILE} for {INTERFACES_VAR}; regenerated when needed -->\n"
            + ET.tostring(tree.getroot(), encoding="unicode") + "\n")
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)       # atomic: parallel processes never read half a file
    return path


# ---- sockets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Socket:
    proto: str          # udp, udp6, tcp, tcp6
    address: str
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def __str__(self) -> str:
        return f"{self.proto} {self.address}:{self.port}"


def _decode(hex_addr: str) -> str:
    words = [int(hex_addr[i:i + 8], 16) for i in range(0, len(hex_addr), 8)]
    raw = b"".join(struct.pack("=I", w) for w in words)      # /proc prints host-order 32-bit words
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def process_sockets(pid: int) -> list[Socket]:
    """Every inet socket (UDP, TCP, v4 and v6) the process holds open, from /proc/<pid>/fd and
    /proc/<pid>/net/*; a process that exits meanwhile yields what was read."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    out = []
    for proto in ("udp", "udp6", "tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            inode = int(fields[9])
            if inode in inodes:
                address, port = fields[1].split(":")
                out.append(Socket(proto, _decode(address), int(port, 16), inode))
    return sorted(out, key=lambda s: (s.proto, s.address, s.port))


def beyond_loopback(pid: int) -> list[Socket]:
    return [s for s in process_sockets(pid) if not s.loopback]


# ---- command line ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dds", description="The workspace's DDS environment (docs/dds.md).")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="print the variables this environment's ROS processes get, as shell exports")
    sockets = sub.add_parser("sockets", help="list the inet sockets of processes; exit 1 if one is beyond loopback")
    sockets.add_argument("pids", nargs="+", type=int)
    args = ap.parse_args(argv)
    try:
        if args.command == "env":
            changes = dds_environment()
            env = {**os.environ, **changes}
            for name in MANAGED_VARS + (INTERFACES_VAR, SWITCH_VAR):
                if name in env:
                    print(f"export {name}={env[name]}" + ("" if name in changes else "   # unchanged"))
            print(f"# requested range: {requested_range(env)}")
            return 0
        bad = 0
        for pid in args.pids:
            for s in process_sockets(pid):
                bad += not s.loopback
                print(f"{pid:>8} {s}{'' if s.loopback else '   <- beyond loopback'}")
        return 1 if bad else 0
    except (DdsConfigError, FileNotFoundError, ProcessLookupError) as exc:
        print(f"dds: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
