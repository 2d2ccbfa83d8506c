"""Training data at scale: peak memory and samples/s of frames cached in memory vs streamed (decoded
per sample, policy.frames.VideoFrames) as a synthetic dataset grows. Each measurement runs in a
fresh process (its peak RSS is the figure); prints figures only, numbers depend on the machine.

    python bench/bench_streaming.py [--episodes 10 200] [--frames 30] [--size 96 128] [--samples 400]
                                    [--workers 0 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [str(ROOT / "src" / pkg) for pkg in ("policy", "robot_common", "bag_to_dataset")]


def child(args: argparse.Namespace) -> None:
    """One measurement: open the dataset (cached or streamed), draw --samples frames in batches of 8."""
    import torch
    from torch.utils.data import DataLoader

    from policy.dataset import LeRobotChunkDataset
    from policy.distributed import FrameSampler
    from policy.frames import worker_context

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = LeRobotChunkDataset(args.child, chunk_size=20, cache_frames=args.mode == "cached")
    t_open = time.perf_counter() - t0
    loader = DataLoader(data, batch_size=8, sampler=FrameSampler(len(data), 8, seed=0), num_workers=args.workers,
                        drop_last=True, multiprocessing_context=worker_context(args.workers))
    batches = iter(loader)
    next(batches)  # workers started, first decode done
    t1, n = time.perf_counter(), 0
    while n < args.samples:
        n += next(batches)["action"].shape[0]
    rate = n / (time.perf_counter() - t1)
    del batches  # joins the workers, so their peak RSS is counted under RUSAGE_CHILDREN
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rows": len(data), "decoded_mb": data.decoded_size() / 2**20, "open_s": t_open,
                      "samples_per_s": rate, "peak_rss_mb": me, "worker_peak_rss_mb": workers}))


def _run(cmd: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCES + [os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--frames", type=int, default=30, help="frames per episode")
    parser.add_argument("--size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers (streamed)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.workers = args.workers[0]
        child(args)
        return
    h, w = args.size
    print(f"one camera {h}x{w}, {args.frames} frames/episode, chunk 20, batch 8, {args.samples} samples, "
          f"torch threads {args.threads}")
    print(f"{'episodes':>8} {'rows':>6} {'decoded MB':>10} {'mode':>12} {'open s':>7} {'samples/s':>10} "
          f"{'peak RSS MB':>11} {'worker RSS MB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for eps in args.episodes:
            root = Path(tmp) / f"ds{eps}"
            _run([sys.executable, "-c", "import sys; from policy.synthetic_dataset import write_dataset; "
                  f"write_dataset(sys.argv[1], episodes={eps}, frames={args.frames}, dim=6, height={h}, width={w})",
                  str(root)])
            runs = [("cached", 0)] + [("streamed", k) for k in args.workers]
            for mode, workers in runs:
                out = json.loads(_run([sys.executable, __file__, "--child", str(root), "--mode", mode, "--workers",
                                       str(workers), "--samples", str(args.samples), "--threads", str(args.threads)]))
                label = mode if mode == "cached" else f"streamed/{workers}w"
                print(f"{eps:>8} {out['rows']:>6} {out['decoded_mb']:>10.1f} {label:>12} {out['open_s']:>7.2f} "
                      f"{out['samples_per_s']:>10.0f} {out['peak_rss_mb']:>11.0f} "
                      f"{out['worker_peak_rss_mb'] if workers else 0:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
