"""Leaders in the follower's joint space: a calibrated servo arm (GELLO / SO-101) or a topic.

Every leader has `names` (arm joints + gripper joint), `open()`, `read()` -> positions in
follower units (raises LeaderReadError) and `close()`.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from robot_common.spec import RobotSpec
from teleop.calibration import Calibration
from teleop.servo_bus import ServoBus, ServoBusError


class LeaderReadError(RuntimeError):
    """One read of the leader failed (no answer, corrupt packet, stale topic)."""


def follower_names(spec: RobotSpec, with_gripper: bool = True) -> list[str]:
    names = list(spec.joint_names)
    if with_gripper and spec.gripper is not None:
        names.append(spec.gripper.joint)
    return names


class ServoLeader:
    """A leader arm on a servo bus: ids = arm joints in follower order, then the gripper servo."""

    def __init__(self, bus: ServoBus, calibration: Calibration, spec: RobotSpec) -> None:
        calibration.check_robot(spec)
        self.bus, self.cal, self.spec = bus, calibration, spec
        self.with_gripper = calibration.has_gripper and spec.gripper is not None
        expected = spec.dof + (1 if calibration.has_gripper else 0)
        if len(bus.ids) != expected:
            raise ValueError(f"{len(bus.ids)} servo ids {bus.ids} for {spec.dof} arm joints"
                             f"{' + gripper' if calibration.has_gripper else ''} (expected {expected})")
        self.names = follower_names(spec, self.with_gripper)
        self._previous: np.ndarray | None = None
        self.last_raw: np.ndarray | None = None

    def open(self) -> None:
        self.bus.open()

    def read(self) -> np.ndarray:
        try:
            raw = self.bus.read()
        except ServoBusError as exc:
            self._previous = None  # the arm may have moved a lot: re-resolve turns from the range
            raise LeaderReadError(str(exc)) from exc
        self.last_raw = raw
        arm = self.cal.arm_from_raw(raw[: self.spec.dof], self._previous)
        if np.all(np.isfinite(arm)):
            self._previous = arm
        if not self.with_gripper:
            return arm
        grip = self.spec.gripper.from_normalized(self.cal.gripper_from_raw(raw[self.spec.dof]))
        return np.append(arm, grip)

    def close(self) -> None:
        self.bus.close()


class TopicLeader:
    """A software leader: sensor_msgs/JointState already in follower space, fed by the node's
    subscription. A message older than `stale_after` seconds counts as a failed read."""

    def __init__(self, spec: RobotSpec, stale_after: float = 0.5) -> None:
        self.names = follower_names(spec)
        self.stale_after = float(stale_after)
        self._lock = threading.Lock()
        self._latest: np.ndarray | None = None
        self._received = 0.0
        self.topic_error: str | None = None
        self.messages = 0          # received, usable or not

    @property
    def waiting(self) -> bool:
        """No message at all yet: the leader has not started (not a failure)."""
        return self.messages == 0

    def open(self) -> None:
        pass

    def feed(self, names: Sequence[str], positions: Sequence[float]) -> None:
        self.messages += 1
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.names if n not in index]
        if missing or len(positions) != len(names):
            self.topic_error = (f"leader message lacks joints {missing}" if missing
                                else f"leader message has {len(names)} names but {len(positions)} positions")
            return
        q = np.array([float(positions[index[n]]) for n in self.names])
        with self._lock:
            self._latest, self._received, self.topic_error = q, time.monotonic(), None

    def read(self) -> np.ndarray:
        with self._lock:
            latest, received = self._latest, self._received
        if latest is None:
            raise LeaderReadError(self.topic_error or "no leader message received yet")
        age = time.monotonic() - received
        if age > self.stale_after:
            raise LeaderReadError(f"leader topic is stale: last message {age:.2f} s ago"
                                  + (f" ({self.topic_error})" if self.topic_error else ""))
        return latest.copy()

    def close(self) -> None:
        pass
