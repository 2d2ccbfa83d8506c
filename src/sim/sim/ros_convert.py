"""ROS message <-> sim conversions (imports the message packages; used by the nodes only)."""
from __future__ import annotations

import numpy as np

from robot_common.conversions import duration_to_sec, ns_to_stamp
from sim.trajectory import JointTrajectoryGoal, TrajectoryPoint


def goal_from_msg(msg, offset_ns: int) -> JointTrajectoryGoal:
    """trajectory_msgs/JointTrajectory -> goal in sim seconds (a zero stamp stays 0 = now)."""
    stamp_ns = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
    stamp = 0.0 if stamp_ns == 0 else (stamp_ns - offset_ns) * 1e-9
    points = [
        TrajectoryPoint(list(p.positions), duration_to_sec(p.time_from_start), list(p.velocities), list(p.accelerations))
        for p in msg.points
    ]
    return JointTrajectoryGoal(list(msg.joint_names), points, stamp)


def camera_info_msg(k: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str):
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(x) for x in k.reshape(9)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    p = np.zeros((3, 4))
    p[:, :3] = k
    msg.p = [float(x) for x in p.reshape(12)]
    return msg


def pose_stamped_msg(pos: np.ndarray, quat_wxyz: np.ndarray, stamp_ns: int, frame_id: str = "world"):
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
    w, x, y, z = (float(v) for v in quat_wxyz)
    msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = w, x, y, z
    return msg


def wrench_msg(force: np.ndarray, stamp_ns: int, frame_id: str):
    from geometry_msgs.msg import WrenchStamped

    msg = WrenchStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = (float(v) for v in force)
    return msg
