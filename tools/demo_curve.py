"""Success rate vs training steps: every checkpoint a `make demo` run saved (<out>/train/checkpoints/
<step>/) evaluated by the demo's evaluation (the policy node driving the sim on the same seeded
resets), written to <out>/curve.json and plotted as a PNG.

    python -m tools.demo_curve --out output/demo --episodes 10 --png docs/demo_success_vs_steps.png

Results already in curve.json are kept (an interrupted run resumes); --steps picks checkpoints.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.demo import say, sim_settings


def checkpoints(out: Path) -> dict[int, Path]:
    root = out / "train" / "checkpoints"
    return {int(d.name): d / "pretrained_model" for d in sorted(root.glob("[0-9]*")) if (d / "pretrained_model").is_dir()}


def plot(curve: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(int(s) for s in curve)
    rates = [curve[str(s)]["success"] / curve[str(s)]["episodes"] for s in steps]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, rates, "o-")
    for s, r in zip(steps, rates):
        ax.annotate(f"{curve[str(s)]['success']}/{curve[str(s)]['episodes']}", (s, r), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("training steps")
    ax.set_ylabel("success rate")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from tools.demo_ros import evaluate_policy

    p = argparse.ArgumentParser(prog="python -m tools.demo_curve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="output/demo", help="the demo's artifact folder (with train/checkpoints)")
    p.add_argument("--robot", default="so101")
    p.add_argument("--episodes", type=int, default=10, help="evaluation resets per checkpoint")
    p.add_argument("--eval-seed", type=int, default=1000)
    p.add_argument("--eval-timeout", type=float, default=15.0)
    p.add_argument("--steps", default="", help="comma-separated checkpoint steps (default: all)")
    p.add_argument("--png", default="", help="plot path (default <out>/success_vs_steps.png)")
    p.add_argument("--title", default="", help="plot title")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--fps", type=float, default=30.0)
    a = p.parse_args(argv)
    out = Path(a.out).absolute()
    found = checkpoints(out)
    if not found:
        raise SystemExit(f"demo_curve: no checkpoints in {out / 'train' / 'checkpoints'}")
    chosen = sorted(found) if not a.steps else [int(s) for s in a.steps.split(",")]
    missing = [s for s in chosen if s not in found]
    if missing:
        raise SystemExit(f"demo_curve: no checkpoint for steps {missing} (have {sorted(found)})")
    path = out / "curve.json"
    curve = json.loads(path.read_text()) if path.exists() else {}
    for step in chosen:
        if str(step) in curve and curve[str(step)]["episodes"] == a.episodes:
            continue
        say(f"curve: checkpoint {step}")
        res = evaluate_policy(sim_settings(a, a.eval_seed), found[step], a.episodes, timeout_s=a.eval_timeout,
                              logs=out / "logs" / f"curve_{step}", video=None, progress=lambda m: say(f"curve: {m}"))
        curve[str(step)] = {"success": int(sum(res.successes)), "episodes": a.episodes, "outcomes": res.outcomes}
        path.write_text(json.dumps(curve, indent=2))
        say(f"curve: step {step}: {sum(res.successes)}/{a.episodes}")
    plot(curve, Path(a.png) if a.png else out / "success_vs_steps.png",
         a.title or f"{a.robot}: success vs training steps ({a.episodes} seeded resets each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
