"""Serve a simulated FR3 + Franka Hand over the real libfranka network protocol (franky-sim, MuJoCo).

    python -m robot_common.drivers.franky_sim_server --host 127.0.0.55 [--speed 0.5]

For tests, the bench and trying fr3_driver without a robot (`-p robot_ip:=127.0.0.55
-p realtime_config:=ignore`). franky-sim's ports are fixed (robot TCP/UDP 1337, hand 1338), so
servers running side by side need their own 127.0.0.x address. `--speed` below 1 runs the simulated
robot slower than real time (its clock, and so every timing rule of the driver, stays exact; the
driver's loop gets more wall time per robot millisecond on a crowded machine). Prints
`FRANKY_SIM_READY <host>` once it accepts connections; SIGINT / SIGTERM stop it.

franky-sim has no reflexes and no limit or timing checks: fr3_driver applies the FR3's own rules
itself (fr3_limits). Needs `pip install franky-sim` (requirements/dev.txt); it must not be imported
in a process that imports pylibfranka.
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys

PORTS = (1337, 1338)


def ports_taken(host: str) -> list[int]:
    """The franky-sim ports already bound on host (connections of a stopped server that linger in
    TIME_WAIT do not count: franky-sim binds with SO_REUSEADDR, so does this check)."""
    taken = []
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                taken.append(port)
    return taken


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (127.0.0.x)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (0 < speed <= 1)")
    args = parser.parse_args(argv)
    if not 0.0 < args.speed <= 1.0:
        print(f"franky_sim_server: error: --speed {args.speed} is not in (0, 1]", file=sys.stderr)
        return 2
    taken = ports_taken(args.host)
    if taken:
        print(f"franky_sim_server: error: {args.host} ports {taken} are taken (another franky-sim or FR3 "
              "server?): pick another 127.0.0.x with --host", file=sys.stderr)
        return 2
    from franky_sim import SimulationServer
    from franky_sim.mujoco_simulator import MujocoSimulator

    signal.signal(signal.SIGTERM, _interrupt)
    with MujocoSimulator() as sim:
        sim.add_robot()
        try:
            with SimulationServer(sim, hostname_candidates=[args.host]) as server:
                print(f"FRANKY_SIM_READY {args.host}", flush=True)
                server.run_forever(realtime=1.0 / args.speed)   # franky-sim sleeps realtime x 1 ms per step
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            print(f"franky_sim_server: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
