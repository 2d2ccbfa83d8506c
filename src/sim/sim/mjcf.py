"""Build the MuJoCo model (MJCF text) from the workspace's URDF plus config/sim/<robot>.yaml.

Kinematics, limits, masses and inertias come from the URDF (so the sim matches urdf/ exactly);
the YAML adds servo gains, which links collide, the tabletop scene and the cameras.
"""
from __future__ import annotations

import numpy as np

from robot_common.urdf_model import Geometry, UrdfModel
from sim.config import CameraConfig, SimRobotConfig

MATERIALS = {"grey": "0.75 0.75 0.78 1", "dark": "0.2 0.2 0.22 1", "white": "0.95 0.95 0.95 1"}
ROBOT_GROUP_CONTYPE = 2     # robot geoms collide with the scene, never with each other
SCENE_CONTYPE = 1


def fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in np.atleast_1d(v))


def mat_to_quat(r: np.ndarray) -> np.ndarray:
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(r, dtype=float).reshape(9))
    return q


def pose_attrs(t: np.ndarray) -> str:
    return f'pos="{fmt(t[:3, 3])}" quat="{fmt(mat_to_quat(t[:3, :3]))}"'


def look_at_xyaxes(pos, lookat, up) -> str:
    """MuJoCo cameras look along -z with +y up: xyaxes from a position, a target and an up hint."""
    z = np.asarray(pos, dtype=float) - np.asarray(lookat, dtype=float)
    z /= np.linalg.norm(z)
    x = np.cross(np.asarray(up, dtype=float), z)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError(f"camera up {up} is parallel to its viewing direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return fmt(np.concatenate([x, y]))


def geom_xml(g: Geometry, name: str, collide: bool, extra: str = "") -> str:
    if g.kind == "box":
        typ, size = "box", np.asarray(g.size) / 2
    elif g.kind == "cylinder":
        typ, size = "cylinder", [g.size[0], g.size[1] / 2]
    elif g.kind == "sphere":
        typ, size = "sphere", g.size
    else:
        raise ValueError(f"geometry '{g.kind}' of {name} is not supported by the sim (primitives only)")
    rgba = MATERIALS.get(g.material or "grey", MATERIALS["grey"])
    col = (f'contype="{ROBOT_GROUP_CONTYPE}" conaffinity="{SCENE_CONTYPE}"' if collide
           else 'contype="0" conaffinity="0"')
    return f'<geom name="{name}" type="{typ}" size="{fmt(size)}" {pose_attrs(g.origin)} rgba="{rgba}" {col} {extra}/>'


def camera_xml(cam: CameraConfig) -> str:
    return (f'<camera name="{cam.name}" pos="{fmt(cam.pos)}" xyaxes="{look_at_xyaxes(cam.pos, cam.lookat, cam.up)}" '
            f'fovy="{cam.fovy:g}"/>')


class MjcfBuilder:
    def __init__(self, cfg: SimRobotConfig, urdf: UrdfModel, cameras: list[str] | None = None) -> None:
        self.cfg = cfg
        self.spec = cfg.spec
        self.urdf = urdf
        names = list(cfg.cameras) if cameras is None else list(cameras)
        unknown = [c for c in names if c not in cfg.cameras]
        if unknown:
            raise ValueError(f"unknown cameras {unknown} for {self.spec.name}; configured: {sorted(cfg.cameras)}")
        self.cameras = [cfg.cameras[c] for c in names]
        g = self.spec.gripper
        self.gripper_joints = [g.joint, *g.mimic_joints] if g else []
        self.finger_links = {cfg.gripper["left_link"]: "left_finger", cfg.gripper["right_link"]: "right_finger"}

    def joint_xml(self, j) -> str:
        spec, cfg = self.spec, self.cfg
        typ = "slide" if j.type == "prismatic" else "hinge"
        lo, hi = j.lower, j.upper
        if j.name in spec.joint_names:
            i = spec.joint_names.index(j.name)
            dyn = f'armature="{cfg.armature[i]:g}" damping="{cfg.damping[i]:g}" frictionloss="{cfg.frictionloss[i]:g}"'
        else:
            dyn = f'armature="{float(cfg.gripper.get("armature", 0.01)):g}" damping="{float(cfg.gripper.get("damping", 0.5)):g}"'
        rng = f'range="{lo:g} {hi:g}" limited="true"' if lo is not None and hi is not None else ""
        grav = ' actuatorgravcomp="true"' if cfg.gravity_compensation else ""
        return f'<joint name="{j.name}" type="{typ}" axis="{fmt(j.axis)}" {rng} {dyn}{grav}/>'

    def body_xml(self, link_name: str, pose: np.ndarray, joint=None, indent: int = 2) -> str:
        link = self.urdf.links[link_name]
        pad = " " * indent
        grav = ' gravcomp="1"' if self.cfg.gravity_compensation else ""
        out = [f'{pad}<body name="{link_name}" {pose_attrs(pose)}{grav}>']
        if joint is not None and joint.movable:
            out.append(pad + "  " + self.joint_xml(joint))
        if link.mass > 0:
            r = link.com[:3, :3]
            inertia = r @ link.inertia @ r.T
            full = [inertia[0, 0], inertia[1, 1], inertia[2, 2], inertia[0, 1], inertia[0, 2], inertia[1, 2]]
            out.append(f'{pad}  <inertial pos="{fmt(link.com[:3, 3])}" mass="{link.mass:g}" fullinertia="{fmt(full)}"/>')
        collide = link_name in self.cfg.collision_links or link_name in self.finger_links
        extra = ""
        if link_name in self.finger_links:
            extra = 'condim="4" friction="1.5 0.02 0.002" solref="0.004 1" priority="1"'
        for k, g in enumerate(link.collisions or link.visuals):
            out.append(pad + "  " + geom_xml(g, f"{link_name}_geom{k}", collide, extra))
        if link_name == self.cfg.grasp_link:
            # group 4: hidden from the cameras (MuJoCo renders site groups 0-2 by default), so the
            # images hold only what a real camera sees; a red marker at the jaws looked like the cube
            out.append(f'{pad}  <site name="grasp_site" pos="{fmt(self.cfg.grasp_pos)}" size="0.004" '
                       'rgba="1 0 0 0.5" group="4"/>')
        for cam in self.cameras:
            if cam.link == link_name:
                out.append(pad + "  " + camera_xml(cam))
        for j in self.urdf.children(link_name):
            out.append(self.body_xml(j.child, j.origin, j, indent + 2))
        out.append(f"{pad}</body>")
        return "\n".join(out)

    def actuators_xml(self) -> str:
        spec, cfg = self.spec, self.cfg
        out = []
        for i, j in enumerate(spec.joints):
            out.append(f'<position name="{j.name}" joint="{j.name}" kp="{cfg.kp[i]:g}" kv="{cfg.kv[i]:g}" '
                       f'forcerange="{-j.max_effort:g} {j.max_effort:g}" ctrlrange="{j.lower:g} {j.upper:g}"/>')
        g = spec.gripper
        if g:
            gc = cfg.gripper
            f = float(gc["force_limit"])
            for name in self.gripper_joints:
                out.append(f'<position name="{name}" joint="{name}" kp="{float(gc["kp"]):g}" kv="{float(gc["kv"]):g}" '
                           f'forcerange="{-f:g} {f:g}" ctrlrange="{g.lower:g} {g.upper:g}"/>')
        return "\n    ".join(out)

    def scene_xml(self) -> str:
        t = self.cfg.task
        h = t.cube_size / 2
        tc = t.target_center
        cams = "\n    ".join(camera_xml(c) for c in self.cameras if c.link is None)
        scene = f'contype="{SCENE_CONTYPE}" conaffinity="3"'
        return f"""
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 -0.75" rgba="0.35 0.35 0.38 1" {scene}/>
    <geom name="table" type="box" size="0.8 0.6 0.375" pos="0.35 0 -0.375" material="table" {scene}/>
    <body name="target" pos="{tc[0]:g} {tc[1]:g} 0.0005" mocap="true">
      <geom name="target_geom" type="cylinder" size="{t.target_radius:g} 0.0005" rgba="0.2 0.75 0.3 0.6"
            contype="0" conaffinity="0"/>
    </body>
    <body name="cube" pos="0.4 0 {h:g}">
      <freejoint name="cube_joint"/>
      <geom name="cube_geom" type="box" size="{h:g} {h:g} {h:g}" mass="{t.cube_mass:g}" rgba="0.85 0.2 0.15 1"
            condim="4" friction="1.2 0.02 0.002" {scene}/>
    </body>
    {cams}"""

    def build(self) -> str:
        root = self.urdf.root
        robot = self.body_xml(root, np.eye(4), None, indent=4)
        return f"""<mujoco model="{self.spec.name}_sim">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{self.cfg.timestep:g}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="1280" offheight="960"/>
    <quality shadowsize="0"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="256" height="256" rgb1="0.62 0.5 0.38" rgb2="0.58 0.46 0.35"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light name="key" pos="0.5 -0.6 2.0" dir="-0.2 0.3 -1" directional="true" diffuse="0.8 0.8 0.8" castshadow="false"/>
    <light name="fill" pos="-0.5 0.5 1.5" dir="0.3 -0.2 -1" directional="true" diffuse="0.35 0.35 0.35" castshadow="false"/>
{robot}
    {self.scene_xml()}
  </worldbody>
  <actuator>
    {self.actuators_xml()}
  </actuator>
</mujoco>
"""


def build_mjcf(cfg: SimRobotConfig, cameras: list[str] | None = None) -> str:
    """The MJCF text of robot + tabletop scene + cameras."""
    urdf = UrdfModel.from_file(cfg.spec.urdf_path())
    return MjcfBuilder(cfg, urdf, cameras).build()
