"""SimEnv: the plain-Python simulation (no ROS): MuJoCo model built from the workspace's robot
description, JTC-like arm controller, rate-limited gripper, cameras, fingertip tactile, task.

    env = SimEnv("so101", seed=0)
    env.reset()
    env.submit_trajectory(goal)        # sim.trajectory.JointTrajectoryGoal
    env.step_for(2.0)
    env.task_success()
"""
from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from sim.config import SimRobotConfig, load_sim_config
from sim.controllers import ArmTrajectoryController, GripperController
from sim.mjcf import build_mjcf
from sim.tactile import FingerTactile, TactileReading
from sim.task import TaskState, placed, sample_task, yaw_quat
from sim.trajectory import ActiveTrajectory, JointTrajectoryGoal

TACTILE_NAMES = ("left_finger", "right_finger")


class SimEnv:
    def __init__(self, robot: str | SimRobotConfig, cameras: Sequence[str] | None = ("front", "wrist"),
                 seed: int = 0, timestep: float | None = None) -> None:
        self.cfg = robot if isinstance(robot, SimRobotConfig) else load_sim_config(robot)
        if timestep:
            self.cfg.timestep = float(timestep)
        self.spec = self.cfg.spec
        self.camera_names = list(cameras) if cameras is not None else list(self.cfg.cameras)
        self.xml = build_mjcf(self.cfg, self.camera_names)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        spec = self.spec
        self.arm_qadr = np.array([m.joint(n).qposadr[0] for n in spec.joint_names])
        self.arm_vadr = np.array([m.joint(n).dofadr[0] for n in spec.joint_names])
        self.arm_act = np.array([m.actuator(n).id for n in spec.joint_names])
        g = spec.gripper
        self.gripper_joints = [g.joint, *g.mimic_joints]
        self.grip_qadr = np.array([m.joint(n).qposadr[0] for n in self.gripper_joints])
        self.grip_vadr = np.array([m.joint(n).dofadr[0] for n in self.gripper_joints])
        self.grip_act = np.array([m.actuator(n).id for n in self.gripper_joints])
        self.ff_gain = self.cfg.kv / self.cfg.kp       # velocity feed-forward through the position servo
        self.arm = ArmTrajectoryController(spec.joint_names, spec.lower, spec.upper)
        self.gripper = GripperController(g.lower, g.upper, g.max_velocity, g.open)
        self.cube_qadr = m.joint("cube_joint").qposadr[0]
        self.cube_vadr = m.joint("cube_joint").dofadr[0]
        self.cube_body = m.body("cube").id
        self.target_mocap = m.body_mocapid[m.body("target").id]
        self.grasp_site = m.site("grasp_site").id
        robot_root = m.body(spec.base_link).id
        self.robot_bodies = {b for b in range(m.nbody) if self._below(b, robot_root)}
        left, right = self.cfg.gripper["left_link"], self.cfg.gripper["right_link"]
        self.tactile_sensors = {
            "left_finger": FingerTactile(m, left, right, self.robot_bodies),
            "right_finger": FingerTactile(m, right, left, self.robot_bodies),
        }
        self.finger_bodies = {m.body(left).id, m.body(right).id}
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.rng = np.random.default_rng(seed)
        self.task: TaskState | None = None
        self.episode = 0
        self.reset()

    def _below(self, body: int, root: int) -> bool:
        while body > 0:
            if body == root:
                return True
            body = self.model.body_parentid[body]
        return False

    # ---- episode ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> TaskState:
        """Arm at home, gripper open, cube at a pose drawn from the seeded sequence (or `seed`)."""
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        d, m = self.data, self.model
        t = d.time
        mujoco.mj_resetData(m, d)
        d.time = t                      # time stays monotonic across episodes (ROS stamps follow it)
        home = self.spec.home
        d.qpos[self.arm_qadr] = home
        g = self.spec.gripper
        d.qpos[self.grip_qadr] = g.open
        self.task = sample_task(self.cfg.task, rng)
        h = self.cfg.task.cube_size / 2
        d.qpos[self.cube_qadr:self.cube_qadr + 3] = [*self.task.cube_xy, h]
        d.qpos[self.cube_qadr + 3:self.cube_qadr + 7] = yaw_quat(self.task.cube_yaw)
        d.mocap_pos[self.target_mocap] = [*self.task.target_xy, 0.0005]
        d.ctrl[self.arm_act] = home
        d.ctrl[self.grip_act] = g.open
        self.arm.reset(home)
        self.gripper.reset(g.open)
        mujoco.mj_forward(m, d)
        self.episode += 1
        return self.task

    # ---- stepping --------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def dt(self) -> float:
        return float(self.model.opt.timestep)

    def step(self, n: int = 1) -> None:
        d, m = self.data, self.model
        for _ in range(n):
            q, qd = self.arm.desired(d.time)
            d.ctrl[self.arm_act] = q + self.ff_gain * qd
            d.ctrl[self.grip_act] = self.gripper.update(m.opt.timestep)
            mujoco.mj_step(m, d)

    def step_for(self, seconds: float) -> None:
        self.step(max(0, int(round(seconds / self.dt))))

    # ---- commands --------------------------------------------------------------------------
    def submit_trajectory(self, goal: JointTrajectoryGoal) -> ActiveTrajectory:
        """JTC topic semantics; raises sim.trajectory.TrajectoryRejected (and nothing moves)."""
        q, qd = self.arm_state()
        return self.arm.submit(goal, self.time, q, qd)

    def command_gripper(self, position: float) -> None:
        """Gripper joint position (m per finger / jaw rad); raises GripperCommandError."""
        self.gripper.command([position])

    # ---- state -----------------------------------------------------------------------------
    def arm_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.qpos[self.arm_qadr].copy(), self.data.qvel[self.arm_vadr].copy()

    def gripper_position(self) -> float:
        return float(self.data.qpos[self.grip_qadr[0]])

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(names, position, velocity, effort): arm joints, gripper joint, mimic joints."""
        names = self.spec.joint_names + self.gripper_joints
        qadr = np.concatenate([self.arm_qadr, self.grip_qadr])
        vadr = np.concatenate([self.arm_vadr, self.grip_vadr])
        act = np.concatenate([self.arm_act, self.grip_act])
        d = self.data
        return names, d.qpos[qadr].copy(), d.qvel[vadr].copy(), d.actuator_force[act].copy()

    def grasp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.site_xpos[self.grasp_site].copy(), self.data.site_xmat[self.grasp_site].reshape(3, 3).copy()

    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube position and quaternion (w, x, y, z) in the world (table top at z = 0)."""
        a = self.cube_qadr
        return self.data.qpos[a:a + 3].copy(), self.data.qpos[a + 3:a + 7].copy()

    def cube_touching_gripper(self) -> bool:
        d, m = self.data, self.model
        for c in range(d.ncon):
            b1, b2 = m.geom_bodyid[d.contact[c].geom1], m.geom_bodyid[d.contact[c].geom2]
            if self.cube_body in (b1, b2) and (b1 in self.robot_bodies or b2 in self.robot_bodies):
                return True
        return False

    def task_success(self) -> bool:
        pos, _ = self.cube_pose()
        return placed(self.cfg.task, pos, self.task.target_xy, self.cube_touching_gripper())

    def tactile(self) -> dict[str, TactileReading]:
        return {name: s.read(self.data) for name, s in self.tactile_sensors.items()}

    # ---- cameras ---------------------------------------------------------------------------
    def render(self, camera: str, width: int = 320, height: int = 240) -> np.ndarray:
        """HxWx3 uint8 RGB image from a named camera (offscreen: osmesa on CPU, egl on GPU)."""
        key = (width, height)
        r = self._renderers.get(key)
        if r is None:
            r = self._renderers[key] = mujoco.Renderer(self.model, height=height, width=width)
        r.update_scene(self.data, camera=camera)
        return r.render()

    def camera_intrinsics(self, camera: str, width: int, height: int) -> np.ndarray:
        """3x3 K of a MuJoCo camera (square pixels, principal point at the image centre; OpenCV pixel convention)."""
        fovy = np.deg2rad(self.model.cam_fovy[self.model.camera(camera).id])
        f = 0.5 * height / np.tan(fovy / 2)
        return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])

    def camera_pose(self, camera: str) -> tuple[np.ndarray, np.ndarray]:
        """World position and rotation of the camera's optical frame (z forward, x right, y down)."""
        cid = self.model.camera(camera).id
        r = self.data.cam_xmat[cid].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        return self.data.cam_xpos[cid].copy(), r

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
