"""Loopback latency terms of the two-host setup (docs/scaling.md): what the policy host sees of the
arm host's cameras and joints, with every process on this machine (DDS on loopback).

Starts a camera_node (a 640x480 H.264 file replayed at 30 fps, publish_compressed:=true) and a
policy_node (a briefly trained so101 ACT checkpoint, camera 'front', autostart); this process plays
the arm: it publishes /joint_states at 100 Hz and subscribes what the policy commands. Prints:
  - camera frame -> policy input: callback time (after decoding, in policy.camera_inputs'
    subscription) - header.stamp (capture), raw rgb8 and JPEG, p50 / p99 / max ms
  - joint state -> command: every --toggle-s the joint states turn invalid (NaN) for --toggle-s; the
    node must answer the first control tick that sees one with a hold (a one-point trajectory instead
    of its usual five). Latency: that command's arrival minus the publish time of the first invalid
    message. It holds DDS both ways, the wait for the next 30 Hz control tick (0-33 ms) and the
    tick's work; not the model's inference, which runs beside the ticks (docs/policy.md).

    python bench/bench_two_host.py [--seconds 20] [--toggle-s 0.5] [--quality 90]

Add the network term for two hosts: bytes per frame / link rate + the link's round-trip share
(docs/scaling.md works it out for 1 GbE).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in sorted((ROOT / "src").iterdir()):
    if (pkg / "package.xml").exists():
        sys.path.insert(0, str(pkg))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
os.environ["PYTHONPATH"] = os.pathsep.join([str(p) for p in sorted((ROOT / "src").iterdir())
                                            if (p / "package.xml").exists()] + [os.environ.get("PYTHONPATH", "")])

from robot_common import dds  # noqa: E402

dds.apply(os.environ)

SMALL_MODEL = {"chunk_size": 10, "n_action_steps": 10, "dim_model": 64, "n_heads": 4, "dim_feedforward": 128,
               "n_encoder_layers": 2, "n_decoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 8,
               "dropout": 0.0, "optimizer_lr": 2e-3, "optimizer_lr_backbone": 2e-3}


def checkpoint(root: Path, joint_names: list[str]) -> Path:
    import torch

    from policy.config import TrainConfig
    from policy.synthetic_dataset import write_dataset
    from policy.train import train

    torch.set_num_threads(1)
    ds = write_dataset(root / "ds", episodes=2, frames=30, dim=len(joint_names), cameras=("front",), height=48,
                       width=64, joint_names=joint_names)
    train(ds, root / "run", dict(SMALL_MODEL), {"image_size": [48, 64], "backbone_norm": "batch"},
          TrainConfig(steps=10, batch_size=8, log_every=10, save_every=1000, device="cpu"), progress=False)
    return root / "run"


def pct(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    a = np.asarray(xs)
    return f"p50 {np.percentile(a, 50):6.2f}  p99 {np.percentile(a, 99):6.2f}  max {a.max():6.2f} ms  (n={a.size})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--toggle-s", type=float, default=0.5)
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args()

    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from policy.camera_inputs import subscribe_camera
    from robot_common.conversions import ns_to_stamp, stamp_to_ns
    from robot_common.spec import load_robot_spec
    from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
    from sensors.synthetic_video import write_pattern_video

    spec = load_robot_spec("so101")
    names = spec.joint_names + [spec.gripper.joint]
    lo = np.array([j.lower for j in spec.joints] + [spec.gripper.lower])
    hi = np.array([j.upper for j in spec.joints] + [spec.gripper.upper])
    poses = [(lo + hi) / 2 + 0.1 * (hi - lo), np.full(len(names), np.nan)]   # valid, then invalid
    tmp = Path(tempfile.mkdtemp(prefix="bench_two_host-"))
    print("training a small checkpoint ...", flush=True)
    ckpt = checkpoint(tmp, names)
    video = write_pattern_video(tmp / "front.mp4", 90, 640, 480)

    cam_lat: dict[str, list[float]] = {"raw": [], "jpeg": []}
    cmds: list[tuple[int, int]] = []   # (receive ns, points)
    active = threading.Event()
    pose_lock = threading.Lock()
    pose = {"index": 0, "since_ns": 0, "first_pub_ns": None}
    switches: list[tuple[int, int]] = []   # (pose index, publish ns of its first message)

    camera = NodeProcess(python_module_cmd("sensors.camera_node", "--ros-args", "-p", "camera_name:=front",
                                           "-p", f"source:={video}", "-p", "loop:=true", "-p", "publish_compressed:=true",
                                           "-p", f"jpeg_quality:={a.quality}"), tmp / "camera.log")
    policy = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", "robot:=so101",
                                           "-p", f"checkpoint:={ckpt}", "-p", "autostart:=true",
                                           "-p", "torch_threads:=1"), tmp / "policy.log")
    try:
        with ProbeNode("bench_two_host") as probe:
            node = probe.node
            for kind in cam_lat:
                subscribe_camera(node, "/cameras/front/image_raw",
                                 lambda rgb, m, k=kind: cam_lat[k].append((time.time_ns() - stamp_to_ns(m.header.stamp)) / 1e6),
                                 compressed=kind == "jpeg")
            node.create_subscription(JointTrajectory, f"/{spec.arm_controller}/joint_trajectory",
                                     lambda m: cmds.append((time.time_ns(), len(m.points))), 10)
            node.create_subscription(String, "/policy/status",
                                     lambda m: json.loads(m.data).get("active") and active.set(), 10)
            pub = node.create_publisher(JointState, "/joint_states", QoSProfile(depth=10))
            stop = threading.Event()

            def arm() -> None:
                while not stop.is_set():
                    now = time.time_ns()
                    with pose_lock:
                        if pose["since_ns"] and now - pose["since_ns"] >= a.toggle_s * 1e9:
                            pose.update(index=1 - pose["index"], since_ns=now, first_pub_ns=None)
                        msg = JointState(name=names, position=[float(x) for x in poses[pose["index"]]])
                        msg.header.stamp = ns_to_stamp(now)
                        t_pub = time.time_ns()
                        pub.publish(msg)
                        if pose["since_ns"] and pose["first_pub_ns"] is None:
                            pose["first_pub_ns"] = t_pub
                            switches.append((pose["index"], t_pub))
                    time.sleep(0.01)

            t = threading.Thread(target=arm, daemon=True)
            t.start()
            wait_for(active.is_set, timeout=120, what="the policy node to become active")
            for lst in cam_lat.values():
                lst.clear()
            with pose_lock:
                pose["since_ns"] = time.time_ns()   # start toggling
            time.sleep(a.seconds)
            stop.set()
            t.join()
    finally:
        for p in (policy, camera):
            p.stop()

    js_cmd, skipped = [], 0
    for (idx, t0), nxt in zip(switches, [s[1] for s in switches[1:]] + [None]):
        if idx != 1:
            continue
        before = [n for t_rx, n in cmds if t_rx < t0]
        if not before or before[-1] == 1:   # the node was holding already (e.g. after the last fault)
            skipped += 1
            continue
        first = next((t_rx for t_rx, n in cmds if t_rx >= t0 and (nxt is None or t_rx < nxt) and n == 1), None)
        if first is not None:
            js_cmd.append((first - t0) / 1e6)
    print(f"loopback, one machine ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); {a.seconds:g} s")
    print(f"camera frame -> policy input, raw rgb8 640x480:   {pct(cam_lat['raw'])}")
    print(f"camera frame -> policy input, JPEG q{a.quality} 640x480: {pct(cam_lat['jpeg'])}")
    print(f"joint state -> command (30 Hz control):           {pct(js_cmd)}  ({skipped} faults skipped: "
          f"the node was not commanding yet)")
    gaps = np.diff([c[0] for c in cmds]) / 1e6 if len(cmds) > 1 else np.array([])
    if gaps.size:
        print(f"command interval: p50 {np.percentile(gaps, 50):.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
