"""The test helpers talk real DDS across processes on the run's own domain."""
import os
import sys

from robot_common.testing import NodeProcess, ProbeNode, ros_env, wait_for

TALKER = """
import rclpy, time
from std_msgs.msg import String
rclpy.init()
n = rclpy.create_node('talker')
p = n.create_publisher(String, 'chatter', 10)
for i in range(400):
    p.publish(String(data=f'hello {i}'))
    time.sleep(0.01)
"""


def test_message_crosses_processes_on_localhost(tmp_path):
    from std_msgs.msg import String

    from robot_common import dds

    # LOCALHOST, as robot_common.dds realizes it: the loopback profile with SYSTEM_DEFAULT (docs/dds.md)
    assert dds.requested_range(os.environ) == "LOCALHOST"
    assert dds.requested_range(ros_env()) == "LOCALHOST"
    assert ros_env()["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"]
    with ProbeNode("listener") as probe:
        got = probe.collect(String, "chatter")
        proc = NodeProcess([sys.executable, "-c", TALKER], tmp_path / "talker.log")
        try:
            wait_for(lambda: len(got) >= 5, timeout=20, what="5 messages from the talker process")
        finally:
            proc.stop()
    assert got[0][1].data.startswith("hello")
