"""Raw vs JPEG camera frames: bytes on the wire, bandwidth and CPU cost per frame (no DDS).

For 640x480 RGB frames (by default) of three kinds of content, prints per JPEG quality:
  - bytes/frame of the serialized message (sensor_msgs/Image rgb8 vs sensor_msgs/CompressedImage,
    CDR as DDS carries it) and MB/s at 30 fps
  - encode ms/frame (camera side: sensors.image_codec.compressed_jpeg, what camera_node publishes)
  - decode ms/frame (policy side: policy.camera_inputs.compressed_msg_to_rgb) against the raw path
    (policy.camera_inputs.image_msg_to_rgb), medians over the frames
  - the JPEG loss at the policy input (image_to_tensor to 96x128): mean and max |raw - jpeg| on [0, 1]
Content: `sim` frames of the MuJoCo scene (the front camera, a new cube placement every 10 frames), `noisy` gradients with
camera-like sensor noise (sigma 3 levels: the hard case for JPEG), `flat` the test pattern.

    python bench/bench_compressed.py [--frames 60] [--width 640 --height 480] [--quality 90 75]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in sorted((ROOT / "src").iterdir()):
    if (pkg / "package.xml").exists():
        sys.path.insert(0, str(pkg))
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def sim_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    from sim.env import SimEnv

    env = SimEnv("so101", cameras=("front",))
    out = []
    try:
        for k in range(n):
            if k % 10 == 0:
                env.reset(seed=k)   # another cube placement every 10 frames, so frames differ
            env.step_for(1 / 30)
            out.append(env.render("front", width, height))
    finally:
        env.close()
    return out


def noisy_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    from bag_to_dataset.synthetic import synth_image

    rng = np.random.default_rng(0)
    return [np.clip(synth_image(k, width, height).astype(np.int16) // 2 + 64 + rng.normal(0, 3, (height, width, 3)),
                    0, 255).astype(np.uint8) for k in range(n)]


def flat_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    from sensors.synthetic_video import pattern_frame

    return [pattern_frame(k, width, height) for k in range(n)]


def median_ms(fn, items) -> tuple[float, list]:
    times, out = [], []
    for x in items:
        t0 = time.perf_counter()
        out.append(fn(x))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--quality", type=int, nargs="+", default=[90, 75])
    ap.add_argument("--content", nargs="+", default=["sim", "noisy", "flat"], choices=["sim", "noisy", "flat"])
    a = ap.parse_args()

    from rclpy.serialization import serialize_message

    from policy.camera_inputs import compressed_msg_to_rgb, image_msg_to_rgb
    from policy.inference import image_to_tensor
    from robot_common.conversions import numpy_to_image
    from sensors.image_codec import compressed_jpeg

    make = {"sim": sim_frames, "noisy": noisy_frames, "flat": flat_frames}
    print(f"{a.width}x{a.height} RGB, {a.frames} frames per content, {a.fps:g} fps; medians per frame "
          f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    print(f"{'content':8} {'stream':10} {'bytes/frame':>12} {'MB/s':>8} {'encode ms':>10} {'decode ms':>10} "
          f"{'ratio':>6} {'mean err':>9} {'max err':>8}")
    for content in a.content:
        frames = make[content](a.frames, a.width, a.height)
        enc_raw, raw_msgs = median_ms(lambda f: numpy_to_image(f, "rgb8", stamp_ns=1, frame_id="front"), frames)
        raw_bytes = statistics.median(len(serialize_message(m)) for m in raw_msgs)
        dec_raw, raw_rgb = median_ms(image_msg_to_rgb, raw_msgs)
        print(f"{content:8} {'raw rgb8':10} {raw_bytes:12.0f} {raw_bytes * a.fps / 1e6:8.2f} {enc_raw:10.2f} "
              f"{dec_raw:10.2f} {1:6.1f} {'-':>9} {'-':>8}")
        for q in a.quality:
            enc, msgs = median_ms(lambda f, q=q: compressed_jpeg(f, q, 1, "front"), frames)
            size = statistics.median(len(serialize_message(m)) for m in msgs)
            dec, rgb = median_ms(compressed_msg_to_rgb, msgs)
            errs = [(image_to_tensor(r, (96, 128)) - image_to_tensor(j, (96, 128))).abs() for r, j in zip(raw_rgb, rgb)]
            mean = float(np.mean([e.mean().item() for e in errs]))
            worst = float(max(e.max().item() for e in errs))
            print(f"{content:8} {f'jpeg q{q}':10} {size:12.0f} {size * a.fps / 1e6:8.2f} {enc:10.2f} {dec:10.2f} "
                  f"{raw_bytes / size:6.1f} {mean:9.4f} {worst:8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
