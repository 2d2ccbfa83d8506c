"""`bag_to_dataset edit`: delete episodes, split off a validation set, merge datasets. Every
command writes a new LeRobot v3.0 dataset and leaves its inputs as they are.

    bag_to_dataset edit delete datasets/pick --episodes 3,7-9 -o datasets/pick_clean
    bag_to_dataset edit split  datasets/pick --val-fraction 0.2 -o datasets/pick_split   # -> train/, val/
    bag_to_dataset edit merge  datasets/monday datasets/tuesday -o datasets/pick_all

Exit status: 0 done (the output passes `validate`), 2 a bad argument or inputs that cannot be
edited as asked (one line saying why; nothing is written)."""
from __future__ import annotations

import argparse
import sys

from .edit import EditError, delete_episodes, load_dataset, merge_datasets, parse_episodes, pick_val, split_dataset


def main(argv: list[str] | None = None) -> int:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(prog="bag_to_dataset edit", description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("delete", help="a copy without some episodes")
    d.add_argument("dataset")
    d.add_argument("--episodes", required=True, help="episode indices to delete: 3,7-9")
    d.add_argument("-o", "--output", required=True)
    s = sub.add_parser("split", help="train/ and val/ datasets, by episode")
    s.add_argument("dataset")
    group = s.add_mutually_exclusive_group(required=True)
    group.add_argument("--val-episodes", help="episode indices for val: 0,5-6")
    group.add_argument("--val-fraction", type=float, help="share of episodes for val, chosen at random")
    s.add_argument("--seed", type=int, default=0, help="seed of the random choice (--val-fraction)")
    s.add_argument("-o", "--output", required=True, help="folder for train/ and val/")
    m = sub.add_parser("merge", help="one dataset from several with the same features, fps and robot_type")
    m.add_argument("datasets", nargs="+")
    m.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    try:
        if args.command == "delete":
            total = len(load_dataset(args.dataset).episodes)
            info = delete_episodes(args.dataset, parse_episodes(args.episodes, total), args.output)
            print(f"{args.output}: {info['total_episodes']} episodes, {info['total_frames']} frames")
        elif args.command == "split":
            total = len(load_dataset(args.dataset).episodes)
            val = parse_episodes(args.val_episodes, total) if args.val_episodes else \
                pick_val(total, args.val_fraction, args.seed)
            train_info, val_info = split_dataset(args.dataset, val, args.output)
            print(f"{args.output}/train: {train_info['total_episodes']} episodes; {args.output}/val: "
                  f"{val_info['total_episodes']} episodes (source episodes {val})")
        else:
            if len(args.datasets) < 2:
                raise EditError("merge needs at least two datasets")
            info = merge_datasets(args.datasets, args.output)
            print(f"{args.output}: {info['total_episodes']} episodes, {info['total_frames']} frames, "
                  f"{info['total_tasks']} tasks")
    except (EditError, OSError) as exc:
        print(f"bag_to_dataset edit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
