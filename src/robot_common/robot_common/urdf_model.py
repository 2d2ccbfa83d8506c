"""A small URDF reader: links, joints and forward kinematics in numpy (no ROS needed).

The sim builds its MJCF from this model and the tests check it against the published DH tables.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def matrix_to_rpy(r: np.ndarray) -> list[float]:
    """Inverse of rpy_to_matrix (R = Rz(y) Ry(p) Rx(r)); at gimbal lock the roll goes into the yaw."""
    import math

    pitch = math.atan2(-r[2, 0], math.hypot(r[0, 0], r[1, 0]))
    if abs(math.cos(pitch)) < 1e-9:
        return [0.0, pitch, math.atan2(-r[0, 1], r[1, 1])]
    return [math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])]


def transform(xyz=(0, 0, 0), rpy=(0, 0, 0)) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rpy_to_matrix(rpy)
    t[:3, 3] = np.asarray(xyz, dtype=float)
    return t


def axis_angle(axis, angle: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    r = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    t = np.eye(4)
    t[:3, :3] = r
    return t


@dataclass
class Geometry:
    kind: str                      # box | cylinder | sphere | mesh
    size: tuple[float, ...]        # box (x,y,z); cylinder (radius, length); sphere (radius,)
    origin: np.ndarray             # 4x4 in the link frame
    material: str | None = None


@dataclass
class Link:
    name: str
    mass: float = 0.0
    com: np.ndarray = field(default_factory=lambda: np.eye(4))
    inertia: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    visuals: list[Geometry] = field(default_factory=list)
    collisions: list[Geometry] = field(default_factory=list)


@dataclass
class Joint:
    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float | None = None
    upper: float | None = None
    velocity: float | None = None
    effort: float | None = None
    mimic: tuple[str, float, float] | None = None   # (joint, multiplier, offset)

    @property
    def movable(self) -> bool:
        return self.type in ("revolute", "continuous", "prismatic")

    def motion(self, q: float) -> np.ndarray:
        if self.type in ("revolute", "continuous"):
            return axis_angle(self.axis, q)
        if self.type == "prismatic":
            t = np.eye(4)
            t[:3, 3] = self.axis / np.linalg.norm(self.axis) * q
            return t
        return np.eye(4)


def _floats(text: str | None, default) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split()) if text else tuple(default)


def _origin(el: ET.Element | None) -> np.ndarray:
    if el is None:
        return np.eye(4)
    return transform(_floats(el.get("xyz"), (0, 0, 0)), _floats(el.get("rpy"), (0, 0, 0)))


def _geometry(el: ET.Element) -> Geometry | None:
    g = el.find("geometry")
    if g is None or len(g) == 0:
        return None
    shape = g[0]
    if shape.tag == "box":
        size = _floats(shape.get("size"), ())
    elif shape.tag == "cylinder":
        size = (float(shape.get("radius")), float(shape.get("length")))
    elif shape.tag == "sphere":
        size = (float(shape.get("radius")),)
    else:
        size = ()
    mat = el.find("material")
    return Geometry(shape.tag, size, _origin(el.find("origin")), mat.get("name") if mat is not None else None)


class UrdfModel:
    def __init__(self, xml: str) -> None:
        root = ET.fromstring(xml)
        if root.tag != "robot":
            raise ValueError("not a URDF: root element is not <robot>")
        self.name = root.get("name", "")
        self.links: dict[str, Link] = {}
        self.joints: dict[str, Joint] = {}
        for el in root.findall("link"):
            link = Link(el.get("name"))
            inertial = el.find("inertial")
            if inertial is not None:
                link.mass = float(inertial.find("mass").get("value"))
                link.com = _origin(inertial.find("origin"))
                i = inertial.find("inertia")
                g = {k: float(i.get(k, 0.0)) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")}
                link.inertia = np.array(
                    [[g["ixx"], g["ixy"], g["ixz"]], [g["ixy"], g["iyy"], g["iyz"]], [g["ixz"], g["iyz"], g["izz"]]]
                )
            link.visuals = [x for x in (_geometry(v) for v in el.findall("visual")) if x]
            link.collisions = [x for x in (_geometry(v) for v in el.findall("collision")) if x]
            self.links[link.name] = link
        for el in root.findall("joint"):
            limit, mimic = el.find("limit"), el.find("mimic")
            axis = el.find("axis")
            j = Joint(
                name=el.get("name"),
                type=el.get("type"),
                parent=el.find("parent").get("link"),
                child=el.find("child").get("link"),
                origin=_origin(el.find("origin")),
                axis=np.array(_floats(axis.get("xyz") if axis is not None else None, (1, 0, 0))),
            )
            if limit is not None:
                j.lower = float(limit.get("lower", 0.0))
                j.upper = float(limit.get("upper", 0.0))
                j.velocity = float(limit.get("velocity", 0.0))
                j.effort = float(limit.get("effort", 0.0))
            if mimic is not None:
                j.mimic = (mimic.get("joint"), float(mimic.get("multiplier", 1.0)), float(mimic.get("offset", 0.0)))
            self.joints[j.name] = j
        self._child_joint = {j.child: j for j in self.joints.values()}
        roots = [n for n in self.links if n not in self._child_joint]
        if len(roots) != 1:
            raise ValueError(f"URDF must have exactly one root link, found {roots}")
        self.root = roots[0]
        self.root_element = root

    @classmethod
    def from_file(cls, path: str | Path, **xacro_args: str) -> UrdfModel:
        return cls(expand_xacro(path, **xacro_args) if str(path).endswith(".xacro") else Path(path).read_text())

    def children(self, link: str) -> list[Joint]:
        return [j for j in self.joints.values() if j.parent == link]

    def chain(self, tip: str, base: str | None = None) -> list[Joint]:
        """Joints from base (default: root) down to tip, in order."""
        base = base or self.root
        out, link = [], tip
        while link != base:
            if link not in self._child_joint:
                raise ValueError(f"link '{tip}' is not below '{base}'")
            j = self._child_joint[link]
            out.append(j)
            link = j.parent
        return out[::-1]

    def joint_value(self, joint: Joint, q: dict[str, float]) -> float:
        if joint.mimic:
            src, mult, off = joint.mimic
            return q.get(src, 0.0) * mult + off
        return q.get(joint.name, 0.0)

    def fk(self, q: dict[str, float], tip: str, base: str | None = None) -> np.ndarray:
        """4x4 pose of `tip` in `base` for joint values by name (missing joints at 0)."""
        t = np.eye(4)
        for j in self.chain(tip, base):
            t = t @ j.origin @ j.motion(self.joint_value(j, q))
        return t

    def fk_all(self, q: dict[str, float]) -> dict[str, np.ndarray]:
        """Pose of every link in the root frame."""
        poses = {self.root: np.eye(4)}
        stack = [self.root]
        while stack:
            link = stack.pop()
            for j in self.children(link):
                poses[j.child] = poses[link] @ j.origin @ j.motion(self.joint_value(j, q))
                stack.append(j.child)
        return poses


def expand_xacro(path: str | Path, **args: str) -> str:
    """Expand a .xacro file with `name:=value` arguments, in-process (xacro is on PyPI)."""
    import xacro

    doc = xacro.process_file(str(path), mappings={k: str(v) for k, v in args.items()})
    return doc.toprettyxml(indent="  ")
