"""`bag_to_dataset inspect BAG_OR_SESSION...`: topics, types, counts, rates, durations, gaps, per bag.

Exit status: 0 every bag read, 1 some could not be (each named on an error line), 2 none could."""
from __future__ import annotations

import argparse
import json
import sys

from .bagio import BagError, discover_episodes
from .inspect_bag import format_report, inspect_episode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bag_to_dataset inspect", description=__doc__)
    ap.add_argument("inputs", nargs="+", help="bag directories or recorder session directories")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    ap.add_argument("--gap-factor", type=float, default=3.0, help="gap = interval > factor x median period")
    ap.add_argument("--min-gap", type=float, default=0.0, help="never call an interval shorter than this (s) a gap")
    args = ap.parse_args(argv)
    try:
        episodes = discover_episodes(args.inputs)
    except BagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reports, rc = [], 0
    for ep in episodes:
        try:
            r = inspect_episode(ep, args.gap_factor, args.min_gap)
        except BagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            rc = 1
            continue
        reports.append(r)
        if not args.json:
            print(format_report(r))
    if args.json:
        print(json.dumps(reports, indent=1))
    return 2 if rc and not reports else rc     # 2: no input could be read; 1: some could not


if __name__ == "__main__":
    sys.exit(main())
