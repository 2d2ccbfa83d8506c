"""`bag_to_dataset validate DATASET...`: check datasets against every LeRobot v3.0 invariant."""
from __future__ import annotations

import argparse
import sys

from .validate import validate_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bag_to_dataset validate", description=__doc__)
    ap.add_argument("datasets", nargs="+", help="dataset root folders (holding meta/info.json)")
    ap.add_argument("--no-decode", action="store_true", help="skip decoding every video frame (faster)")
    args = ap.parse_args(argv)
    rc = 0
    for root in args.datasets:
        problems = validate_dataset(root, decode_video=not args.no_decode)
        if problems:
            rc = 1
            print(f"{root}: INVALID ({len(problems)} problems)")
            for msg in problems:
                print(f"  - {msg}")
        else:
            print(f"{root}: valid LeRobot v3.0 dataset")
    return rc


if __name__ == "__main__":
    sys.exit(main())
