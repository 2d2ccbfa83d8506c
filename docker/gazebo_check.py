"""Gazebo simulation check (run inside docker/, which has Gazebo Sim and ros2_control).

For each arm (default: every arm in config/robots): launch `robot_common bringup.launch.py
hardware:=gazebo`, wait until joint_states carries every joint, send a 2 s trajectory on
<arm controller>/joint_trajectory and check the arm reaches it. Exit code 0 only when every arm passes.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np


def check_robot(robot: str, timeout: float) -> str | None:
    import rclpy
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from robot_common import dds
    from robot_common.conversions import joint_state_to_arrays, make_trajectory
    from robot_common.spec import load_robot_spec

    dds.apply(os.environ)    # the launch and this process in the workspace's DDS environment (docs/dds.md)
    spec = load_robot_spec(robot)
    launch = subprocess.Popen(
        ["ros2", "launch", "robot_common", "bringup.launch.py", f"robot:={robot}", "hardware:=gazebo", "gz_headless:=true"],
        start_new_session=True,
    )
    rclpy.init()
    node = rclpy.create_node(f"gazebo_check_{robot}")
    latest: dict = {}
    node.create_subscription(JointState, "joint_states", lambda m: latest.__setitem__("msg", m), 10)
    pub = node.create_publisher(JointTrajectory, f"{spec.arm_controller}/joint_trajectory", 10)
    try:
        deadline = time.monotonic() + timeout

        def spin_until(pred) -> bool:
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
                if pred():
                    return True
            return False

        def current():
            try:
                return joint_state_to_arrays(latest["msg"], spec.joint_names)[0]
            except (KeyError, ValueError):
                return None

        if not spin_until(lambda: current() is not None):
            return "no /joint_states with every arm joint"
        time.sleep(5.0)  # spawners activate the controllers
        start = current()
        target = np.clip(start + 0.2, spec.lower + 0.05, spec.upper - 0.05)
        pub.publish(make_trajectory(spec.joint_names, target[None], [2.0]))
        if not spin_until(lambda: np.max(np.abs(current() - target)) < 0.02):
            return f"arm did not reach the target: error {np.abs(current() - target).round(3).tolist()}"
        return None
    finally:
        node.destroy_node()
        rclpy.shutdown()
        os.killpg(launch.pid, signal.SIGINT)
        launch.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", nargs="+", default=None,
                        help="arms to check (default: every arm in config/robots, robot_common.spec.list_robots())")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.robots is None:
        from robot_common.spec import list_robots

        args.robots = list_robots()
    failures = {r: err for r in args.robots if (err := check_robot(r, args.timeout))}
    for robot in args.robots:
        print(f"{robot}: {'FAIL ' + failures[robot] if robot in failures else 'ok'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
