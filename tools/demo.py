"""The main job, end to end in simulation: `make demo` (or `python -m tools.demo`).

Stages (each also runs on its own with --stages, reusing the artifacts in --out):
  record   sim + scripted expert as a software leader -> teleop node -> sim follower; the
           recorder writes one rosbag2 MCAP bag per episode            -> <out>/bags/
  convert  bag_to_dataset convert -> LeRobot v3.0 dataset, validated   -> <out>/dataset/
  train    policy train (CPU-sized ACT)                                -> <out>/train/ (checkpoints, loss.png)
  eval     policy node drives the sim on fresh seeded resets; the scripted expert and a
           do-nothing baseline run on the same resets                   -> <out>/eval.json, rollout.mp4
  report   success table and plot                                      -> <out>/report.md, success.png

Run from the repository root with the workspace importable: `make demo` builds and sources it
(`source install/setup.bash`); the tests run it with the checkout's sources (conftest.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = "pick up the cube and place it on the target"      # the sim's pick_place scene, any arm


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def module_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run(cmd: list[str]) -> None:
    env = dict(os.environ)
    from robot_common.testing import ros_env

    env.update(ros_env())
    res = subprocess.run(cmd, env=env)
    if res.returncode != 0:
        raise SystemExit(f"demo: '{' '.join(cmd[2:4])} ...' failed with exit code {res.returncode}")


def sim_settings(a: argparse.Namespace, seed: int):
    from tools.demo_ros import SimSettings

    return SimSettings(robot=a.robot, seed=seed, width=a.width, height=a.height, fps=a.fps)


def stage_record(a: argparse.Namespace, out: Path) -> None:
    from tools.demo_ros import record_episodes

    session = out / "bags"
    done = len([p for p in session.glob("episode_*/episode.yaml")]) if session.exists() else 0
    if done >= a.episodes:
        say(f"record: {done} episodes already in {session}, skipping")
        return
    res = record_episodes(sim_settings(a, a.seed), session, a.episodes, task=TASK,
                          logs=out / "logs" / "record", progress=lambda m: say(f"record: {m}"),
                          through_teleop=not a.direct_expert)
    say(f"record: {res.saved} demonstrations saved, {res.discarded} failed ones discarded, "
        f"{sum(res.durations) / max(len(res.durations), 1):.1f} s per episode")


def stage_convert(a: argparse.Namespace, out: Path) -> None:
    # config/dataset/demo.yaml: receive times, the cameras and the cube's pose as
    # observation.pose.object (act_demo_state reads it, act_demo_pixels leaves it out), the still
    # frames at each episode's start trimmed (that file says why); the robot comes from the
    # recorder's episode.yaml
    run(module_cmd("bag_to_dataset.convert_cli", str(out / "bags"), "--mapping", "demo",
                   "--output", str(out / "dataset"), "--fps", str(int(a.fps)), "--codec", "h264"))
    run(module_cmd("bag_to_dataset.validate_cli", str(out / "dataset")))


def stage_train(a: argparse.Namespace, out: Path) -> None:
    cmd = module_cmd("policy.train_cli", "--dataset", str(out / "dataset"), "--output", str(out / "train"),
                     "--config", a.policy_config)
    if a.train_steps:
        cmd += ["--steps", str(a.train_steps)]
    if a.quick:
        cmd += ["--batch-size", "4"]
    if (out / "train" / "checkpoints" / "last").exists():
        cmd.append("--resume")
    cmd += ["--wandb"] * a.wandb + ["--tensorboard"] * a.tensorboard
    run(cmd)


def checkpoint_dir(out: Path) -> Path:
    return out / "train" / "checkpoints" / "last" / "pretrained_model"


def baselines(robot: str, episodes: int, seed: int, timeout_s: float) -> dict[str, list[bool]]:
    """The scripted expert and a do-nothing policy on the same seeded resets as the policy
    (the k-th reset of a sim seeded s is the k-th reset of SimEnv(seed=s)), without ROS."""
    from sim.env import SimEnv
    from sim.expert import ScriptedExpert, run_episode

    results: dict[str, list[bool]] = {"scripted expert": [], "do nothing": []}
    env = SimEnv(robot, cameras=None, seed=seed)
    expert = ScriptedExpert(env.cfg, env.model)
    for _ in range(episodes):
        env.reset()
        try:
            results["scripted expert"].append(bool(run_episode(env, expert)))
        except Exception:  # noqa: BLE001 - a planning failure is a failed episode
            results["scripted expert"].append(False)
    env = SimEnv(robot, cameras=None, seed=seed)
    for _ in range(episodes):
        env.reset()
        env.step_for(timeout_s)
        results["do nothing"].append(bool(env.task_success()))
    env.close()
    return results


def stage_eval(a: argparse.Namespace, out: Path) -> None:
    from tools.demo_ros import evaluate_policy

    res = evaluate_policy(sim_settings(a, a.eval_seed), checkpoint_dir(out), a.eval_episodes,
                          timeout_s=a.eval_timeout, logs=out / "logs" / "eval", video=out / "rollout.mp4",
                          progress=lambda m: say(f"eval: {m}"), node_params=node_params(a.policy_param))
    base = baselines(a.robot, a.eval_episodes, a.eval_seed, a.eval_timeout)
    summary = {
        "robot": a.robot, "episodes": a.eval_episodes, "seed": a.eval_seed,
        "success": {"ACT policy": res.successes, **base},
        "policy_outcomes": res.outcomes, "policy_commands": res.commands, "policy_out_of_limit_points": res.out_of_limits,
        "policy_max_step_between_commands": res.max_step, "policy_episode_times": res.times,
        "policy_points_per_trajectory": res.points_per_trajectory,
    }
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    log_eval(out, summary)
    say(f"eval: ACT {res.rate:.0%}, expert {sum(base['scripted expert'])}/{a.eval_episodes}, "
        f"do-nothing {sum(base['do nothing'])}/{a.eval_episodes}")


def node_params(pairs: list[str]) -> dict:
    """--policy-param NAME=VALUE entries as policy_node parameters (values read as YAML: 10, 0.5, chunk)."""
    import yaml

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"demo: --policy-param needs NAME=VALUE, got '{pair}'")
        if name in ("robot", "checkpoint"):
            raise SystemExit(f"demo: --policy-param {name} is set by the demo (--robot, the trained checkpoint)")
        out[name] = yaml.safe_load(value)
    return out


def log_eval(out: Path, summary: dict) -> None:
    """The success rates into the training run's trackers (policy train --wandb/--tensorboard), if any."""
    from policy.tracking import close_loggers, log_all, open_loggers

    loggers = open_loggers(out / "train", resume=True)
    if not loggers:
        return
    from policy.training_state import META

    state = checkpoint_dir(out).parent / META    # plain JSON: the step the evaluated checkpoint reached
    steps = int(json.loads(state.read_text())["step"]) if state.exists() else 0
    log_all(loggers, steps, {f"eval/success_rate/{name.replace(' ', '_')}": sum(r) / max(len(r), 1)
                             for name, r in summary["success"].items()} | {"eval/episodes": summary["episodes"]})
    close_loggers(loggers)


def stage_report(a: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = json.loads((out / "eval.json").read_text())
    rows = {k: (sum(v), len(v)) for k, v in summary["success"].items()}
    lines = [f"# Demo report ({summary['robot']}, {summary['episodes']} seeded evaluation resets)", "",
             "| policy | success | rate |", "|---|---|---|"]
    lines += [f"| {k} | {s}/{n} | {s / max(n, 1):.0%} |" for k, (s, n) in rows.items()]
    lines += ["", f"Policy commands: {summary['policy_commands']} trajectories, "
              f"{summary['policy_out_of_limit_points']} points outside the joint limits, largest step between "
              f"consecutive commands within an episode {summary['policy_max_step_between_commands']:.3f} rad."]
    failures = [o for o in summary.get("policy_outcomes", []) if o != "placed"]
    if failures:
        kinds: dict[str, int] = {}
        for o in failures:
            kinds[o.split(" (")[0]] = kinds.get(o.split(" (")[0], 0) + 1
        lines += ["", "Policy failures: " + "; ".join(f"{n}x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + "."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(5, 3))
    names = list(rows)
    ax.bar(names, [s / max(n, 1) for s, n in rows.values()], color=["tab:blue", "tab:green", "tab:gray"][: len(names)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(f"{summary['robot']}: pick and place, {summary['episodes']} resets")
    fig.tight_layout()
    fig.savefig(out / "success.png", dpi=100)
    plt.close(fig)
    print("\n".join(lines))


# the stages in the order they run, each a function of the arguments and the artifact folder
STAGES: dict[str, Callable[[argparse.Namespace, Path], None]] = {
    "record": stage_record,
    "convert": stage_convert,
    "train": stage_train,
    "eval": stage_eval,
    "report": stage_report,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from robot_common.spec import list_robots

    p = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robot", default="so101", choices=list_robots(), help="arm: config/robots/<robot>.yaml")
    p.add_argument("--out", default="output/demo", help="artifact folder")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--episodes", type=int, default=30, help="demonstrations to record")
    p.add_argument("--seed", type=int, default=0, help="seed of the recording resets")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--eval-seed", type=int, default=1000, help="seed of the evaluation resets (unseen in training)")
    p.add_argument("--eval-timeout", type=float, default=15.0, help="seconds per evaluation episode")
    p.add_argument("--train-steps", type=int, default=0, help="training steps (0: the policy config's)")
    p.add_argument("--policy-config", default="act_demo_state",
                   help="config/policy/<name>.yaml (act_demo_pixels: joint state + front and wrist images; "
                        "act_demo_state: joint state + the cube's pose from the sim)")
    p.add_argument("--policy-param", action="append", default=[], metavar="NAME=VALUE",
                   help="eval: a policy_node parameter (docs/policy.md), e.g. execution=chunk; repeatable")
    p.add_argument("--width", type=int, default=128, help="camera width (the policy resizes to its input size)")
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--fps", type=float, default=30.0, help="camera rate and dataset fps")
    p.add_argument("--direct-expert", action="store_true",
                   help="the expert commands the follower directly instead of leading through the teleop node")
    p.add_argument("--wandb", action="store_true", help="train: log to Weights & Biases (offline unless logged in); "
                                                          "eval adds the success rates to the same run")
    p.add_argument("--tensorboard", action="store_true", help="train and eval: TensorBoard events in <out>/train")
    p.add_argument("--quick", action="store_true", help="a few episodes and steps: checks the pipeline, not the policy")
    a = p.parse_args(argv)
    if a.quick:
        a.episodes, a.eval_episodes, a.train_steps, a.eval_timeout = 2, 2, 4, 5.0
    unknown = set(a.stages.split(",")) - set(STAGES)
    if unknown:
        p.error(f"unknown stages {sorted(unknown)}; choose from {list(STAGES)}")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        import robot_common  # noqa: F401 - the workspace's packages, installed or on PYTHONPATH
    except ModuleNotFoundError:
        raise SystemExit("demo: the workspace packages are not importable; run `make demo`, or "
                         "`make build && source install/setup.bash` first") from None
    out = Path(a.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    chosen = a.stages.split(",")
    for name, stage in STAGES.items():
        if name in chosen:
            t0 = time.monotonic()
            say(f"== {name}")
            stage(a, out)
            say(f"{name} took {time.monotonic() - t0:.0f} s")
    say(f"done in {(time.monotonic() - t_start) / 60:.1f} min; artifacts in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
