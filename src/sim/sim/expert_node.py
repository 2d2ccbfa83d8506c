"""`sim expert`: filled in by its own issue."""
import sys


def main(argv: list[str] | None = None) -> int:
    print("sim expert: not implemented yet in this workspace version", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
