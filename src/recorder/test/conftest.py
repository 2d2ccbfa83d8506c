"""Fixtures for the recorder's DDS tests: a recorder_node process, a probe for its services and
latched status, and a load publisher process."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for


class RecorderUnderTest:
    def __init__(self, probe: ProbeNode, tmp_path: Path) -> None:
        from std_msgs.msg import String

        from recorder.recorder_node import STATUS_QOS

        self.probe = probe
        self.tmp_path = tmp_path
        self.statuses = probe.collect(String, "/recorder/status", qos=STATUS_QOS)
        self.proc: NodeProcess | None = None
        self._n = 0

    def setup_file(self, topics: list[dict]) -> Path:
        path = self.tmp_path / f"setup_{self._n}.yaml"
        self._n += 1
        path.write_text(yaml.safe_dump({"topics": topics}))
        return path

    def start(self, setup: Path, session: Path, **params) -> NodeProcess:
        args = ["--ros-args", "-p", f"setup:={setup}", "-p", f"session_dir:={session}", "-p", "fsync:=false"]
        for k, v in params.items():
            args += ["-p", f"{k}:={v}"]
        self.statuses.clear()
        self.proc = NodeProcess(python_module_cmd("recorder.recorder_node", *args),
                                self.tmp_path / f"recorder_{self._n}.log")
        self._n += 1
        wait_for(lambda: self.status() is not None or not self.proc.alive, 60, what="first /recorder/status")
        assert self.proc.alive, self.proc.log()
        self._wait_services()
        return self.proc

    def _wait_services(self, timeout: float = 60.0) -> None:
        """Until a service call reaches this recorder. After a SIGKILL, DDS keeps the dead recorder's
        endpoints for its lease duration; a new client then finds "a" server at once and can send its
        request before the new one is matched, and that request is lost. An idle `save` is harmless."""
        from std_srvs.srv import Trigger

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = self.probe.node.create_client(Trigger, "/recorder/save")
            if client.wait_for_service(timeout_sec=2.0):
                future = client.call_async(Trigger.Request())
                try:
                    wait_for(future.done, 2.0, what="a reply")
                    return
                except TimeoutError:
                    pass
            self.probe.node.destroy_client(client)
        raise AssertionError(f"the recorder's services never answered\n{self.proc.log()[-3000:]}")

    def status(self) -> dict | None:
        return json.loads(self.statuses[-1][1].data) if self.statuses else None

    def wait_status(self, pred, timeout: float = 30.0, what: str = "status") -> dict:
        try:
            wait_for(lambda: self.status() is not None and pred(self.status()), timeout, period=0.05, what=what)
        except TimeoutError as err:
            raise AssertionError(f"{err}; last status: {self.status()}\nlog:\n{self.proc.log()[-3000:]}") from None
        return self.status()

    def call(self, action: str) -> tuple[bool, str]:
        from std_srvs.srv import Trigger

        res = self.probe.call(Trigger, f"/recorder/{action}", timeout=30)
        return res.success, res.message

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=20)


@pytest.fixture
def recorder(tmp_path):
    with ProbeNode("recorder_test_probe") as probe:
        rut = RecorderUnderTest(probe, tmp_path)
        try:
            yield rut
        finally:
            rut.stop()


class LoadPublishers:
    """`recorder.load_publisher` processes: started in the background, counted when done."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[NodeProcess] = []

    def start(self, *args: str) -> NodeProcess:
        proc = NodeProcess(python_module_cmd("recorder.load_publisher", *args),
                           self.tmp_path / f"load_{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def wait_counts(self, proc: NodeProcess, timeout: float = 120.0) -> dict[str, int]:
        wait_for(lambda: not proc.alive, timeout, period=0.1, what="load publisher to finish")
        log = proc.log()
        lines = [x for x in log.splitlines() if x.startswith("COUNTS ")]
        assert lines, f"load publisher printed no counts:\n{log}"
        return json.loads(lines[-1][len("COUNTS "):])

    def run(self, *args: str, timeout: float = 120.0) -> dict[str, int]:
        return self.wait_counts(self.start(*args), timeout)

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@pytest.fixture
def load(tmp_path):
    pubs = LoadPublishers(tmp_path)
    try:
        yield pubs
    finally:
        pubs.stop()
