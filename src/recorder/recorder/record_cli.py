"""`recorder record`: keyboard front end of a running recorder_node.

    ros2 run recorder record --episodes 50 --episode-time 30 --reset-time 10
    ros2 run recorder record --display        # + a live rerun view of the sim setup's topics

Right arrow: save the episode and go on (in the reset phase: start the next one now).
Left arrow: discard the episode and record it again (in the reset phase: discard the one just saved).
Esc (or q): save what is being recorded and quit. y / n: mark the episode a success / failure.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from .flow import DONE, MARK_FAILURE, MARK_SUCCESS, RECORDING, RESETTING, SAVE, START, EpisodeFlow
from .keys import ESC, TerminalKeys

NOT_A_TTY = ("recorder record: stdin is not a terminal, and the keyboard front end needs one.\n"
             "Run it in a terminal, or drive the recorder through its services instead:\n"
             "  /recorder/start, /recorder/save, /recorder/discard (std_srvs/Trigger), status on /recorder/status\n"
             "  (/<ns>/recorder/... for a recorder started with namespace:=<ns>)")


class RecorderClient:
    """Service calls and the latest status of a recorder node, with its own spinning thread."""

    def __init__(self, recorder: str = "recorder", namespace: str = "", args: list[str] | None = None) -> None:
        """`recorder`: the services' prefix, relative (resolved in this node's namespace, e.g. from
        `--ros-args -r __ns:=/left` or `namespace`) or absolute."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        from .recorder_node import STATUS_QOS

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(args=args, context=self.context)
        self.node = rclpy.create_node("record_cli", namespace=namespace or None, context=self.context)
        self.status: dict = {}
        ns = recorder.rstrip("/") or "recorder"
        self.node.create_subscription(String, f"{ns}/status", self._on_status, STATUS_QOS)
        self._trigger = {a: self.node.create_client(Trigger, f"{ns}/{a}") for a in ("start", "save", "discard")}
        self._success = self.node.create_client(SetBool, f"{ns}/set_success")
        self._Trigger, self._SetBool = Trigger, SetBool
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutdown race
                break

    def _on_status(self, msg) -> None:
        try:
            self.status = json.loads(msg.data)
        except ValueError:
            pass

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for client in [*self._trigger.values(), self._success]:
            if not client.wait_for_service(timeout_sec=max(0.0, deadline - time.monotonic())):
                return False
        return True

    def call(self, action: str, value: bool | None = None, timeout: float = 60.0) -> tuple[bool, str]:
        if action in (MARK_SUCCESS, MARK_FAILURE):
            client, req = self._success, self._SetBool.Request(data=action == MARK_SUCCESS)
        else:
            client, req = self._trigger[action], self._Trigger.Request()
        future = client.call_async(req)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not future.done():
            return False, f"no reply from the recorder's {action} service within {timeout:g} s"
        res = future.result()
        return bool(res.success), str(res.message)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.node.destroy_node()
        self.context.try_shutdown()


def status_line(flow: EpisodeFlow, status: dict, now: float, width: int = 160) -> str:
    """One line: phase, episode, time, per-topic counts and rates, first warning."""
    left = flow.remaining_s(now)
    if flow.state == RECORDING:
        head = f"REC ep {status.get('episode_index', '?')} {status.get('elapsed_s', 0.0):5.1f}s"
        if left is not None:
            head += f" ({left:4.1f}s left)"
    elif flow.state == RESETTING:
        head = f"RESET {left:4.1f}s (-> next, <- redo last)" if left is not None else "RESET"
    else:
        head = flow.state.upper()
    parts = [head, f"saved {flow.saved}" + (f"/{flow.num_episodes}" if flow.num_episodes else "")]
    if flow.state == RECORDING:
        for name, t in status.get("topics", {}).items():
            parts.append(f"{name.rsplit('/', 2)[-2] if name.endswith('image_raw') else name}:"
                         f"{t.get('count', 0)}@{t.get('rate_hz', 0):.0f}Hz")
    warn = status.get("warnings") or []
    if warn:
        parts.append("! " + warn[0] + (f" (+{len(warn) - 1})" if len(warn) > 1 else ""))
    return " | ".join(parts)[:width]


def run(flow: EpisodeFlow, client, keys, out=sys.stdout, clock=time.monotonic, period_s: float = 0.1) -> int:
    """The interactive loop; `keys.read(timeout)` yields key names (terminal or injected)."""
    def do(actions: list[str]) -> None:
        for action in actions:
            ok, msg = client.call(action)
            if action == START and not ok:
                flow.start_failed(clock(), msg)
            if action == SAVE and not ok and "not recording" in msg:
                ok, msg = True, "already saved by the recorder (max_episode_s)"
            out.write(f"\r\033[K{'' if ok else 'FAILED: '}{msg}\n")
        if flow.message:
            out.write(f"\r\033[K{flow.message}\n")
            flow.message = ""
        out.flush()

    out.write(__doc__.split("\n\n")[2] + "\n")
    do(flow.begin(clock()))
    try:
        while flow.state != DONE:
            for key in keys.read(period_s):
                do(flow.on_key(key, clock()))
                if flow.state == DONE:
                    break
            if flow.state == DONE:
                break
            do(flow.tick(clock()))
            out.write("\r\033[K" + status_line(flow, client.status, clock()))
            out.flush()
    except KeyboardInterrupt:
        out.write("\r\033[Kinterrupted: saving what is being recorded\n")
        do(flow.on_key(ESC, clock()))
    out.write(f"\r\033[Kdone: {flow.saved} episode(s) saved in {client.status.get('session_dir', '?')}\n")
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="recorder record", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n")[2])
    ap.add_argument("--episodes", type=int, default=0, help="stop after this many saved episodes (0: until Esc)")
    ap.add_argument("--episode-time", type=float, default=0.0,
                    help="fixed episode duration in seconds: saved automatically when it is up (0: until ->)")
    ap.add_argument("--reset-time", type=float, default=5.0, help="reset phase between episodes, seconds")
    ap.add_argument("--recorder", default="recorder",
                    help="prefix of the recorder's services (default 'recorder': recorder/start, ... resolved in "
                         "--namespace)")
    ap.add_argument("--namespace", default="",
                    help="the recorder's ROS namespace, e.g. left for a recorder started with namespace:=left")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the recorder's services")
    ap.add_argument("--display", action="store_true",
                    help="also start a live rerun view (recorder live_view) of the recorded setup's topics")
    ap.add_argument("--setup", default="sim", help="--display: the recorder setup whose topics it shows (sim, real)")
    args, ros_args = ap.parse_known_args(argv)
    if not sys.stdin.isatty():
        print(NOT_A_TTY, file=sys.stderr)
        return 2
    viewer = start_live_view(args.setup, args.namespace) if args.display else None
    client = RecorderClient(args.recorder, args.namespace, ["record_cli", *ros_args])
    try:
        if not client.wait_ready(args.wait):
            where = client.node.resolve_service_name(f"{args.recorder.rstrip('/') or 'recorder'}/start")
            print(f"recorder record: no recorder service {where} after {args.wait:g} s; "
                  "start it first: ros2 run recorder recorder_node (or ros2 launch recorder record.launch.py)",
                  file=sys.stderr)
            return 3
        flow = EpisodeFlow(args.episodes, args.episode_time, args.reset_time)
        with TerminalKeys(sys.stdin.fileno()) as keys:
            return run(flow, client, keys)
    finally:
        client.close()
        stop_live_view(viewer)


def live_view_command(setup: str, namespace: str = "") -> list[str]:
    """The live_view node as its own process (the keyboard loop and the viewer never share a GIL)."""
    cmd = [sys.executable, "-m", "recorder.live_view", "--ros-args", "-p", f"setup:={setup}"]
    if namespace:
        cmd += ["-r", f"__ns:=/{namespace.strip('/')}"]
    return cmd


def start_live_view(setup: str, namespace: str = ""):
    import subprocess

    return subprocess.Popen(live_view_command(setup, namespace), stdin=subprocess.DEVNULL)


def stop_live_view(proc) -> None:
    import signal
    import subprocess

    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
