"""`bag_to_dataset inspect`: filled in by its own issue."""
import sys


def main(argv: list[str] | None = None) -> int:
    print("bag_to_dataset inspect: not implemented yet in this workspace version", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
