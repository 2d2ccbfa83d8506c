"""The scripted expert: plans a pick-and-place as rest-to-rest joint moves (IK on the sim's own
model) and runs it through the same JTC semantics a human-driven teleop would use."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sim.config import SimRobotConfig
from sim.ik import GraspIK
from sim.mjcf import build_mjcf
from sim.trajectory import ActiveTrajectory, JointTrajectoryGoal, TrajectoryPoint, validate_goal


class PlanningError(RuntimeError):
    """No reachable grasp or place pose for this episode."""


@dataclass
class Stage:
    name: str
    q: np.ndarray | None          # arm target (None: the arm holds)
    duration: float               # s, arm move or wait
    gripper: float | None = None  # gripper command sent when the stage starts


def quat_yaw(quat_wxyz: np.ndarray) -> float:
    w, x, y, z = quat_wxyz
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


class ScriptedExpert:
    def __init__(self, cfg: SimRobotConfig, model: mujoco.MjModel | None = None) -> None:
        self.cfg = cfg
        self.spec = cfg.spec
        self.model = model or mujoco.MjModel.from_xml_string(build_mjcf(cfg, cameras=[]))
        g = cfg.gripper
        self.ik = GraspIK(self.model, self.spec.joint_names, "grasp_site", g.get("approach_axis", (0, 0, 1)),
                          g.get("closing_axis", (0, 1, 0)), self.spec.lower, self.spec.upper)
        e = cfg.expert
        self.hover = float(e.get("hover_height", 0.1))
        self.lift = float(e.get("lift_height", 0.12))
        self.depth = float(e.get("grasp_depth", 0.0))
        self.vscale = float(e.get("velocity_scale", 0.35))
        self.close_time = float(e.get("closing_time", 0.7))

    def move_time(self, qa: np.ndarray, qb: np.ndarray) -> float:
        """Duration of a rest-to-rest quintic within the scaled velocity and acceleration caps."""
        d = np.abs(np.asarray(qb) - np.asarray(qa))
        v = self.spec.max_velocity * self.vscale
        a = self.spec.max_acceleration * self.vscale
        t = np.maximum(1.875 * d / v, np.sqrt(5.774 * d / a))
        return float(max(0.4, np.max(t)))

    def _ik(self, seed: np.ndarray, pos: np.ndarray, closing: np.ndarray, what: str) -> np.ndarray:
        down = np.array([0.0, 0.0, -1.0])
        res = self.ik.solve(seed, pos, down, closing)
        rng = np.random.default_rng(0)     # deterministic restarts: the same plan for the same scene
        for _ in range(12):
            if res.ok():
                break
            start = rng.uniform(self.spec.lower, self.spec.upper) * 0.7 + 0.3 * self.spec.home
            alt = self.ik.solve(start, pos, down, closing)
            if alt.position_error + 0.05 * alt.approach_error < res.position_error + 0.05 * res.approach_error:
                res = alt
        if not res.ok():
            raise PlanningError(f"{what}: IK reached {res.position_error * 1000:.1f} mm / "
                                f"{np.degrees(res.approach_error):.1f} deg from {np.round(pos, 3).tolist()}")
        return res.q

    def plan(self, q_start: np.ndarray, cube_pos: np.ndarray, cube_quat: np.ndarray, target_xy: np.ndarray) -> list[Stage]:
        spec, h = self.spec, self.cfg.task.cube_size / 2
        grip = spec.gripper
        # close across a pair of cube faces: the pair whose normal needs the least wrist twist
        yaw = quat_yaw(cube_quat)
        _, _, c_home = self.ik.axes(spec.home)
        cands = [np.array([np.cos(yaw + k * np.pi / 2), np.sin(yaw + k * np.pi / 2), 0.0]) for k in range(2)]
        closing = max(cands, key=lambda c: abs(c @ c_home))
        grasp = np.array([cube_pos[0], cube_pos[1], cube_pos[2] - self.depth])
        place = np.array([target_xy[0], target_xy[1], h - self.depth + 0.004])
        up = np.array([0.0, 0.0, 1.0])
        q_pre = self._ik(spec.home, grasp + self.hover * up, closing, "pre-grasp")
        q_grasp = self._ik(q_pre, grasp, closing, "grasp")
        q_lift = self._ik(q_grasp, grasp + self.lift * up, closing, "lift")
        q_over = self._ik(q_lift, place + self.lift * up, closing, "transfer")
        q_place = self._ik(q_over, place, closing, "place")
        q_retreat = self._ik(q_place, place + self.hover * up, closing, "retreat")
        stages = [Stage("pregrasp", q_pre, self.move_time(q_start, q_pre), grip.open)]
        for name, qa, qb, factor in (("descend", q_pre, q_grasp, 1.5), ):
            stages.append(Stage(name, qb, factor * self.move_time(qa, qb)))
        stages.append(Stage("close", None, self.close_time, grip.closed))
        stages.append(Stage("lift", q_lift, 1.3 * self.move_time(q_grasp, q_lift)))
        stages.append(Stage("transfer", q_over, self.move_time(q_lift, q_over)))
        stages.append(Stage("lower", q_place, 1.5 * self.move_time(q_over, q_place)))
        stages.append(Stage("release", None, self.close_time, grip.open))
        stages.append(Stage("retreat", q_retreat, self.move_time(q_place, q_retreat)))
        return stages

    def goal(self, stage: Stage) -> JointTrajectoryGoal:
        """A one-point goal with zero end velocity and acceleration: a quintic from the current state."""
        z = [0.0] * self.spec.dof
        return JointTrajectoryGoal(self.spec.joint_names, [TrajectoryPoint(stage.q.tolist(), stage.duration, z, z)])

    def reference(self, stage: Stage, q_from: np.ndarray, t0: float) -> ActiveTrajectory:
        """The expert's own copy of a stage's motion (a software leader streams samples of it)."""
        zero = np.zeros_like(q_from)
        return validate_goal(self.goal(stage), self.spec.joint_names, self.spec.lower, self.spec.upper, t0,
                             (q_from, zero, zero))


def run_episode(env, expert: ScriptedExpert, settle: float = 0.4) -> bool:
    """Plan from the env's state and execute through env.submit_trajectory; True on task success."""
    pos, quat = env.cube_pose()
    stages = expert.plan(env.arm_state()[0], pos, quat, env.task.target_xy)
    for st in stages:
        if st.gripper is not None:
            env.command_gripper(st.gripper)
        if st.q is not None:
            env.submit_trajectory(expert.goal(st))
        env.step_for(st.duration + (0.1 if st.q is not None else 0.0))
    env.step_for(settle)
    return env.task_success()
