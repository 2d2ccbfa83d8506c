"""The node shape, seen from outside (real processes, real DDS): every node of sim, teleop and
sensors starts, stops cleanly on SIGINT and SIGTERM (exit 0, no traceback, no "context is
invalid" from a worker thread), and turns a bad parameter into one line and exit code 2. The
expert process is exactly one node, and its episode service answers while the node keeps serving.
"""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, ros_env, wait_for
from sensors.synthetic_video import write_pattern_video

BAD_OUTPUT = ("Traceback", "context is invalid", "RCLError", "Exception in thread")


def commands(video) -> dict[str, tuple[list[str], str]]:
    """node -> (command, a log line that says it is up and running)."""
    return {
        "sim_node": (python_module_cmd("sim.sim_node", "--ros-args", "-p", "cameras:=[front]", "-p", "image_width:=64",
                                       "-p", "image_height:=48"), "sim ready"),
        "expert": (python_module_cmd("sim.expert_node", "--ros-args", "-p", "mode:=leader"), "expert ready"),
        "teleop_node": (python_module_cmd("teleop.teleop_node"), "waiting for the leader"),
        "camera_node": (python_module_cmd("sensors.camera_node", "--ros-args", "-p", f"source:={video}",
                                          "-p", "loop:=true", "-p", "publish_compressed:=true"), "streaming"),
        "tactile_node": (python_module_cmd("sensors.tactile_node", "--ros-args", "-p", f"source:={video}",
                                           "-p", "loop:=true", "-p", "skip_frames:=0"), "reference captured"),
    }


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_pattern_video(tmp_path_factory.mktemp("video") / "clip.mp4", 30)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("node", ["sim_node", "expert", "teleop_node", "camera_node", "tactile_node"])
def test_stops_cleanly_on_a_signal(tmp_path, video, node, sig):
    cmd, ready = commands(video)[node]
    proc = NodeProcess(cmd, tmp_path / f"{node}.log")
    try:
        wait_for(lambda: ready in proc.log() or not proc.alive, 90, what=f"'{ready}' from {node}")
        assert proc.alive, proc.log()
        time.sleep(0.5)  # publishing threads at work
    finally:
        code = proc.stop(timeout=15, sig=sig)
    log = proc.log_path.read_text()
    assert code == 0, log[-3000:]
    assert not [b for b in BAD_OUTPUT if b in log], log[-3000:]


@pytest.mark.parametrize("module, param, name", [
    ("sim.sim_node", "scene:=kitchen", "scene"),
    ("sim.expert_node", "mode:=fast", "mode"),
    ("teleop.teleop_node", "rate_hz:=0.0", "rate_hz"),
    ("teleop.teleop_node", "leader.type:=joystick", "leader.type"),
    ("sensors.camera_node", "image_codec:=webp", "image_codec"),
    ("sensors.tactile_node", "qos_depth:=0", "qos_depth"),
])
def test_a_bad_parameter_is_one_line_and_exit_2(module, param, name):
    res = subprocess.run(python_module_cmd(module, "--ros-args", "-p", param), env=ros_env(),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"'{name}'" in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_calibration_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "cal.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    calibration: [1, 2\n")
    res = subprocess.run(python_module_cmd("teleop.teleop_node", "--ros-args", "-p", "leader.type:=so101",
                                           "-p", f"calibration_file:={bad}"),
                         env=ros_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    line = [x for x in res.stderr.splitlines() if "error:" in x]
    assert len(line) == 1 and str(bad) in line[0] and "not valid YAML" in line[0], res.stderr


def test_the_expert_is_one_node_and_answers_its_service_while_streaming(tmp_path):
    """No sim: an episode waits for joint_states and times out. The service answers with that
    after `timeout`, a second call meanwhile is refused, and the leader stream never pauses."""
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger

    with ProbeNode("expert_probe") as probe:
        # a follower for the leader stream to mirror (the episode waits for object poses, never sent)
        pub = probe.node.create_publisher(JointState, "/joint_states", 10)
        leader = probe.collect(JointState, "/expert/joint_states")
        proc = NodeProcess(python_module_cmd("sim.expert_node", "--ros-args", "-p", "mode:=leader",
                                             "-p", "timeout:=3.0"), tmp_path / "expert.log")
        try:
            from robot_common.conversions import make_joint_state
            from robot_common.spec import load_robot_spec

            spec = load_robot_spec("so101")
            names = spec.joint_names + [spec.gripper.joint]

            def follower_stream(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    pub.publish(make_joint_state(names, list(spec.home) + [0.5]))
                    time.sleep(0.01)

            wait_for(lambda: "expert ready" in proc.log(), 60, what="the expert")
            # publish until the expert mirrors it: discovery of this publisher can take seconds under load
            end = time.monotonic() + 30
            while len(leader) <= 5 and time.monotonic() < end:
                follower_stream(0.1)
            assert len(leader) > 5, "no expert/joint_states\n" + proc.log()
            nodes = [n for n in probe.node.get_node_names_and_namespaces() if n[0] != "expert_probe"]
            assert nodes.count(("expert", "/")) == 1 and len(nodes) == 1, nodes
            services = dict(probe.node.get_service_names_and_types_by_node("expert", "/"))
            assert "/expert/run_episode" in services

            client = probe.node.create_client(Trigger, "/expert/run_episode")
            assert client.wait_for_service(timeout_sec=10)
            first = client.call_async(Trigger.Request())
            time.sleep(0.5)
            second = client.call_async(Trigger.Request())
            n0 = len(leader)
            follower_stream(2.0)                    # the episode is under way: the stream goes on
            assert len(leader) - n0 > 40, "expert/joint_states paused while an episode ran"
            wait_for(second.done, 10, what="the refusal")
            assert not second.result().success and "already running" in second.result().message
            wait_for(first.done, 30, what="the episode's answer")
            assert not first.result().success and "TimeoutError" in first.result().message, first.result().message
        finally:
            code = proc.stop()
    assert code == 0 and "Traceback" not in proc.log_path.read_text()
