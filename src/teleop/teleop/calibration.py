"""Leader calibration: raw servo angles -> follower joint space, and its YAML round trip.

joint = sign * (raw - offset), moved by whole turns (2 pi) to the value nearest the previous one
(or, at start, nearest the middle of the recorded range): a servo that restarted and forgot its
multi-turn count, or a single-turn reading that wrapped from 4095 to 0, still maps to the same
joint angle. The gripper servo maps linearly from raw closed..open to the follower's closed..open.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from robot_common.spec import RobotSpec

TWO_PI = 2 * math.pi
HALF_PI = math.pi / 2


class CalibrationError(ValueError):
    """A calibration that is missing, inconsistent with the robot, or cannot be computed."""


def unwrap_near(value: np.ndarray | float, reference: np.ndarray | float) -> np.ndarray:
    """value + 2 pi k, with k chosen so the result is nearest `reference`."""
    value = np.asarray(value, dtype=float)
    return value + TWO_PI * np.round((np.asarray(reference, dtype=float) - value) / TWO_PI)


@dataclass
class Calibration:
    offsets: np.ndarray                # raw angle (rad) at joint zero
    signs: np.ndarray                  # +1 / -1
    lower: np.ndarray                  # leader range in joint space (rad)
    upper: np.ndarray
    gripper_open: float | None = None  # raw gripper servo angle (rad) when open / closed
    gripper_closed: float | None = None
    style: str = "gello"
    calibrated: bool = True

    def __post_init__(self) -> None:
        for name in ("offsets", "signs", "lower", "upper"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        n = self.offsets.size
        if not (self.signs.size == self.lower.size == self.upper.size == n):
            raise CalibrationError(f"offsets/signs/lower/upper must have the same length, got "
                                   f"{n}/{self.signs.size}/{self.lower.size}/{self.upper.size}")
        if not np.all(np.isin(self.signs, (-1.0, 1.0))):
            raise CalibrationError(f"signs must be +1 or -1, got {self.signs.tolist()}")
        if np.any(self.lower >= self.upper):
            raise CalibrationError("every joint needs lower < upper in the calibration range")
        if (self.gripper_open is None) != (self.gripper_closed is None):
            raise CalibrationError("gripper_open and gripper_closed must both be set or both be absent")
        if self.gripper_open is not None and abs(self.gripper_open - self.gripper_closed) < 0.05:
            raise CalibrationError(f"gripper open ({self.gripper_open:.3f}) and closed ({self.gripper_closed:.3f}) "
                                   "raw angles are too close: the gripper was not moved during calibration")

    @property
    def dof(self) -> int:
        return int(self.offsets.size)

    @property
    def has_gripper(self) -> bool:
        return self.gripper_open is not None

    def arm_from_raw(self, raw: Sequence[float], previous: np.ndarray | None = None) -> np.ndarray:
        q = self.signs * (np.asarray(raw, dtype=float) - self.offsets)
        return unwrap_near(q, previous if previous is not None else 0.5 * (self.lower + self.upper))

    def gripper_from_raw(self, raw: float) -> float:
        """0 = closed .. 1 = open (clipped)."""
        mid = 0.5 * (self.gripper_open + self.gripper_closed)
        raw = float(unwrap_near(raw, mid))
        return float(np.clip((raw - self.gripper_closed) / (self.gripper_open - self.gripper_closed), 0.0, 1.0))

    # ---- (de)serialisation: the `calibration` block of config/teleop/<leader>.yaml -----------
    def to_dict(self) -> dict:
        d = {"calibrated": bool(self.calibrated), "style": self.style,
             "offsets": [round(float(x), 6) for x in self.offsets],
             "signs": [float(x) for x in self.signs],
             "lower": [round(float(x), 6) for x in self.lower],
             "upper": [round(float(x), 6) for x in self.upper]}
        if self.has_gripper:
            d["gripper_open"] = round(float(self.gripper_open), 6)
            d["gripper_closed"] = round(float(self.gripper_closed), 6)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "calibration") -> Calibration:
        missing = [k for k in ("offsets", "signs", "lower", "upper") if k not in d]
        if missing:
            raise CalibrationError(f"{where}: missing {missing}")
        try:
            return cls(offsets=d["offsets"], signs=d["signs"], lower=d["lower"], upper=d["upper"],
                       gripper_open=d.get("gripper_open"), gripper_closed=d.get("gripper_closed"),
                       style=str(d.get("style", "gello")), calibrated=bool(d.get("calibrated", True)))
        except CalibrationError as exc:
            raise CalibrationError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:  # e.g. offsets: abc
            raise CalibrationError(f"{where}: malformed calibration values: {exc}") from None

    def check_robot(self, spec: RobotSpec) -> None:
        if self.dof != spec.dof:
            raise CalibrationError(f"calibration has {self.dof} arm joints but {spec.name} has {spec.dof} "
                                   f"({spec.joint_names})")


def node_params(doc: dict) -> dict:
    """The ros__parameters block of a ROS parameter file (any node key), or the document itself."""
    for value in (doc or {}).values():
        if isinstance(value, dict) and "ros__parameters" in value:
            return value["ros__parameters"]
    return doc or {}


def read_parameter_file(path: str | Path) -> dict:
    """The parameters of a teleop parameter file (`/**: ros__parameters:` or a bare mapping);
    CalibrationError (one line, naming the file) when it is missing, unreadable or not a mapping."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CalibrationError(f"calibration file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise CalibrationError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot be read: {exc}") from None
    params = node_params(doc) if isinstance(doc, dict) else doc
    if not isinstance(params, dict):
        raise CalibrationError(f"{path}: expected a parameter mapping, got {type(doc).__name__}")
    return params


def load_calibration(path: str | Path) -> Calibration:
    """The calibration block of a parameter file (or a bare calibration file)."""
    params = read_parameter_file(path)
    block = params.get("calibration")
    if not isinstance(block, dict):
        raise CalibrationError(f"{Path(path).expanduser()}: no `calibration` block")
    return Calibration.from_dict(block, where=str(Path(path).expanduser()))


def save_calibration(path: str | Path, cal: Calibration, template: str | Path | None = None) -> Path:
    """Write `cal` into the calibration block of a parameter file, keeping its other parameters
    and leading comments (taken from `path` if it exists, else from `template`)."""
    path = Path(path)
    source = path if path.is_file() else (Path(template) if template and Path(template).is_file() else None)
    text = source.read_text() if source else ""
    doc = yaml.safe_load(text) if text else None
    if not doc:
        doc = {"/**": {"ros__parameters": {}}}
    params = node_params(doc)
    if params is doc:  # a bare calibration file
        doc = {"/**": {"ros__parameters": doc}}
        params = doc["/**"]["ros__parameters"]
    params["calibration"] = cal.to_dict()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    tmp.replace(path)  # atomic: a crash mid-write never leaves half a calibration
    return path


# ---- the two calibration procedures (pure functions; the CLI feeds them bus readings) --------
def gello_offsets(raw: Sequence[float], known_pose: Sequence[float], signs: Sequence[float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """GELLO style: with the arm held in a known pose, the offsets are the multiples of pi/2
    nearest raw - sign * pose (servo horns mount at 90 degree steps). Returns (offsets, residual),
    residual = how far the measured pose is from the known one (large: wrong pose or horn)."""
    raw, pose, signs = (np.asarray(x, dtype=float) for x in (raw, known_pose, signs))
    if not (raw.shape == pose.shape == signs.shape):
        raise CalibrationError(f"raw {raw.shape}, pose {pose.shape} and signs {signs.shape} differ in length")
    offsets = HALF_PI * np.round((raw - signs * pose) / HALF_PI)
    residual = signs * (raw - offsets) - pose
    return offsets, residual


def so101_homing(raw_mid: Sequence[float]) -> np.ndarray:
    """SO-101 style: the raw angle with every joint at mid-range becomes joint zero."""
    return np.asarray(raw_mid, dtype=float).copy()


def recorded_range(samples: np.ndarray, offsets: np.ndarray, signs: np.ndarray, margin: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Joint-space min..max over raw samples [T, n] (unwrapped sample to sample)."""
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    q = signs * (samples - offsets)
    q[0] = unwrap_near(q[0], 0.0)
    for t in range(1, len(q)):
        q[t] = unwrap_near(q[t], q[t - 1])
    lo, hi = q.min(axis=0) - margin, q.max(axis=0) + margin
    tiny = (hi - lo) < 0.1
    if np.any(tiny):
        raise CalibrationError(f"joints {np.flatnonzero(tiny).tolist()} barely moved while recording ranges "
                               "(move every joint through its full range)")
    return lo, hi
