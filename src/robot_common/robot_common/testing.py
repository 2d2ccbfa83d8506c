"""Helpers for tests, benches and the demo that talk real DDS: a spinning probe node and managed
node processes.

Every process started here inherits ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, in the workspace's DDS
environment (robot_common.dds: every DDS socket on loopback), and the run's ROS_DOMAIN_ID, so no
DDS traffic leaves the machine and parallel runs never cross-talk. Processes
import what this one imports: the installed workspace, or (under pytest) the checkout's sources,
which the root conftest.py puts on PYTHONPATH.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def ros_env(**extra: str) -> dict[str, str]:
    """This process's environment for a node process: DDS on this machine (every DDS socket on
    loopback, robot_common.dds), the run's domain id, headless rendering, unbuffered output (logs
    arrive as they are written), plus `extra`."""
    from robot_common import dds

    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    dds.apply(env)
    env.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
    env.setdefault("MUJOCO_GL", "osmesa")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.01, what: str = "condition") -> None:
    """Poll until predicate() is true; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(period)
    raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, so a crashed test or demo leaves no node running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: processes are still stopped by stop()
        pass


class NodeProcess:
    """A node (or any command) in its own process, stdout+stderr captured to a log file."""

    def __init__(self, cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.cmd = list(cmd)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env or ros_env(), start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGINT) -> int | None:
        if self.alive:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (crash tests)."""
        self.stop(timeout=0.1, sig=signal.SIGKILL)


def python_module_cmd(module: str, *args: str) -> list[str]:
    """Run a package module the way its console script would (no install step needed)."""
    return [sys.executable, "-m", module, *args]


@contextmanager
def node_process(cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> Iterator[NodeProcess]:
    p = NodeProcess(cmd, log_path, env)
    try:
        yield p
    finally:
        p.stop()


class ProbeNode:
    """An rclpy node in its own context, spun in a background thread, for tests to publish,
    subscribe and call services over real DDS."""

    def __init__(self, name: str = "test_probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from robot_common import dds

        dds.apply(os.environ)   # before this process's first participant: rcl and Fast DDS read it then
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutdown races end the loop
                if not self._running:
                    break
                raise

    def collect(self, msg_type, topic: str, qos=10, raw: bool = False) -> list:
        """Subscribe and return the (growing) list of (receive_time_ns, msg)."""
        received: list = []
        self.node.create_subscription(
            msg_type, topic, lambda m: received.append((time.monotonic_ns(), m)), qos, raw=raw
        )
        return received

    def call(self, srv_type, name: str, request=None, timeout: float = 10.0):
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available after {timeout} s")
        future = client.call_async(request or srv_type.Request())
        wait_for(future.done, timeout, what=f"reply from {name}")
        return future.result()

    def call_until(self, srv_type, name: str, timeout: float = 120.0, period: float = 0.5,
                   attempt_timeout: float = 10.0):
        """Call a std_srvs/Trigger-like service again while it refuses, for up to `timeout` s: a
        node's start service can come up before its first inputs have arrived ('no joint_states
        yet') or while they are briefly stale on a loaded machine. One client for every attempt,
        and an attempt whose reply does not come within attempt_timeout is sent again: Fast DDS
        drops a reply when the service's response writer has not yet matched the client ('failed
        to send response (timeout)'), so the service must be idempotent (start services are).
        Returns the last reply; the caller asserts its success and reports its message."""
        deadline = time.monotonic() + timeout
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available after {timeout} s")
        reply = None
        while True:
            future = client.call_async(srv_type.Request())
            try:
                wait_for(future.done, min(attempt_timeout, max(deadline - time.monotonic(), 1.0)),
                         what=f"reply from {name}")
                reply = future.result()
            except TimeoutError:
                client.remove_pending_request(future)
            if (reply is not None and reply.success) or time.monotonic() >= deadline:
                break
            time.sleep(period)
        if reply is None:
            raise TimeoutError(f"no reply from {name} in {timeout:.0f} s")
        return reply

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> ProbeNode:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
