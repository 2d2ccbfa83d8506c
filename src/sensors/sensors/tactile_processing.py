"""GelSight-type tactile estimation on RGB gel images, without ROS.

Against a reference frame of the untouched gel it gives:
- the difference image (markers removed from both frames first, so marker motion is not contact),
- the contact mask and contact area (fraction of the gel),
- a normal-load proxy: sum over contact pixels of the mean-channel intensity change / (255 * pixels),
  i.e. contact area weighted by how strongly the gel is lit differently (deeper press: larger, brighter),
- the marker displacement field (markers tracked frame to frame from the reference) and its mean,
  the shear proxy in px.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TactileConfig:
    contact_threshold: float = 12.0   # mean-channel |change| (0..255) above which a pixel is in contact
    blur_sigma: float = 1.5           # Gaussian smoothing of the change magnitude (px)
    min_contact_pixels: int = 25      # smaller connected regions are noise
    marker_threshold: float = 30.0    # a marker pixel is this much darker than the gel around it
    marker_max_diameter: int = 12     # px; sets the background and fill kernels
    marker_min_area: int = 4          # px, detections outside [min, max] area are rejected
    marker_max_area: int = 400
    marker_dilate: int = 2            # px around each marker replaced by the surrounding gel before differencing
    max_marker_step: float = 0.0      # px a marker may move between frames (0: 0.45 x the grid spacing)
    reference_frames: int = 5         # frames averaged into the reference


@dataclass
class TactileResult:
    difference: np.ndarray       # HxWx3 float32, current - reference (markers removed)
    magnitude: np.ndarray        # HxW float32, smoothed mean-channel |difference|
    contact_mask: np.ndarray     # HxW uint8, 255 = contact
    contact_area: float          # fraction of the image in contact, 0..1
    normal_load: float           # >= 0, see module doc
    markers_ref: np.ndarray      # (N, 2) reference marker centres (x, y)
    displacement: np.ndarray     # (N, 2) current - reference position, px
    tracked: np.ndarray          # (N,) bool, found in this frame
    shear: np.ndarray            # (2,) mean displacement of the tracked markers, px

    def difference_rgb8(self) -> np.ndarray:
        """Signed difference as an rgb8 image, 128 = no change."""
        return np.clip(np.round(self.difference + 128.0), 0, 255).astype(np.uint8)

    def displacement_table(self) -> np.ndarray:
        """(N, 5) float32 rows: x_ref, y_ref, dx, dy, tracked (1/0)."""
        return np.column_stack([self.markers_ref, self.displacement, self.tracked.astype(float)]).astype(np.float32)


def _ellipse(size: int) -> np.ndarray:
    import cv2

    size = max(3, int(size) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


class TactileProcessor:
    def __init__(self, config: TactileConfig | None = None) -> None:
        self.cfg = config or TactileConfig()
        self._pending: list[np.ndarray] = []
        self.reference: np.ndarray | None = None      # HxWx3 float32, markers removed
        self.markers_ref = np.zeros((0, 2))
        self._positions = np.zeros((0, 2))
        self.spacing = 0.0

    # --- markers ---------------------------------------------------------------------------------
    def detect_markers(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(marker mask HxW bool, (M, 2) sub-pixel centres) of the dark dots."""
        import cv2

        gray = rgb.astype(np.float32).mean(axis=2)
        background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, _ellipse(self.cfg.marker_max_diameter + 2))
        darkness = np.maximum(background - gray, 0.0)
        mask = (darkness > self.cfg.marker_threshold).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return mask.astype(bool), np.zeros((0, 2))
        # weight the pixels around each blob by their darkness: edge pixels carry the sub-pixel position
        grown = cv2.dilate(labels.astype(np.float32), _ellipse(3)).astype(np.int32)
        grown = np.where(labels > 0, labels, grown)
        ys, xs = np.nonzero(grown)  # only the blobs and their rims
        lab = grown[ys, xs]
        wts = darkness[ys, xs]
        sw = np.bincount(lab, wts, minlength=n)
        sx = np.bincount(lab, wts * xs, minlength=n)
        sy = np.bincount(lab, wts * ys, minlength=n)
        area = stats[:, cv2.CC_STAT_AREA]
        keep = np.arange(n) > 0
        keep &= (area >= self.cfg.marker_min_area) & (area <= self.cfg.marker_max_area) & (sw > 0)
        centres = np.column_stack([sx[keep] / sw[keep], sy[keep] / sw[keep]])
        return mask.astype(bool), centres

    def _remove_markers(self, img: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Replace marker pixels by the mean of the gel around them (normalized box filter)."""
        import cv2

        grown = cv2.dilate(mask.astype(np.uint8), _ellipse(2 * self.cfg.marker_dilate + 1)) > 0
        keep = (~grown).astype(np.float32)
        k = 2 * self.cfg.marker_max_diameter + 3
        num = cv2.blur(img * keep[..., None], (k, k))
        den = cv2.blur(keep, (k, k))[..., None]
        filled = num / np.maximum(den, 1e-3)
        return np.where(grown[..., None], filled, img)

    def _track(self, detections: np.ndarray) -> np.ndarray:
        """Move each tracked marker to its mutual-nearest detection within the step limit."""
        found = np.zeros(len(self._positions), bool)
        if len(self._positions) == 0 or len(detections) == 0:
            return found
        d = np.linalg.norm(self._positions[:, None, :] - detections[None, :, :], axis=2)
        nearest = d.argmin(axis=1)
        back = d.argmin(axis=0)
        step = self.cfg.max_marker_step or 0.45 * (self.spacing or 20.0)
        idx = np.arange(len(self._positions))
        found = (back[nearest] == idx) & (d[idx, nearest] <= step)
        self._positions[found] = detections[nearest[found]]
        return found

    # --- reference -------------------------------------------------------------------------------
    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    def request_reference(self) -> None:
        """The next `reference_frames` frames become the new reference."""
        self._pending = []
        self.reference = None

    def add_reference_frame(self, rgb: np.ndarray) -> bool:
        """Collect one frame; True once the reference is set."""
        self._pending.append(rgb.astype(np.float32))
        if len(self._pending) < max(1, self.cfg.reference_frames):
            return False
        self.set_reference(np.mean(self._pending, axis=0))
        self._pending = []
        return True

    def set_reference(self, rgb: np.ndarray) -> None:
        img = np.asarray(rgb, dtype=np.float32)
        mask, centres = self.detect_markers(img)
        self.reference = self._remove_markers(img, mask)
        self.markers_ref = centres
        self._positions = centres.copy()
        if len(centres) >= 2:
            d = np.linalg.norm(centres[:, None] - centres[None], axis=2)
            np.fill_diagonal(d, np.inf)
            self.spacing = float(np.median(d.min(axis=1)))
        else:
            self.spacing = 0.0

    # --- per frame -------------------------------------------------------------------------------
    def process(self, rgb: np.ndarray) -> TactileResult:
        import cv2

        if self.reference is None:
            raise RuntimeError("no reference frame yet: call set_reference / add_reference_frame first")
        if rgb.shape != self.reference.shape:
            raise ValueError(f"frame shape {rgb.shape} differs from the reference {self.reference.shape} "
                             "(re-capture the reference after changing the resolution)")
        img = rgb.astype(np.float32)
        mask, detections = self.detect_markers(img)
        diff = self._remove_markers(img, mask) - self.reference
        mag = np.abs(diff).mean(axis=2)
        if self.cfg.blur_sigma > 0:
            mag = cv2.GaussianBlur(mag, (0, 0), self.cfg.blur_sigma)
        contact = (mag > self.cfg.contact_threshold).astype(np.uint8)
        contact = cv2.morphologyEx(contact, cv2.MORPH_OPEN, _ellipse(3))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(contact, connectivity=8)
        if n > 1:
            small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < self.cfg.min_contact_pixels)
            small = small[small > 0]
            if small.size:
                contact[np.isin(labels, small)] = 0
        in_contact = contact > 0
        total = float(contact.size)
        area = float(in_contact.sum()) / total
        load = float(mag[in_contact].sum()) / (255.0 * total)
        tracked = self._track(detections)
        disp = self._positions - self.markers_ref
        shear = disp[tracked].mean(axis=0) if tracked.any() else np.zeros(2)
        return TactileResult(diff, mag, contact * np.uint8(255), area, load, self.markers_ref.copy(), disp,
                             tracked, shear)
