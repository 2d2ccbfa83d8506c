"""Synthetic GelSight-type images: LED-lit gel background, a dot-marker grid, and indentations.

Used by the tests (known contact disc, intensity change and marker shift), the bench, and anyone who
needs a tactile stream without a sensor. Markers and disc edges are anti-aliased (exact pixel
coverage), so sub-pixel shifts change the image the way a real camera would see them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def marker_grid(width: int, height: int, spacing: float = 24.0, margin: float = 14.0) -> np.ndarray:
    """(N, 2) marker centres (x, y) on a regular grid."""
    xs = np.arange(margin, width - margin + 1e-9, spacing)
    ys = np.arange(margin, height - margin + 1e-9, spacing)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


@dataclass
class Indentation:
    cx: float
    cy: float
    radius: float
    delta: float = 40.0  # intensity added inside the contact disc (all channels)


def _disc_coverage(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    """Fraction of each pixel inside the disc (1-px linear edge ramp: exact area on average)."""
    return np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)


def render_gel(width: int = 320, height: int = 240, markers: np.ndarray | None = None, marker_radius: float = 3.0,
               indentations: tuple[Indentation, ...] | list[Indentation] = (), noise_sigma: float = 1.5,
               seed: int = 0) -> np.ndarray:
    """HxWx3 uint8 RGB gel image."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / max(width - 1, 1), yy / max(height - 1, 1)
    img = np.empty((height, width, 3), np.float32)  # three LEDs from three sides, as in GelSight sensors
    img[..., 0] = 110 + 50 * (1 - u)
    img[..., 1] = 105 + 45 * v
    img[..., 2] = 115 + 40 * u
    for ind in indentations:
        cov = _disc_coverage(xx, yy, ind.cx, ind.cy, ind.radius)
        img += (ind.delta * cov)[..., None]
    if markers is not None and len(markers):
        dark = np.zeros((height, width), np.float32)
        r = marker_radius
        for x, y in np.asarray(markers, dtype=float):
            x0, x1 = max(int(x - r - 2), 0), min(int(x + r + 3), width)
            y0, y1 = max(int(y - r - 2), 0), min(int(y + r + 3), height)
            if x0 >= x1 or y0 >= y1:
                continue
            sub = _disc_coverage(xx[y0:y1, x0:x1], yy[y0:y1, x0:x1], x, y, r)
            dark[y0:y1, x0:x1] = np.maximum(dark[y0:y1, x0:x1], sub)
        img *= (1.0 - 0.75 * dark)[..., None]  # black ink lets 25 % of the light through
    if noise_sigma > 0:
        img += np.random.default_rng(seed).normal(0.0, noise_sigma, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def indented_markers(markers: np.ndarray, shift: tuple[float, float], region: Indentation | None = None) -> np.ndarray:
    """Markers moved by `shift`; only those inside `region` when one is given (local shear)."""
    out = np.asarray(markers, dtype=float).copy()
    sel = np.ones(len(out), bool) if region is None else \
        np.hypot(out[:, 0] - region.cx, out[:, 1] - region.cy) <= region.radius
    out[sel] += np.asarray(shift, dtype=float)
    return out
