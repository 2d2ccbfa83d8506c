"""Synthetic load for recorder tests and benchmarks: joint states and camera images at fixed rates.

    python -m recorder.load_publisher --joint-hz 500 --cameras 2 --width 640 --height 480 --fps 30 --duration 10

Every message carries its sequence number in header.frame_id, so a bag can be checked message by
message. Prints `COUNTS {json}` (messages published per topic) when done.
"""
from __future__ import annotations

import argparse
import heapq
import json
import sys
import time

import numpy as np
import rclpy
import rclpy.duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState


def qos(reliable: bool, depth: int) -> QoSProfile:
    if depth <= 0:
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="load_publisher", description=__doc__.split("\n\n")[0])
    ap.add_argument("--joint-hz", type=float, default=500.0)
    ap.add_argument("--joint-topics", nargs="*", default=["/joint_states"])
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--camera-prefix", default="/cameras/cam")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--depth", type=int, default=0, help="publisher history depth; 0: keep all (reliable)")
    ap.add_argument("--best-effort-images", action="store_true")
    ap.add_argument("--wait-subscribers", type=float, default=20.0, help="seconds to wait for every topic to match")
    ap.add_argument("--ack-timeout", type=float, default=30.0, help="seconds to wait for reliable readers to ack")
    ap.add_argument("--start-file", default="", help="wait until this file exists before publishing")
    args = ap.parse_args(argv)

    rclpy.init()
    node = rclpy.create_node("load_publisher")
    streams = []   # (topic, period, publisher, make(seq) -> msg)
    joints = [f"joint{i}" for i in range(7)]
    for topic in args.joint_topics:
        pub = node.create_publisher(JointState, topic, qos(True, args.depth))

        def make_js(seq: int, stamp) -> JointState:
            return JointState(name=joints, position=[float(seq)] * 7, velocity=[0.0] * 7, effort=[0.0] * 7,
                              header=_header(stamp, seq))
        if args.joint_hz > 0:
            streams.append((topic, 1.0 / args.joint_hz, pub, make_js))
    pixels = np.random.default_rng(0).integers(0, 255, args.width * args.height * 3, dtype=np.uint8).tobytes()
    for i in range(args.cameras):
        topic = f"{args.camera_prefix}{i}/image_raw"
        pub = node.create_publisher(Image, topic, qos(not args.best_effort_images, args.depth))

        def make_img(seq: int, stamp) -> Image:
            return Image(header=_header(stamp, seq), height=args.height, width=args.width, encoding="rgb8",
                         step=args.width * 3, data=pixels)
        if args.fps > 0:
            streams.append((topic, 1.0 / args.fps, pub, make_img))

    deadline = time.monotonic() + args.wait_subscribers
    while any(p.get_subscription_count() == 0 for _, _, p, _ in streams) and time.monotonic() < deadline:
        time.sleep(0.05)
    unmatched = [t for t, _, p, _ in streams if p.get_subscription_count() == 0]
    if unmatched:
        print(f"warning: no subscriber on {unmatched}", file=sys.stderr, flush=True)
    if args.start_file:
        from pathlib import Path
        while not Path(args.start_file).exists():
            time.sleep(0.02)
    print("PUBLISHING", flush=True)

    counts = {t: 0 for t, *_ in streams}
    t0 = time.monotonic()
    heap = [(t0, k) for k in range(len(streams))]
    heapq.heapify(heap)
    end = t0 + args.duration
    late = 0.0
    while heap:
        due, k = heapq.heappop(heap)
        if due >= end:
            continue
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        topic, period, pub, make = streams[k]
        pub.publish(make(counts[topic], node.get_clock().now().to_msg()))
        counts[topic] += 1
        heapq.heappush(heap, (due + period, k))
    elapsed = time.monotonic() - t0
    # a reliable writer repairs lost samples on its next heartbeat: stay until every reader acked
    unacked = [t for t, _, p, _ in streams if p.qos_profile.reliability == ReliabilityPolicy.RELIABLE
               and not p.wait_for_all_acked(rclpy.duration.Duration(seconds=args.ack_timeout))]
    print(f"published for {elapsed:.2f} s, max lateness {late * 1e3:.1f} ms"
          + (f"; NOT ACKED by every reader: {unacked}" if unacked else ""), flush=True)
    print("COUNTS " + json.dumps(counts), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _header(stamp, seq: int):
    from std_msgs.msg import Header

    return Header(stamp=stamp, frame_id=str(seq))


if __name__ == "__main__":
    sys.exit(main())
