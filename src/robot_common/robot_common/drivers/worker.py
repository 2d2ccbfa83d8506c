"""The driver's worker processes: the vendor SDK runs outside the ROS node's process.

pylibfranka holds the GIL inside its blocking calls (a gripper move blocks every other thread of
its process for the whole move), and a 1 kHz loop in Python shares its interpreter badly with a
busy ROS executor. So each SDK connection lives in a process of its own, started with `spawn`
(never `fork` after DDS threads exist), and talks to the node through a pipe of small tuples.

Parent side: `Worker` (start, send, a reader thread that hands every message to a callback, stop).
Child side: `child_init` (die with the parent, leave Ctrl-C to the parent) and `Outbox` (a send that
never blocks the control loop).
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
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
    """Messages from a worker to the node, sent by a thread of their own: `send` never blocks (a
    stalled node process fills the pipe; the control loop must not wait for it). Beyond `limit`
    queued messages, droppable ones (states) are dropped; the others always go.

    `send` pickles in the caller's thread (~10 us for a state) and the thread only writes bytes: it
    holds the GIL for microseconds around each write. Without real-time priority, a sender thread
    preempted while it holds the GIL (as it did while pickling batches) stalls the control loop
    until the scheduler runs it again, tens of ms on a busy machine."""

    def __init__(self, conn: Any, limit: int = 50) -> None:
        self.conn = conn
        self.limit = limit
        self.dropped = 0
        self.closed = False
        self._queue: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    @property
    def native_id(self) -> int:
        """The sender thread's id (for its scheduling)."""
        return self._thread.native_id

    def send(self, *msg: Any, droppable: bool = False) -> None:
        if self.closed:
            return
        if droppable and len(self._queue) >= self.limit:
            self.dropped += 1
            return
        self._queue.append(ForkingPickler.dumps(msg))   # deque.append is atomic: no lock on the caller's side
        if len(self._queue) == 1:
            with self._ready:
                self._ready.notify()

    def _run(self) -> None:
        while not self.closed:
            with self._ready:
                if not self._queue:
                    self._ready.wait(0.01)
            while self._queue and not self.closed:
                try:
                    self.conn.send_bytes(self._queue.popleft())
                except (OSError, ValueError, BrokenPipeError):
                    self.closed = True
                    return

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until everything queued went out (at the worker's end)."""
        deadline = time.monotonic() + timeout
        while self._queue and not self.closed and time.monotonic() < deadline:
            time.sleep(0.005)


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
            for m in msg[1] if msg[0] == "batch" else (msg,):
                self._on_message(m)

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
