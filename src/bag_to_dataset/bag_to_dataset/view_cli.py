"""`bag_to_dataset view PATH [--save out.rrd]`: a recorded episode or a dataset episode in rerun.

    bag_to_dataset view data/sessions/2026-01-01/episode_000003
    bag_to_dataset view data/pick_cube --episode 2 --save ep2.rrd      # then: rerun ep2.rrd
    bag_to_dataset view data/pick_cube --web                           # http://localhost:9090

PATH: an MCAP bag folder, a recorder session folder (--episode picks one, default the first) or
a LeRobot v3.0 dataset. Without --save the viewer is spawned (a display is there) or served on a
local web port (headless, or --web) until Ctrl-C. Exit status: 0 shown or written, 2 bad input."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from .bagio import BagError
from .view import ViewError, view


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bag_to_dataset view", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("path", help="bag folder, recorder session folder or LeRobot v3.0 dataset")
    ap.add_argument("--save", metavar="OUT.rrd", help="write a rerun recording instead of opening a viewer")
    ap.add_argument("--episode", type=int, default=0, help="episode index in a session or dataset (default 0)")
    ap.add_argument("--web", action="store_true", default=None,
                    help="serve the web viewer on --web-port instead of spawning the native one")
    ap.add_argument("--web-port", type=int, default=9090, help="web viewer port (default 9090)")
    ap.add_argument("--grpc-port", type=int, default=9876, help="--web: rerun's data stream port (default 9876)")
    ap.add_argument("--video", choices=["auto", "native", "images"], default="auto",
                    help="dataset videos: rerun's video streams (native, needs ffmpeg), decoded images, or "
                         "native when ffmpeg is installed (auto)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        rec, counts = view(args.path, save=args.save, episode=args.episode, web=args.web, web_port=args.web_port,
                           video=args.video, grpc_port=args.grpc_port)
    except (ViewError, BagError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    if args.save:
        rec.disconnect()
        print(f"{args.save}: {len(counts)} streams ({summary})")
        return 0
    print(f"showing {args.path}: {len(counts)} streams ({summary})")
    if args.web or args.web is None and rec is not None and _served(rec):
        print(f"web viewer: http://localhost:{args.web_port} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    rec.disconnect()
    return 0


def _served(rec) -> bool:
    import os

    return not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")


if __name__ == "__main__":
    sys.exit(main())
