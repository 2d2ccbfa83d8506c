"""The driver's worker processes: the vendor SDK runs outside the ROS node's process.

pylibfranka holds the GIL inside its blocking calls (a gripper move blocks every other thread of
its process for the whole move), and a 1 kHz loop in Python shares its interpreter badly with a
busy ROS executor. So each SDK connection lives in a process of its own, started with `spawn`
(never `fork` after DDS threads exist), and talks to the node through a pipe of small tuples.

Parent side: `Worker` (start, send, a reader thread that hands every message to a callback, stop).
Child side: `child_init` (die with the parent, leave Ctrl-C to the parent) and `Outbox` (a send that
never blocks the control loop: when the pipe is full, droppable messages are dropped).
"""
from __future__ import annotations

import multiprocessing
import os
import select
import signal
import threading
from collections.abc import Callable
from typing import Any

_STOP = threading.Event()


def child_init() -> threading.Event:
    """In a worker: SIGTERM when the parent dies; SIGINT ignored (a terminal's Ctrl-C reaches the
    whole process group; the node stops its workers through the pipe); SIGTERM sets the returned
    event, which the worker's loop treats as 'stop safely now'."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _STOP.set())
    if os.getppid() == 1:  # the parent died before prctl took effect
        _STOP.set()
    return _STOP


class Outbox:
    """Messages from a worker to the node. `send(..., droppable=True)` drops the message instead of
    waiting when the pipe is full (a stalled node must not stall the control loop)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.dropped = 0
        self.closed = False
        self._pending: list[tuple] = []

    def send(self, *msg: Any, droppable: bool = False) -> None:
        if self.closed:
            return
        if droppable and self._pending:
            self.dropped += 1
            return
        self._pending.append(msg)
        self.flush()
        if droppable and self._pending and self._pending[-1] is msg:
            self._pending.pop()
            self.dropped += 1

    def flush(self) -> None:
        while self._pending and not self.closed:
            try:
                _, writable, _ = select.select([], [self.conn.fileno()], [], 0)
                if not writable:
                    return
                self.conn.send(self._pending[0])
            except (OSError, ValueError, BrokenPipeError):
                self.closed = True
                return
            self._pending.pop(0)


class Worker:
    """A child process running `target(conn, *args)`, with a reader thread in this process."""

    def __init__(self, name: str, target: Callable, args: tuple, on_message: Callable[[tuple], None]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self._conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()
        self._on_message = on_message
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, *msg: Any) -> bool:
        with self._lock:
            try:
                self._conn.send(msg)
                return True
            except (OSError, ValueError, BrokenPipeError):
                return False

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError, ValueError):
                self.process.join(timeout=1.0)
                self._on_message(("exited", self.process.exitcode))
                return
            self._on_message(msg)

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the worker to stop (it brings the arm to rest first), then wait; terminate if it hangs."""
        self.send("shutdown")
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        try:
            self._conn.close()
        except OSError:
            pass
        self._reader.join(timeout=2.0)
        return self.process.exitcode
