"""Simulated fingertip tactile sensing from MuJoCo contacts: per-finger wrench in the pad frame,
contact area as a fraction of the pad, and a contact mask / synthetic gel image."""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np


@dataclass
class TactileReading:
    force: np.ndarray                 # (shear x, shear y, normal >= 0) in the pad frame, N
    area: float                       # contact area / pad area, 0..1
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # contact points on the pad, m
    pad_size: tuple[float, float] = (0.02, 0.05)
    in_contact: bool = False


def _hull_area(p: np.ndarray) -> float:
    if len(p) < 3:
        return 0.0
    import cv2

    hull = cv2.convexHull(p.astype(np.float32))
    return float(cv2.contourArea(hull))


class FingerTactile:
    """Contacts between one finger body and anything that is not the robot."""

    MIN_PATCH = 2.0e-3   # radius (m) of the patch a single contact point stands for

    def __init__(self, model: mujoco.MjModel, body: str, other_body: str, robot_bodies: set[int]) -> None:
        self.m = model
        self.body = model.body(body).id
        other = model.body(other_body).id
        self.robot_bodies = robot_bodies
        self.geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] == self.body and model.geom_contype[g]]
        self.other_geom = next(g for g in range(model.ngeom) if model.geom_bodyid[g] == other and model.geom_contype[g])
        self._f6 = np.zeros(6)

    def pad_frame(self, d: mujoco.MjData) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Rotation (columns x, y, inward normal) and pad size of the finger's largest inward face."""
        g = self.geoms[0]
        rot = d.geom_xmat[g].reshape(3, 3)
        inward = d.geom_xpos[self.other_geom] - d.geom_xpos[g]
        # the geom axis most aligned with the direction to the other finger is the pad normal
        k = int(np.argmax(np.abs(rot.T @ inward)))
        n = rot[:, k] * np.sign(rot[:, k] @ inward)
        i, j = [a for a in range(3) if a != k]
        size = self.m.geom_size[g]
        x = rot[:, i]
        y = np.cross(n, x)
        return np.column_stack([x, y, n]), d.geom_xpos[g], (2 * size[i], 2 * size[j])

    def read(self, d: mujoco.MjData) -> TactileReading:
        frame, centre, pad = self.pad_frame(d)
        total = np.zeros(3)
        pts = []
        for c in range(d.ncon):
            con = d.contact[c]
            b1, b2 = self.m.geom_bodyid[con.geom1], self.m.geom_bodyid[con.geom2]
            if self.body not in (b1, b2):
                continue
            other = b2 if b1 == self.body else b1
            if other in self.robot_bodies:
                continue
            mujoco.mj_contactForce(self.m, d, c, self._f6)
            cf = con.frame.reshape(3, 3)     # rows: normal (geom1 -> geom2), tangent1, tangent2
            f_world = cf.T @ self._f6[:3]
            if b1 == self.body:               # force on the finger is minus the force on geom2
                f_world = -f_world
            total += frame.T @ f_world
            pts.append((frame.T @ (con.pos - centre))[:2])
        if not pts:
            return TactileReading(np.zeros(3), 0.0, np.zeros((0, 2)), pad, False)
        p = np.array(pts)
        # the normal load pushes the pad outward (against the inward normal): report it >= 0
        force = np.array([total[0], total[1], max(0.0, -total[2])])
        area = max(_hull_area(p), len(p) * np.pi * self.MIN_PATCH**2)
        return TactileReading(force, float(min(1.0, area / (pad[0] * pad[1]))), p, pad, True)


def render_contact(reading: TactileReading, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(mono8 contact mask, rgb8 synthetic gel image) of a reading."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    if reading.in_contact:
        sx, sy = width / reading.pad_size[0], height / reading.pad_size[1]
        px = np.column_stack([reading.points[:, 0] * sx + width / 2, reading.points[:, 1] * sy + height / 2])
        px = np.round(px).astype(np.int32)
        hull = cv2.convexHull(px) if len(px) >= 3 else None
        if hull is not None and cv2.contourArea(hull) > 0:
            cv2.fillConvexPoly(mask, hull, 255)
        else:   # a point or line contact: small patches, as the area estimate assumes
            r = max(1, int(round(FingerTactile.MIN_PATCH * sx)))
            for x, y in px:
                cv2.circle(mask, (int(x), int(y)), r, 255, -1)
    gel = np.empty((height, width, 3), np.uint8)
    gel[:] = (150, 160, 190)
    depth = min(1.0, float(reading.force[2]) / 20.0)
    shade = (mask.astype(np.float32) / 255.0 * (60 + 80 * depth))[:, :, None]
    img = np.clip(gel.astype(np.float32) + shade * np.array([1.0, 0.8, 0.4]), 0, 255).astype(np.uint8)
    return mask, img
