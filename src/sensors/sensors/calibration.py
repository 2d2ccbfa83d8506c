"""Camera calibration YAML (the format of ROS camera_calibration / camera_calibration_parsers) ->
sensor_msgs/CameraInfo fields."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

_MATRICES = {"camera_matrix": (3, 3), "rectification_matrix": (3, 3), "projection_matrix": (3, 4)}


class CalibrationError(ValueError):
    pass


@dataclass
class Calibration:
    width: int
    height: int
    camera_name: str = ""
    distortion_model: str = "plumb_bob"
    d: list[float] = field(default_factory=list)
    k: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    r: np.ndarray = field(default_factory=lambda: np.eye(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros((3, 4)))

    @property
    def calibrated(self) -> bool:
        return bool(self.k[0, 0] > 0 and self.k[1, 1] > 0)

    @staticmethod
    def uncalibrated(width: int, height: int) -> Calibration:
        """ROS convention for 'no calibration': K = 0, size filled in."""
        return Calibration(width, height)

    def scaled_to(self, width: int, height: int) -> Calibration:
        """Intrinsics for another resolution of the same sensor mode (same aspect ratio)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx - sy) > 0.01 * max(sx, sy):
            raise CalibrationError(f"calibration is for {self.width}x{self.height} but frames are {width}x{height} "
                                   "(different aspect ratio: recalibrate for this mode)")
        scale = np.diag([sx, sy, 1.0])
        return Calibration(width, height, self.camera_name, self.distortion_model, list(self.d),
                           scale @ self.k, self.r.copy(), scale @ self.p)

    def to_msg(self, stamp_ns: int | None = None, frame_id: str = ""):
        from sensor_msgs.msg import CameraInfo

        from robot_common.conversions import ns_to_stamp

        msg = CameraInfo()
        if stamp_ns is not None:
            msg.header.stamp = ns_to_stamp(stamp_ns)
        msg.header.frame_id = frame_id
        msg.width, msg.height = int(self.width), int(self.height)
        msg.distortion_model = self.distortion_model
        msg.d = [float(x) for x in self.d]
        msg.k = [float(x) for x in self.k.ravel()]
        msg.r = [float(x) for x in self.r.ravel()]
        msg.p = [float(x) for x in self.p.ravel()]
        return msg


def _matrix(doc: dict, key: str, path: Path) -> np.ndarray:
    shape = _MATRICES[key]
    m = doc.get(key)
    if m is None:
        raise CalibrationError(f"{path}: missing '{key}'")
    data = m.get("data") if isinstance(m, dict) else m
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as e:
        raise CalibrationError(f"{path}: '{key}' data is not numeric: {e}") from e
    if arr.size != shape[0] * shape[1] or not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{path}: '{key}' needs {shape[0]}x{shape[1]} finite numbers, got {arr.size}")
    return arr.reshape(shape)


def resolve_calibration_path(url: str) -> Path:
    """A plain path, a file:// URL, a workspace path (config/cameras/x.yaml) or a bare name of
    config/cameras (front_calibration); an unknown one is returned as given (load reports it)."""
    s = url[len("file://"):] if url.startswith("file://") else url
    path = Path(os.path.expanduser(s))
    if path.is_absolute() or path.exists():
        return path
    from robot_common.paths import find_config, workspace_file

    try:
        return workspace_file(path) if len(path.parts) > 1 else find_config("cameras", s)
    except FileNotFoundError:
        return path


def load_calibration(url: str) -> Calibration:
    path = resolve_calibration_path(url)
    if not path.exists():
        raise CalibrationError(f"camera calibration file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CalibrationError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise CalibrationError(f"{path}: expected a mapping with image_width, camera_matrix, ...")
    try:
        width, height = int(doc["image_width"]), int(doc["image_height"])
    except (KeyError, TypeError, ValueError) as e:
        raise CalibrationError(f"{path}: image_width and image_height must be integers") from e
    dist = doc.get("distortion_coefficients", {"data": []})
    d = dist.get("data", []) if isinstance(dist, dict) else dist
    cal = Calibration(
        width=width, height=height, camera_name=str(doc.get("camera_name", "")),
        distortion_model=str(doc.get("distortion_model", "plumb_bob")),
        d=[float(x) for x in (d or [])],
        k=_matrix(doc, "camera_matrix", path),
        r=_matrix(doc, "rectification_matrix", path) if "rectification_matrix" in doc else np.eye(3),
        p=_matrix(doc, "projection_matrix", path) if "projection_matrix" in doc else np.zeros((3, 4)),
    )
    if not cal.p.any():  # monocular: P = [K | 0]
        cal.p[:, :3] = cal.k
    return cal
