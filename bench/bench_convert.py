"""bag_to_dataset speed: frames/s and real-time factor for one and three 640x480 cameras, next to a
straightforward single-process baseline (deserialize every message, keep the frames, encode after)
measured in the same run on the same bags with the same codec settings. Prints figures only.

    python bench/bench_convert.py [--episodes 3] [--seconds 6] [--codec libsvtav1] [--cameras 1,3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

W, H = 640, 480
CAMERA_NAMES = ["front", "wrist", "side"]


def make_frame_fn():
    """A moving crop of a large textured image: realistic motion for the encoder, cheap to make."""
    import numpy as np

    from bag_to_dataset.synthetic import synth_image

    base = [synth_image(7 * c, 2 * W, 2 * H, c) for c in range(3)]

    def frame(k: int, w: int, h: int, cam: int):
        y, x = (3 * k) % H, (5 * k) % W
        return np.ascontiguousarray(base[cam][y: y + h, x: x + w])
    return frame


def write_bags(folder: Path, cameras: int, episodes: int, seconds: float) -> list[Path]:
    from bag_to_dataset.synthetic import write_session
    from robot_common.spec import load_robot_spec

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    write_session(folder, episodes, names, robot="so101", task="bench", duration=seconds,
                  cameras={CAMERA_NAMES[c]: (W, H) for c in range(cameras)}, frame_fn=make_frame_fn(), jitter=0.001)
    return sorted(p for p in folder.iterdir() if p.is_dir())


def mapping_file(folder: Path, cameras: int, codec: str) -> Path:
    import yaml

    from robot_common.paths import find_config

    with open(find_config("dataset", "sim")) as f:
        data = yaml.safe_load(f)
    feats = {k: v for k, v in data["features"].items() if not k.startswith("observation.images.")}
    for c in range(cameras):
        feats[f"observation.images.{CAMERA_NAMES[c]}"] = {"topic": f"/cameras/{CAMERA_NAMES[c]}/image_raw",
                                                          "type": "image", "time": "header"}
    data["features"] = feats
    data["video"] = {"codec": codec} if codec == "libsvtav1" else {"codec": codec, "crf": 23, "preset": "veryfast"}
    path = folder / f"map_{cameras}.yaml"
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path


def run_ours(bags: list[Path], mapping: Path, out: Path) -> int:
    from bag_to_dataset import convert

    result = convert(bags, mapping, out, progress=False)
    assert result.ok, result.failures
    return sum(e["length"] for e in result.episodes)


def run_baseline(bags: list[Path], mapping: Path, out: Path) -> int:
    """What a first attempt looks like: deserialize everything, hold every frame, then encode and write."""
    import av
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from bag_to_dataset.align import StreamTimes, align_streams
    from bag_to_dataset.mapping import load_mapping
    from robot_common.conversions import image_to_numpy, joint_state_to_arrays, stamp_to_ns

    m = load_mapping(mapping).bind("so101")
    ts = get_typestore(Stores.ROS2_JAZZY)
    out.mkdir(parents=True)
    total = 0
    for e, bag in enumerate(bags):
        streams: dict[str, tuple[list, list]] = {}
        with Reader(bag) as reader:
            for conn, _, raw in reader.messages():
                msg = ts.deserialize_cdr(raw, conn.msgtype)
                t, v = streams.setdefault(conn.topic, ([], []))
                t.append(stamp_to_ns(msg.header.stamp))
                if conn.msgtype.endswith("Image"):
                    v.append(image_to_numpy(msg))
                else:
                    v.append(joint_state_to_arrays(msg, m.features[0].names)[0])
        al = align_streams([StreamTimes(k, np.asarray(t, dtype=np.int64)) for k, (t, _) in streams.items()], m.fps)
        cols = {}
        for f in m.features:
            topic = f.sources[0].topic
            picked = [streams[topic][1][i] for i in al.indices[topic]]
            if f.is_video:
                with av.open(str(out / f"{f.name}_{e}.mp4"), "w") as c:
                    s = c.add_stream(m.video.codec, rate=m.fps, options={"g": str(m.video.g), "crf": str(m.video.crf),
                                                                          "preset": str(m.video.preset)})
                    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
                    for img in picked:
                        c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
                    c.mux(s.encode(None))
            else:
                cols[f.name] = pa.array([p.astype(np.float32).tolist() for p in picked])
        n = al.length
        cols["timestamp"] = pa.array((np.arange(n) / m.fps).astype(np.float32))
        cols["frame_index"] = pa.array(np.arange(n))
        pq.write_table(pa.table(cols), out / f"episode_{e}.parquet")
        total += n
    return total


def child(variant: str, bags: list[str], mapping: str, out: str) -> None:
    t0, c0 = time.perf_counter(), os.times()
    frames = (run_ours if variant == "ours" else run_baseline)([Path(b) for b in bags], Path(mapping), Path(out))
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    c1 = os.times()
    cpu = sum(c1[i] - c0[i] for i in range(4))   # user + system, this process and its finished workers
    print(json.dumps({"frames": frames, "wall_s": time.perf_counter() - t0, "cpu_s": cpu, "max_rss_mb": rss / 1024}))


def measure(variant: str, bags: list[Path], mapping: Path, out: Path) -> dict:
    """Each variant in a fresh process, so peak memory (max RSS of it or one of its workers) is its own."""
    shutil.rmtree(out, ignore_errors=True)
    before = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", variant, str(mapping), str(out), *map(str, bags)],
                          capture_output=True, text=True, env=dict(os.environ, SVT_LOG="1"))
    if proc.returncode:
        raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["process_s"] = time.perf_counter() - before
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="episode length")
    ap.add_argument("--codec", default="libsvtav1", choices=["libsvtav1", "libx264"])
    ap.add_argument("--cameras", default="1,3")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        variant, mapping, out, *bags = args.child
        child(variant, bags, mapping, out)
        return
    print(f"bench_convert: {args.episodes} episodes x {args.seconds:.0f} s at 30 fps, {W}x{H} rgb8 cameras, "
          f"codec {args.codec}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'cameras':>7} {'variant':>9} {'frames':>7} {'wall s':>7} {'frames/s':>9} {'images/s':>9} "
          f"{'x real time':>11} {'CPU ms/frame':>12} {'max RSS MB':>10}")
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        tmp = Path(tmp)
        for cams in (int(c) for c in args.cameras.split(",")):
            bags = write_bags(tmp / f"bags_{cams}", cams, args.episodes, args.seconds)
            mapping = mapping_file(tmp, cams, args.codec)
            results = {}
            for variant in ("baseline", "ours"):
                r = measure(variant, bags, mapping, tmp / f"out_{variant}_{cams}")
                results[variant] = r
                fps = r["frames"] / r["wall_s"]
                print(f"{cams:>7} {variant:>9} {r['frames']:>7} {r['wall_s']:>7.2f} {fps:>9.1f} {fps * cams:>9.1f} "
                      f"{fps / 30:>11.2f} {1000 * r['cpu_s'] / r['frames']:>12.1f} {r['max_rss_mb']:>10.0f}", flush=True)
            speedup = results["baseline"]["wall_s"] / results["ours"]["wall_s"]
            cpu_ratio = results["baseline"]["cpu_s"] / results["ours"]["cpu_s"]
            print(f"{cams:>7} {'speedup':>9} {speedup:.2f}x wall, {cpu_ratio:.2f}x less CPU than the baseline")
            shutil.rmtree(tmp / f"bags_{cams}", ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these cores: compare rows of "
          f"one run, and prefer CPU ms/frame when the load is high)")


if __name__ == "__main__":
    main()
