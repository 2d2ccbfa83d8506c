"""`bag_to_dataset convert INPUT... --mapping NAME --output DIR`: bags -> LeRobot v3.0 dataset.

Exit status: 0 every episode converted; 1 some failed (each reported, the others are in the
dataset); 2 nothing converted, or a bad argument or mapping."""
from __future__ import annotations

import argparse
import logging
import sys

from .bagio import BagError
from .mapping import MappingError
from .pipeline import ConversionError, convert


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bag_to_dataset convert", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n")[1])
    ap.add_argument("inputs", nargs="+", help="bag directories (ros2 bag record, sqlite3 or MCAP) or recorder "
                                              "session directories")
    ap.add_argument("-m", "--mapping", required=True,
                    help="mapping name in config/dataset (sim, real, demo) or a mapping YAML path")
    ap.add_argument("-o", "--output", required=True, help="dataset root to create (or update)")
    ap.add_argument("--fps", type=int, help="override the mapping's fps")
    ap.add_argument("--task", help="task text for every episode (default: recorder metadata, then the mapping)")
    ap.add_argument("--robot", help="robot whose joint names and limits apply (config/robots/<robot>.yaml; "
                                    "default: the recorder metadata, then the mapping's robot)")
    ap.add_argument("--namespace", help="ROS namespace the bags were recorded in; relative mapping topics resolve in "
                                        "it (default: the recorder metadata, then /)")
    ap.add_argument("--robot-type", help="robot_type (default: recorder metadata, then the mapping, then the robot)")
    ap.add_argument("--codec", choices=["libsvtav1", "av1", "libx264", "h264"], help="override the video codec")
    ap.add_argument("-j", "--workers", type=int, help="episodes converted in parallel (default: CPU cores)")
    ap.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="convert the episodes as Ray tasks: on a private local Ray without ADDRESS, else on the "
                         "cluster at ADDRESS (ray://HOST:10001, HOST:6379 or auto; docs/scaling.md)")
    ap.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray (default: --workers, else the CPU cores)")
    ap.add_argument("--include-incomplete", action="store_true", help="also convert interrupted episodes")
    ap.add_argument("--force", action="store_true", help="re-convert every episode, ignoring finished work")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        result = convert(args.inputs, args.mapping, args.output, workers=args.workers, fps=args.fps,
                         task=args.task, robot_type=args.robot_type, codec=args.codec,
                         include_incomplete=args.include_incomplete, force=args.force,
                         progress=not args.no_progress, robot=args.robot, namespace=args.namespace,
                         ray=args.ray, ray_cpus=args.ray_cpus)
    except (BagError, ConversionError, MappingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # e.g. an output folder that cannot be written
        print(f"error: {exc.filename or args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if result.up_to_date:
        print(f"{result.output}: up to date ({len(result.episodes)} episodes from the same inputs); "
              f"use --force to convert again")
        return 0
    frames = sum(e["length"] for e in result.episodes)
    print(f"{result.output}: {len(result.episodes)} episodes, {frames} frames "
          f"({result.converted} converted, {result.reused} reused from an earlier run)")
    for e in result.episodes:
        gaps = {k: (v["gaps"], v["stale_frames"], v["dropped_frames"]) for k, v in e["report"].items()
                if v["gaps"] or v["stale_frames"] or v["dropped_frames"]}
        if gaps:
            print(f"  {e['name']}: gaps (gaps, stale frames, dropped frames): {gaps}")
        for feat, joints in (e.get("out_of_range") or {}).items():
            for joint, v in joints.items():
                print(f"  {e['name']}: WARNING {feat} {joint} reaches {v['worst']:.4g}, outside [{v['lower']:.4g}, "
                      f"{v['upper']:.4g}] in {v['frames']} frames (kept: out_of_range: keep)")
    for bag, why in result.skipped:
        print(f"skipped {bag}: {why}")
    for bag, err in result.failures:
        print(f"FAILED {bag}: {err}", file=sys.stderr)
    if result.failures:
        total = len(result.episodes) + len(result.failures)
        print(f"summary: {len(result.episodes)} of {total} episodes in {result.output}; {len(result.failures)} "
              f"failed (listed above), {len(result.skipped)} skipped", file=sys.stderr)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
