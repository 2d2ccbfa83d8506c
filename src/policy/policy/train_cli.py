"""`policy train`: train a policy (ACT, or the model section's `type`) on a LeRobot v3.0 dataset.

    policy train --dataset data/pick_cube --output outputs/act_demo --config act_demo
    policy train --dataset data/pick_cube --output outputs/act_demo --config act_demo --resume
    policy train ... --set model.chunk_size=50 --set train.steps=2000
    policy train ... --plugin my_pkg.my_policy --set model.type=my_policy   (a registered plugin type)
    torchrun --nproc_per_node 2 -m policy.train_cli --dataset ... --output ...   (DDP; batch_size is per rank)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import yaml

from policy.config import TrainConfig, load_yaml_config


def find_config(name: str) -> Path:
    """A path, or a name in config/policy/ (source tree or the installed share folder)."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    stem = p.stem if p.suffix else name
    roots = [Path(__file__).resolve().parents[3] / "config" / "policy"]
    try:
        from ament_index_python.packages import get_package_share_directory

        roots.append(Path(get_package_share_directory("policy")) / "config" / "policy")
    except Exception:  # noqa: BLE001 - no ament index: source tree only
        pass
    for root in roots:
        if (root / f"{stem}.yaml").is_file():
            return root / f"{stem}.yaml"
    raise FileNotFoundError(f"training config '{name}' not found (looked in {[str(r) for r in roots]})")


def apply_overrides(sections: dict[str, dict], overrides: list[str]) -> None:
    for item in overrides:
        key, sep, value = item.partition("=")
        section, _, field = key.partition(".")
        if not sep or section not in sections or not field:
            raise ValueError(f"--set expects <model|workspace|train>.<field>=<value>, got '{item}'")
        sections[section][field] = yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="LeRobot v3.0 dataset folder (meta/, data/, videos/)")
    parser.add_argument("--output", required=True, help="output folder (checkpoints/, losses.csv, loss.png)")
    parser.add_argument("--config", default="act_default", help="config/policy/<name>.yaml or a path (default act_default)")
    parser.add_argument("--steps", type=int, help="override train.steps")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--device", help="override train.device (auto, cpu, cuda, cuda:1)")
    parser.add_argument("--resume", action="store_true", help="continue from <output>/checkpoints/last")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override a field")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                        help="import a module that registers policy types (policy.base.register_policy)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    parser.add_argument("--wandb", action="store_true",
                        help="log to Weights & Biases (offline run in <output>/wandb unless logged in)")
    parser.add_argument("--tensorboard", action="store_true", help="log TensorBoard events to <output>/tensorboard")
    args = parser.parse_args(argv)

    from policy.base import load_plugins
    from policy.dataset import DatasetError
    from policy.distributed import DistributedError
    from policy.train import train

    rank = int(os.environ.get("RANK", "0") or 0)
    who = f"policy train (rank {rank})" if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else "policy train"

    try:
        load_plugins(args.plugin)
        model_cfg, ws_cfg, train_raw = load_yaml_config(find_config(args.config))
        sections = {"model": model_cfg, "workspace": ws_cfg, "train": train_raw}
        apply_overrides(sections, args.set)
        for field, value in (("steps", args.steps), ("batch_size", args.batch_size), ("device", args.device)):
            if value is not None:
                train_raw[field] = value
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = set(train_raw) - known
        if unknown:
            raise ValueError(f"unknown train settings {sorted(unknown)}")
        from policy.tracking import Prefixed, close_loggers, open_loggers

        # one W&B run / TensorBoard folder per training: rank 0's (train() logs from rank 0 only)
        loggers = open_loggers(args.output, wandb=args.wandb, tensorboard=args.tensorboard, resume=args.resume,
                               config={"train": train_raw, "model": model_cfg, "dataset": str(args.dataset)}
                               ) if rank == 0 else []
        try:
            result = train(args.dataset, args.output, model_cfg, ws_cfg, TrainConfig(**train_raw),
                           resume=args.resume, progress=not args.no_progress,
                           loggers=[Prefixed(lg, "train/") for lg in loggers])
        finally:
            close_loggers(loggers)   # also when train() failed before its loop (closing twice is harmless)
    except DistributedError as exc:  # a peer rank died or stalled: not bad input, but no traceback either
        print(f"{who}: {exc}", file=sys.stderr)
        return 1
    except (DatasetError, FileNotFoundError, FileExistsError, ValueError, TypeError) as exc:
        print(f"{who}: {exc}", file=sys.stderr)
        return 2
    if rank != 0:
        return 0
    print(f"trained {result.step} steps: loss {result.first_loss:.4f} -> {result.last_loss:.4f}, "
          f"{result.samples_per_s:.1f} samples/s; checkpoint {result.output / 'checkpoints' / 'last'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
