"""Stream health -> diagnostic_msgs/DiagnosticStatus: level, a one-line message, and the figures."""
from __future__ import annotations

import time
from dataclasses import dataclass

from .capture_loop import DISCONNECTED, FINISHED, STARTING, STOPPED, STREAMING, LoopStatus
from .stream_stats import StreamSnapshot

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels


@dataclass
class HealthLimits:
    stale_after_s: float = 2.0     # streaming but no frame for this long: error
    min_fps_ratio: float = 0.8     # measured/expected below this: warning


def assess(status: LoopStatus, snap: StreamSnapshot, expected_fps: float,
           limits: HealthLimits | None = None, now_mono: float | None = None) -> tuple[int, str]:
    """(level, message) for one stream."""
    limits = limits or HealthLimits()
    now = time.monotonic() if now_mono is None else now_mono
    if status.state == DISCONNECTED:
        return ERROR, status.message
    if status.state == STARTING:
        return WARN, "opening the source"
    if status.state == FINISHED:
        return OK, status.message
    if status.state == STOPPED:
        return WARN, status.message
    if status.state == STREAMING:
        last = status.last_frame_mono or status.since_mono
        if now - last > limits.stale_after_s:
            return ERROR, f"no frame for {now - last:.1f} s (device stalled?)"
        if expected_fps > 0 and snap.fps > 0 and snap.fps < limits.min_fps_ratio * expected_fps:
            return WARN, f"frame rate {snap.fps:.1f} fps below the expected {expected_fps:.1f}"
        if snap.window_dropped:
            return WARN, f"{snap.window_dropped} frames dropped in the last window"
        return OK, f"streaming at {snap.fps:.1f} fps"
    return WARN, f"unknown state {status.state}"


def make_status(name: str, hardware_id: str, level: int, message: str, values: dict):
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    return DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])


def stream_values(status: LoopStatus, snap: StreamSnapshot, expected_fps: float, size: tuple[int, int]) -> dict:
    return {
        "state": status.state,
        "fps_measured": f"{snap.fps:.2f}",
        "fps_expected": f"{expected_fps:.2f}",
        "frames": snap.frames,
        "frames_dropped": snap.dropped,
        "frames_dropped_window": snap.window_dropped,
        "frames_late": snap.late,
        "non_monotonic_stamps": snap.non_monotonic,
        "reconnects": status.reconnects,
        "failed_opens": status.failed_opens,
        "handler_errors": status.handler_errors,
        "width": size[0],
        "height": size[1],
        "last_error": status.last_error,
    }
