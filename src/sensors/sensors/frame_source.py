"""The camera hardware boundary: one OpenCV VideoCapture behind a small class.

A source is a V4L2 device (index "0" or path "/dev/video0"), a video file (replayed at its own or
a requested rate) or a stream URL. Errors say which of these failed and how, so a pulled cable or
a missing file reads as such in the log and on /diagnostics.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class SourceKind(str, Enum):
    DEVICE = "device"
    FILE = "file"
    URL = "url"


class SourceError(RuntimeError):
    """The source cannot be opened or stopped delivering frames; the message says why."""


class EndOfStream(Exception):
    """A video file has no more frames (not an error)."""


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    target: int | str  # device index, device path, file path or URL

    @staticmethod
    def parse(source: str) -> SourceSpec:
        s = str(source).strip()
        if not s:
            raise ValueError("empty camera source: give a device index ('0'), a device path ('/dev/video0'), "
                             "a video file or a URL")
        if s.isdigit():
            return SourceSpec(SourceKind.DEVICE, int(s))
        if s.startswith("file://"):
            return SourceSpec(SourceKind.FILE, s[len("file://"):])
        if _URL.match(s):
            return SourceSpec(SourceKind.URL, s)
        if s.startswith("/dev/"):
            return SourceSpec(SourceKind.DEVICE, s)
        return SourceSpec(SourceKind.FILE, os.path.expanduser(s))

    def __str__(self) -> str:
        return f"{self.kind.value} {self.target}"


@dataclass
class CaptureSettings:
    width: int = 0          # 0: the device's / file's own size
    height: int = 0
    fps: float = 0.0        # devices: requested rate; files: replay rate (0: the file's own)
    pixel_format: str = ""  # FOURCC for devices, e.g. MJPG or YUYV ("" = device default)
    realtime: bool = True   # files: pace frames at the replay rate instead of decoding flat out
    loop: bool = False      # files: start over at the end
    timeout_s: float = 5.0  # URLs: give up opening / reading after this long (a stalled stream reconnects)


def capture_stamp_ns(wall_ns: int, mono_ns: int, driver_mono_ms: float | None, max_age_s: float = 1.0) -> int:
    """Capture time on the wall/ROS clock. V4L2 buffers carry a CLOCK_MONOTONIC timestamp taken by the
    driver when the frame was filled; shift it onto the wall clock when it is plausible, else use the
    time the frame was grabbed."""
    if driver_mono_ms is None or not np.isfinite(driver_mono_ms) or driver_mono_ms <= 0:
        return wall_ns
    age_ns = mono_ns - int(driver_mono_ms * 1e6)
    if 0 <= age_ns <= max_age_s * 1e9:
        return wall_ns - age_ns
    return wall_ns


class FrameSource:
    """Opens, reads and releases one OpenCV capture. Not thread-safe: one reader thread."""

    def __init__(self, source: str, settings: CaptureSettings | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.spec = SourceSpec.parse(source)
        self.settings = settings or CaptureSettings()
        self.clock_ns = clock_ns
        self._cap = None
        self._frames = 0
        self._t0 = 0.0
        self.size: tuple[int, int] = (0, 0)  # (width, height) actually delivered
        self.rate = 0.0                      # frames/s the source promises (replay rate for files)
        self._use_driver_stamps = False

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def open(self) -> None:
        import cv2

        self.close()
        spec, st = self.spec, self.settings
        if spec.kind is SourceKind.DEVICE and isinstance(spec.target, str) and not Path(spec.target).exists():
            raise SourceError(f"camera device {spec.target} does not exist (unplugged?)")
        if spec.kind is SourceKind.FILE:
            path = Path(spec.target)
            if not path.exists():
                raise SourceError(f"video file {path} does not exist")
            if not path.is_file() or not os.access(path, os.R_OK):
                raise SourceError(f"video file {path} is not a readable file")
        if spec.kind is SourceKind.DEVICE:
            cap = cv2.VideoCapture(spec.target, cv2.CAP_V4L2)
        elif spec.kind is SourceKind.URL and st.timeout_s > 0:
            ms = int(st.timeout_s * 1000)
            cap = cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            why = {SourceKind.DEVICE: "busy, no permission, or not a video capture device",
                   SourceKind.FILE: "not a video OpenCV/FFmpeg can decode (corrupt or still being written?)",
                   SourceKind.URL: "unreachable or not a video stream"}[spec.kind]
            raise SourceError(f"cannot open {spec}: {why}")
        if spec.kind is SourceKind.DEVICE:
            if st.pixel_format:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*st.pixel_format.ljust(4)[:4]))
            if st.width > 0 and st.height > 0:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, st.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, st.height)
            if st.fps > 0:
                cap.set(cv2.CAP_PROP_FPS, st.fps)
            self._use_driver_stamps = True
        self._cap = cap
        own_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if spec.kind is SourceKind.FILE:
            self.rate = st.fps if st.fps > 0 else (own_fps if 0 < own_fps < 1000 else 30.0)
        else:
            self.rate = own_fps if 0 < own_fps < 1000 else st.fps
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._frames = 0
        self._t0 = time.monotonic()

    def read(self) -> tuple[np.ndarray, int]:
        """The next frame (HxWx3 BGR uint8) and its capture stamp in ns. Raises EndOfStream at the end
        of a non-looping file, SourceError when the source fails."""
        import cv2

        if self._cap is None:
            raise SourceError(f"{self.spec} is not open")
        st = self.settings
        if self.spec.kind is SourceKind.FILE and st.realtime and self.rate > 0:
            due = self._t0 + self._frames / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # fell far behind (loaded machine): restart the schedule, don't burst
                self._t0 = time.monotonic() - self._frames / self.rate
        ok = self._cap.grab()
        wall, mono = self.clock_ns(), time.monotonic_ns()
        if not ok and self.spec.kind is SourceKind.FILE:
            if self._frames == 0:
                raise SourceError(f"{self.spec} opened but holds no decodable frame")
            if not st.loop:
                raise EndOfStream(f"end of {self.spec} after {self._frames} frames")
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok = self._cap.grab()
            wall, mono = self.clock_ns(), time.monotonic_ns()
            if not ok:  # some containers refuse to seek: reopen
                frames, t0 = self._frames, self._t0
                self.open()
                self._frames, self._t0 = frames, t0
                ok = self._cap.grab()
                wall, mono = self.clock_ns(), time.monotonic_ns()
        if not ok:
            raise SourceError(f"{self.spec} stopped delivering frames (disconnected?)")
        driver_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) if self._use_driver_stamps else None
        ok, frame = self._cap.retrieve()
        if not ok or frame is None:
            raise SourceError(f"{self.spec} delivered a frame that could not be decoded")
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        self._frames += 1
        self.size = (frame.shape[1], frame.shape[0])
        return frame, capture_stamp_ns(wall, mono, driver_ms)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
