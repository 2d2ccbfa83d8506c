"""Damped-least-squares IK for a grasp frame (position + approach axis + closing axis) over
MuJoCo's own Jacobians, on a private MjData so the running simulation is never touched."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass
class IkResult:
    q: np.ndarray
    position_error: float      # m
    approach_error: float      # rad between the tool approach axis and the requested one
    closing_error: float       # rad between the closing axes (sign-free)
    iterations: int

    def ok(self, pos_tol: float = 0.004, ang_tol: float = 0.08) -> bool:
        return self.position_error < pos_tol and self.approach_error < ang_tol


class GraspIK:
    def __init__(self, model: mujoco.MjModel, joint_names: list[str], site: str, approach_local, closing_local,
                 lower: np.ndarray, upper: np.ndarray, margin: float = 0.02) -> None:
        self.m = model
        self.d = mujoco.MjData(model)
        self.qadr = np.array([model.joint(n).qposadr[0] for n in joint_names])
        self.vadr = np.array([model.joint(n).dofadr[0] for n in joint_names])
        self.site = model.site(site).id
        self.a_local = np.asarray(approach_local, float) / np.linalg.norm(approach_local)
        self.c_local = np.asarray(closing_local, float) / np.linalg.norm(closing_local)
        self.lower, self.upper = np.asarray(lower) + margin, np.asarray(upper) - margin
        self._jp = np.zeros((3, model.nv))
        self._jr = np.zeros((3, model.nv))

    def frame(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.d.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.m, self.d)
        mujoco.mj_comPos(self.m, self.d)
        return self.d.site_xpos[self.site].copy(), self.d.site_xmat[self.site].reshape(3, 3).copy()

    def axes(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, r = self.frame(q)
        return p, r @ self.a_local, r @ self.c_local

    def solve(self, q0: np.ndarray, pos: np.ndarray, approach: np.ndarray, closing: np.ndarray | None = None,
              iters: int = 200, w_rot: float = 0.3, w_yaw: float = 0.15, damping: float = 0.02) -> IkResult:
        q = np.clip(np.asarray(q0, float).copy(), self.lower, self.upper)
        approach = approach / np.linalg.norm(approach)
        best = None
        for it in range(iters):
            p, a, c = self.axes(q)
            e_pos = pos - p
            e_app = np.cross(a, approach)                   # rotation taking a onto approach
            rows = [e_pos, w_rot * e_app]
            if closing is not None:
                s = 1.0 if c @ closing >= 0 else -1.0          # two-finger symmetry: either sign
                e_yaw = np.cross(c, s * closing)
                e_yaw = (e_yaw @ approach) * approach         # only the twist about the approach axis
                rows.append(w_yaw * e_yaw)
            mujoco.mj_jacSite(self.m, self.d, self._jp, self._jr, self.site)
            jp, jr = self._jp[:, self.vadr], self._jr[:, self.vadr]
            jac = [jp, w_rot * jr] + ([w_yaw * jr] if closing is not None else [])
            J = np.vstack(jac)
            e = np.concatenate(rows)
            err = (np.linalg.norm(e_pos), float(np.arccos(np.clip(a @ approach, -1, 1))))
            if best is None or err[0] + 0.05 * err[1] < best[1][0] + 0.05 * best[1][1]:
                best = (q.copy(), err, it)
            if err[0] < 1e-4 and err[1] < 2e-3 and (closing is None or np.linalg.norm(e_yaw) < 2e-3):
                break
            dq = J.T @ np.linalg.solve(J @ J.T + damping**2 * np.eye(J.shape[0]), e)
            n = np.linalg.norm(dq)
            if n > 0.2:
                dq *= 0.2 / n
            q = np.clip(q + dq, self.lower, self.upper)
        q, (ep, ea), it = best
        _, _, c = self.axes(q)
        ec = 0.0 if closing is None else float(np.arccos(np.clip(abs(c @ closing) / np.linalg.norm(closing), -1, 1)))
        return IkResult(q, float(ep), float(ea), ec, it)
