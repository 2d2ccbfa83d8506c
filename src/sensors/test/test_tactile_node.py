"""tactile_node over real DDS on a really encoded video of a synthetic gel: untouched, then pressed
with a known contact disc and a known marker shift. Tolerances are looser than on raw images
(test_tactile_processing.py) because H.264 compression adds its own error."""
import numpy as np
import pytest

from robot_common.conversions import image_to_numpy, stamp_to_ns
from robot_common.paths import source_root
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
from sensors.gel_synth import Indentation, indented_markers, marker_grid, render_gel
from sensors.synthetic_video import write_video

W, H = 320, 240
PRESS = Indentation(cx=170.0, cy=120.0, radius=45.0, delta=40.0)
SHIFT = (2.0, -1.0)
UNTOUCHED, PRESSED = 10, 90  # replayed at 12 fps: 7 s pressed, time to call reset_reference on a loaded machine
TRUE_AREA = np.pi * PRESS.radius**2 / (W * H)


def reliable():
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def gel_video(tmp_path_factory):
    grid = marker_grid(W, H)
    frames = [render_gel(W, H, grid, seed=i) for i in range(UNTOUCHED)]
    frames += [render_gel(W, H, indented_markers(grid, SHIFT), indentations=[PRESS], seed=100 + i)
               for i in range(PRESSED)]
    return write_video(tmp_path_factory.mktemp("gel") / "gel.mp4", frames, fps=30, crf=8)


def test_tactile_topics_from_a_pressed_gel(tmp_path, gel_video):
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import WrenchStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, Float32MultiArray
    from std_srvs.srv import Trigger

    base = "/tactile/left_finger"
    with ProbeNode("tactile_test_probe") as probe:
        raw = probe.collect(Image, f"{base}/image_raw", reliable())
        masks = probe.collect(Image, f"{base}/contact_mask", reliable())
        diffs = probe.collect(Image, f"{base}/difference", reliable())
        wrenches = probe.collect(WrenchStamped, f"{base}/wrench", reliable())
        areas = probe.collect(Float32, f"{base}/contact_area", reliable())
        markers = probe.collect(Float32MultiArray, f"{base}/marker_displacement", reliable())
        diag = probe.collect(DiagnosticArray, "/diagnostics", 50)
        cmd = python_module_cmd(
            "sensors.tactile_node", "--ros-args", "--params-file", str(source_root() / "config/tactile/gelsight_mini.yaml"),
            "-p", "sensor_name:=left_finger", "-p", f"source:={gel_video}", "-p", "fps:=12.0", "-p", "skip_frames:=0",
            "-p", "reference_frames:=3", "-p", "wait_for_subscriber_s:=30.0", "-p", "diagnostics_period_s:=0.3",
            "-p", "qos_reliable:=true", "-p", "qos_depth:=200")  # exact counts however loaded the machine
        node = NodeProcess(cmd, tmp_path / "tactile.log")
        try:
            # pressed: the estimates settle on the known contact and shift
            wait_for(lambda: len(areas) >= UNTOUCHED + 10, timeout=90, what="contact estimates while pressed")
            reply = probe.call(Trigger, f"{base}/reset_reference", timeout=30)
            assert reply.success, reply.message
            assert "reference re-captured from 3 frames" in reply.message
            after_reset = len(areas)
            wait_for(lambda: any(s.values and any(kv.key == "state" and kv.value == "finished" for kv in s.values)
                                 for _, m in list(diag) for s in m.status), timeout=90, what="the end of the video")
            wait_for(lambda: len(raw) >= UNTOUCHED + PRESSED
                     and min(map(len, (masks, diffs, wrenches, areas, markers))) >= UNTOUCHED + PRESSED - 6,
                     timeout=30, what="every message of every frame")
        finally:
            assert node.stop() == 0, node.log_path.read_text()

    log = node.log_path.read_text()
    assert "reference captured" in log
    n_raw = len(raw)
    assert n_raw == UNTOUCHED + PRESSED, log
    first = raw[0][1]
    assert (first.encoding, first.width, first.height, first.header.frame_id) == ("rgb8", W, H, "left_finger_gel_frame")
    # derived topics start once the 3 reference frames are in; one message per frame on each topic
    for topic in (masks, diffs, wrenches, areas, markers):
        assert len(topic) == n_raw - 6, log  # 3 frames for the first reference, 3 for the re-capture
    mask = masks[15][1]
    assert (mask.encoding, mask.width, mask.height) == ("mono8", W, H)
    assert diffs[15][1].encoding == "rgb8"
    # untouched frames after the reference: nothing
    quiet = [a.data for _, a in areas[: UNTOUCHED - 3]]
    assert max(quiet) < 0.005
    # pressed: contact disc, load proxy and shear within tolerance
    pressed = [(a.data, w.wrench) for (_, a), (_, w) in zip(areas[UNTOUCHED - 3: after_reset - 3],
                                                            wrenches[UNTOUCHED - 3: after_reset - 3])]
    assert len(pressed) >= 10
    for area, wrench in pressed:
        assert area == pytest.approx(TRUE_AREA, rel=0.15)
        assert wrench.force.z == pytest.approx(TRUE_AREA * PRESS.delta / 255.0, rel=0.25)
        assert (wrench.force.x, wrench.force.y) == pytest.approx(SHIFT, abs=0.35)
        assert wrench.torque.x == wrench.torque.y == wrench.torque.z == 0.0
    m = masks[UNTOUCHED - 3 + 5][1]
    mask_img = image_to_numpy(m)
    assert mask_img[int(PRESS.cy), int(PRESS.cx)] == 255 and mask_img[5, 5] == 0
    table = markers[UNTOUCHED - 3 + 5][1]
    assert [d.label for d in table.layout.dim] == ["markers", "x_ref,y_ref,dx,dy,tracked"]
    rows = np.asarray(table.data, np.float32).reshape(table.layout.dim[0].size, 5)
    assert rows.shape[0] == len(marker_grid(W, H))
    np.testing.assert_allclose(np.median(rows[:, 2:4], axis=0), SHIFT, atol=0.3)
    # after the reference was re-captured on the pressed gel, that state reads as no contact
    tail = [a.data for _, a in areas[after_reset + 2:]]
    assert tail and max(tail) < 0.005
    assert abs(wrenches[-1][1].wrench.force.x) < 0.3
    stamps = [stamp_to_ns(w.header.stamp) for _, w in wrenches]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert set(stamps) <= {stamp_to_ns(r.header.stamp) for _, r in raw}  # derived topics carry the frame's stamp
