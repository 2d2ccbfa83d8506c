"""Where does a camera policy think the grasp is? `python -m tools.keyframe_probe CHECKPOINT`

For a checkpoint trained with the next-keyframe head (workspace.keyframe_weight > 0), on seeded
sim resets it was not trained on (the demo's evaluation resets by default): render the cameras at
the start pose and again at the expert's pre-grasp pose, predict the next keyframe (the grasp), and
compare it with the expert's grasp: the distance between the two grasp points on the table (mm,
through the arm's forward kinematics) and the largest joint difference (rad). This measures what
the images tell the policy, separately from how it acts on it (the task tolerates about 5 mm).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def probe(checkpoint: str | Path, robot: str = "so101", episodes: int = 20, seed: int = 1000,
          width: int = 128, height: int = 96) -> dict[str, dict[str, float]]:
    """{pose: {median_mm, max_mm, within_5mm, median_joint_rad, max_joint_rad}} for pose in
    start (the arm at home) and pregrasp (the arm above the cube, where the wrist camera sees it)."""
    import mujoco
    import torch

    from policy.config import ACTION
    from policy.inference import PolicyRunner
    from sim.env import SimEnv
    from sim.expert import ScriptedExpert

    runner = PolicyRunner.from_checkpoint(checkpoint)
    if not hasattr(runner.module.model, "keyframe_head"):
        raise SystemExit(f"keyframe_probe: {checkpoint} has no keyframe head (train with workspace.keyframe_weight > 0)")
    env = SimEnv(robot, seed=seed)  # its k-th reset is the demo evaluation's k-th episode
    expert = ScriptedExpert(env.cfg, env.model)
    dof = env.spec.dof
    fk = mujoco.MjData(env.model)
    cams = {key: key.rsplit(".", 1)[-1] for key in runner.image_keys}

    def grasp_point(q: np.ndarray) -> np.ndarray:
        fk.qpos[:] = env.data.qpos
        fk.qpos[env.arm_qadr] = q[:dof]
        mujoco.mj_forward(env.model, fk)
        return fk.site_xpos[env.grasp_site][:2].copy()

    def predicted_keyframe() -> np.ndarray:
        _, pos, _, _ = env.joint_state()
        obs = {"observation.state": pos[:runner.state_dim],
               **{key: env.render(cam, width, height) for key, cam in cams.items()}}
        with torch.inference_mode():
            _, _, keyframe = runner.module.model(runner._batch(obs), with_keyframe=True)
        return runner.normalizer.unnormalize(ACTION, keyframe[0]).float().cpu().numpy()

    errors: dict[str, list[tuple[float, float]]] = {"start": [], "pregrasp": []}
    for _ in range(episodes):
        env.reset()
        cube, quat = env.cube_pose()
        stages = expert.plan(env.arm_state()[0], cube, quat, env.task.target_xy)
        q_grasp = next(s.q for s in stages if s.name == "descend")
        for where in ("start", "pregrasp"):
            if where == "pregrasp":
                first = stages[0]
                env.command_gripper(first.gripper)
                env.submit_trajectory(expert.goal(first))
                env.step_for(first.duration + 0.1)
            kf = predicted_keyframe()
            mm = 1000.0 * float(np.linalg.norm(grasp_point(kf) - grasp_point(q_grasp)))
            errors[where].append((mm, float(np.max(np.abs(kf[:dof] - q_grasp)))))
    env.close()
    out = {}
    for where, rows in errors.items():
        mm, rad = np.array(rows).T
        out[where] = {"median_mm": float(np.median(mm)), "max_mm": float(mm.max()),
                      "within_5mm": int((mm <= 5.0).sum()), "median_joint_rad": float(np.median(rad)),
                      "max_joint_rad": float(rad.max()), "episodes": episodes}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a pretrained_model folder")
    p.add_argument("--robot", default="so101")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=1000, help="sim seed of the resets (the demo evaluates on 1000)")
    p.add_argument("--width", type=int, default=128, help="camera width (the demo records 128x96)")
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    res = probe(a.checkpoint, a.robot, a.episodes, a.seed, a.width, a.height)
    for where, r in res.items():
        print(f"{where:9s} grasp point error: median {r['median_mm']:.1f} mm, max {r['max_mm']:.1f} mm, "
              f"{r['within_5mm']}/{r['episodes']} within 5 mm; largest joint error median "
              f"{r['median_joint_rad']:.2f} rad, max {r['max_joint_rad']:.2f} rad")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
