"""policy speed: ACT inference latency per chunk (p50/p99) on CPU for LeRobot's default and the demo
configuration, training samples/s, and control-loop deadline misses at 30 Hz with asynchronous
inference (goal: zero). Prints figures only; numbers depend on the machine's load.

    python bench/bench_policy.py [--iters 20] [--control-seconds 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("policy", "robot_common"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from policy.act import ACTPolicyModule  # noqa: E402
from policy.checkpoint import Checkpoint  # noqa: E402
from policy.config import ACTConfig, TrainConfig, WorkspaceConfig  # noqa: E402
from policy.controller import ControlParams, PolicyController  # noqa: E402
from policy.inference import PolicyRunner  # noqa: E402
from policy.normalize import Normalizer  # noqa: E402
from robot_common.spec import load_robot_spec  # noqa: E402

SPEC = load_robot_spec("so101")
NAMES = SPEC.joint_names + [SPEC.gripper.joint]


def load_model_section(name: str) -> dict:
    with open(ROOT / "config" / "policy" / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def make_policy(name: str, cameras: list[str], hw: tuple[int, int]) -> PolicyRunner:
    """An untrained policy with the named config's architecture (latency does not depend on weights)."""
    data = load_model_section(name)
    ws = WorkspaceConfig.from_dict(data["workspace"])
    ws.state_names = ws.action_names = NAMES
    feats = {"observation.state": {"type": "STATE", "shape": [6]}}
    feats.update({f"observation.images.{c}": {"type": "VISUAL", "shape": [3, *hw]} for c in cameras})
    cfg = ACTConfig(input_features=feats, output_features={"action": {"type": "ACTION", "shape": [6]}}, **data["model"])
    stats = {k: {"mean": np.zeros(v["shape"][:1] if v["type"] != "VISUAL" else (3, 1, 1)),
                 "std": np.ones(v["shape"][:1] if v["type"] != "VISUAL" else (3, 1, 1))}
             for k, v in {**feats, "action": {"type": "ACTION", "shape": [6]}}.items()}
    model = ACTPolicyModule(cfg, ws).eval()
    return PolicyRunner(Checkpoint(cfg, ws, model, Normalizer(cfg, stats), Path("."), "bench"))


def observation(policy: PolicyRunner, cam_hw: tuple[int, int]) -> dict:
    rng = np.random.default_rng(0)
    obs = {"observation.state": np.r_[SPEC.home, 0.5].astype(np.float32)}
    for k in policy.image_keys:
        obs[k] = rng.integers(0, 255, (*cam_hw, 3), dtype=np.uint8)
    return obs


def bench_latency(label: str, policy: PolicyRunner, cam_hw: tuple[int, int], iters: int) -> None:
    obs = observation(policy, cam_hw)
    policy.predict_chunk(obs)  # warm-up
    t = []
    for _ in range(iters):
        t0 = time.perf_counter()
        policy.predict_chunk(obs)
        t.append(time.perf_counter() - t0)
    t = np.array(t) * 1e3
    n = sum(p.numel() for p in policy.model.parameters()) / 1e6
    print(f"  {label:<44} {n:6.1f} M params  p50 {np.percentile(t, 50):7.1f} ms  p99 {np.percentile(t, 99):7.1f} ms"
          f"  max {t.max():7.1f} ms  (chunk {policy.cfg.chunk_size})")


def bench_training(steps: int) -> None:
    from policy.synthetic_dataset import write_dataset
    from policy.train import train

    data = load_model_section("act_demo")
    with tempfile.TemporaryDirectory() as tmp:
        ds = write_dataset(Path(tmp) / "ds", episodes=4, frames=60, dim=6, cameras=("front", "wrist"),
                           height=240, width=320, joint_names=NAMES)
        cfg = TrainConfig(**{**data["train"], "steps": steps, "save_every": 10**9, "log_every": 10**9,
                             "device": "cpu", "torch_threads": torch.get_num_threads()})
        t0 = time.perf_counter()
        res = train(ds, Path(tmp) / "run", data["model"], data["workspace"], cfg, progress=False)
        print(f"  act_demo, batch {cfg.batch_size}, 2 cameras 96x128: {res.samples_per_s:6.1f} samples/s "
              f"({res.samples_per_s / cfg.batch_size:5.2f} steps/s; {steps} steps incl. setup "
              f"{time.perf_counter() - t0:5.1f} s)")


def bench_control(label: str, policy: PolicyRunner, cam_hw: tuple[int, int], seconds: float, rate: float,
                  execution: str) -> None:
    """The node's control path in-process: a 30 Hz loop ticking PolicyController while its worker
    thread runs inference and fresh observations arrive from a publisher thread."""
    params = ControlParams(rate_hz=rate, execution=execution, trajectory_points=5, stale_timeout_s=1.0)
    ctl = PolicyController(SPEC, policy, params)
    obs = observation(policy, cam_hw)
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            now = time.monotonic()
            ctl.on_joint_state(dict(zip(NAMES, np.r_[SPEC.home, 0.5])), now)
            for k in policy.image_keys:
                ctl.obs.update_image(k, obs[k], now)
            time.sleep(1 / 30)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    time.sleep(0.1)
    ok, msg = ctl.start()
    assert ok, msg
    period = 1.0 / rate
    late, busy, commands = [], [], 0
    next_t = time.monotonic() + period
    end = next_t + seconds
    while next_t < end:
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        start = time.monotonic()
        cmd = ctl.tick()
        done = time.monotonic()
        commands += cmd is not None and not cmd.hold
        late.append(start - next_t)
        busy.append(done - start)
        next_t += period
    stop.set()
    ctl.shutdown()
    late, busy = np.array(late) * 1e3, np.array(busy) * 1e3
    misses = int(np.sum(late + busy > period * 1e3))
    inf = np.array(ctl.stats["inference_s"]) * 1e3
    print(f"  {label:<44} ticks {len(late):4d}  deadline misses {misses:3d}  tick late p99 {np.percentile(late, 99):5.1f} ms"
          f"  tick work p99 {np.percentile(busy, 99):4.2f} ms  chunks {ctl.stats['chunks']:4d}"
          f"  inference p50 {np.percentile(inf, 50):6.1f} ms  commands {commands}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=20, help="inference repetitions per configuration")
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--control-seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"bench_policy: torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    default = make_policy("act_default", ["front"], (480, 640))
    demo = make_policy("act_demo", ["front", "wrist"], (96, 128))
    print("inference latency per chunk (CPU):")
    bench_latency("act_default (LeRobot), 1 camera 480x640", default, (480, 640), max(5, args.iters // 4))
    bench_latency("act_demo, 2 cameras 96x128 (from 240x320)", demo, (240, 320), args.iters)
    print("training throughput (CPU):")
    bench_training(args.train_steps)
    print(f"control loop at 30 Hz, asynchronous inference, {args.control_seconds:g} s each:")
    bench_control("act_demo, temporal ensembling", demo, (240, 320), args.control_seconds, 30.0, "ensemble")
    bench_control("act_demo, chunks + overlap blend", demo, (240, 320), args.control_seconds, 30.0, "chunk")
    bench_control("act_default, temporal ensembling", default, (480, 640), args.control_seconds, 30.0, "ensemble")
    return 0


if __name__ == "__main__":
    sys.exit(main())
