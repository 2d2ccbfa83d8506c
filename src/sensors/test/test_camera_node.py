"""camera_node over real DDS, fed by really encoded videos and a live MJPEG-over-TCP stream."""
import socket
import threading
import time

import numpy as np
import pytest

from robot_common.conversions import stamp_to_ns
from robot_common.paths import source_root
from robot_common.testing import NodeProcess, ProbeNode, python_module_cmd, wait_for
from sensors.image_codec import decode_compressed
from sensors.synthetic_video import frame_index, pattern_frame, write_pattern_video

ROOT = source_root()
FRAMES = 40


def sensor_qos(depth: int = 100, reliable: bool = False):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def statuses(diag: list, name: str) -> list:
    """(level, message, values) of every /diagnostics status whose name contains `name`."""
    return [(s.level[0], s.message, {kv.key: kv.value for kv in s.values})
            for _, m in list(diag) for s in m.status if name in s.name]


def camera_cmd(*params: str, params_file: str | None = None) -> list[str]:
    args = ["--ros-args"]
    if params_file:
        args += ["--params-file", str(ROOT / params_file)]
    for p in params:
        args += ["-p", p]
    return python_module_cmd("sensors.camera_node", *args)


@pytest.fixture(scope="module")
def probe():
    with ProbeNode("camera_test_probe") as p:
        yield p


def test_video_file_replay_publishes_every_frame(tmp_path, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    video = write_pattern_video(tmp_path / "front.mp4", FRAMES)
    # reliable on both ends (qos_reliable), so every frame the node publishes must arrive, however loaded
    # the machine; the default best-effort QoS is exercised by the tests below
    images = probe.collect(Image, "/cameras/front/image_raw", sensor_qos(reliable=True))
    infos = probe.collect(CameraInfo, "/cameras/front/camera_info", sensor_qos(reliable=True))
    jpegs = probe.collect(CompressedImage, "/cameras/front/image_raw/compressed", sensor_qos(reliable=True))
    diag = probe.collect(DiagnosticArray, "/diagnostics", 50)
    # the workspace's own config for the front camera, with a video file as the camera
    cmd = camera_cmd(f"source:={video}", "publish_compressed:=true", "wait_for_subscriber_s:=30.0",
                     "qos_reliable:=true", "qos_depth:=100", params_file="config/cameras/uvc_front.yaml")
    node = NodeProcess(cmd, tmp_path / "camera.log")
    try:
        wait_for(lambda: any(v["state"] == "finished" for _, _, v in statuses(diag, "camera front")),
                 timeout=90, what="the replay to finish")
        wait_for(lambda: min(len(images), len(infos), len(jpegs)) >= FRAMES, timeout=30, what="the last frames")
    finally:
        assert node.stop() == 0, node.log_path.read_text()
    assert len(images) == FRAMES and len(infos) == FRAMES, node.log_path.read_text()
    msgs = [m for _, m in images]
    assert {(m.width, m.height, m.encoding, m.step) for m in msgs} == {(320, 240, "rgb8", 960)}
    assert {m.header.frame_id for m in msgs} == {"front_optical_frame"}
    stamps = [stamp_to_ns(m.header.stamp) for m in msgs]
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "capture stamps must increase"
    assert abs(stamps[-1] - time.time_ns()) < 120e9  # wall-clock stamps, not zero or file time
    rgb = [np.frombuffer(bytes(m.data), np.uint8).reshape(240, 320, 3) for m in msgs]
    assert [frame_index(f) for f in rgb] == list(range(FRAMES))
    assert np.abs(rgb[7][60:].astype(int) - pattern_frame(7)[60:]).mean() < 4  # RGB order, decoded content
    # camera_info: same stamps, the 640x480 calibration scaled to the file's 320x240
    info_stamps = sorted(stamp_to_ns(m.header.stamp) for _, m in infos)
    assert info_stamps == stamps
    info = infos[0][1]
    assert (info.width, info.height) == (320, 240) and info.k[0] == pytest.approx(228.5)
    assert "scaled to the delivered 320x240" in node.log_path.read_text()
    assert len(jpegs) == FRAMES
    assert np.abs(decode_compressed(jpegs[-1][1]).astype(int) - rgb[-1]).mean() < 4
    level, message, values = statuses(diag, "camera front")[-1]
    assert level == 0 and "after 40 frames" in message
    assert values["frames"] == str(FRAMES) and values["frames_dropped"] == "0" and values["codec"] == "numpy"


def test_missing_file_reports_error_then_recovers(tmp_path, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    path = tmp_path / "later.mp4"
    images = probe.collect(Image, "/cameras/late/image_raw", sensor_qos())
    diag = probe.collect(DiagnosticArray, "/diagnostics", 50)
    node = NodeProcess(camera_cmd("camera_name:=late", f"source:={path}", "reconnect_period_s:=0.2",
                                  "diagnostics_period_s:=0.2"), tmp_path / "late.log")
    try:
        wait_for(lambda: any(lv == 2 for lv, _, _ in statuses(diag, "camera late")), timeout=60,
                 what="an ERROR diagnostic for the missing file")
        level, message, values = next(s for s in statuses(diag, "camera late") if s[0] == 2)
        assert f"video file {path} does not exist" in message and values["state"] == "disconnected"
        assert "[ERROR]" in node.log_path.read_text() and "does not exist" in node.log_path.read_text()
        assert images == []
        write_pattern_video(path, 15)
        wait_for(lambda: statuses(diag, "camera late")[-1][2]["state"] == "finished", timeout=60,
                 what="the replay to finish once the file exists")
    finally:
        assert node.stop() == 0, node.log_path.read_text()
    values = statuses(diag, "camera late")[-1][2]
    assert values["frames"] == "15" and values["reconnects"] == "1"
    # best effort: a loaded machine may lose a frame on the way, never reorder or invent one
    seen = [frame_index(np.frombuffer(bytes(m.data), np.uint8).reshape(240, 320, 3)) for _, m in images]
    assert len(seen) >= 10 and seen == sorted(set(seen)) and set(seen) <= set(range(15))


class MjpegHttpCamera:
    """A network camera as IP cameras serve one: multipart MJPEG over HTTP, to one client at a time;
    stop() is the pulled cable."""

    def __init__(self, port: int, tint: tuple[int, int, int]) -> None:
        self.port, self.tint = port, tint
        self.sent = 0
        self._stop = threading.Event()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", port))
        self._srv.listen(1)
        self._srv.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import cv2

        conn = None
        while not self._stop.is_set() and conn is None:
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
        if conn is not None:
            conn.settimeout(5)
            try:
                conn.recv(4096)  # the GET request
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n")
            except OSError:
                conn = None
        i = 0
        while conn is not None and not self._stop.is_set():
            img = pattern_frame(i)
            img[40:, :40] = self.tint
            ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            try:
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                             + buf.tobytes() + b"\r\n")
            except OSError:
                break
            self.sent += 1
            i += 1
            time.sleep(1 / 30)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._srv.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_unplugged_and_replugged(tmp_path, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    port = free_port()
    images = probe.collect(Image, "/cameras/net/image_raw", sensor_qos())
    diag = probe.collect(DiagnosticArray, "/diagnostics", 50)
    tint = lambda m: tuple(np.frombuffer(bytes(m.data), np.uint8).reshape(240, 320, 3)[120, 10])  # noqa: E731
    first = MjpegHttpCamera(port, (0, 255, 0))
    node = NodeProcess(camera_cmd("camera_name:=net", f"source:=http://127.0.0.1:{port}/video", "fps:=30.0",
                                  "reconnect_period_s:=0.3", "diagnostics_period_s:=0.2"), tmp_path / "net.log")
    try:
        wait_for(lambda: len(images) >= 10, timeout=60, what="frames from the first connection")
        first.stop()  # cable pulled
        wait_for(lambda: any(lv == 2 for lv, _, _ in statuses(diag, "camera net")), timeout=60,
                 what="an ERROR diagnostic after the stream vanished")
        error = next(m for lv, m, _ in statuses(diag, "camera net") if lv == 2)
        assert f"url http://127.0.0.1:{port}/video" in error and ("stopped delivering" in error or "cannot open" in error)
        before = len(images)
        second = MjpegHttpCamera(port, (255, 255, 0))  # plugged back in
        try:
            wait_for(lambda: len(images) >= before + 10, timeout=60, what="frames after reconnecting")
            wait_for(lambda: any(int(v["reconnects"]) >= 1 for _, _, v in statuses(diag, "camera net")),
                     timeout=20, what="the reconnect on /diagnostics")
        finally:
            second.stop()
    finally:
        assert node.stop() == 0, node.log_path.read_text()
    assert np.abs(np.subtract(tint(images[0][1]), (0, 255, 0))).max() < 40
    assert np.abs(np.subtract(tint(images[-1][1]), (255, 255, 0))).max() < 40
    stamps = [stamp_to_ns(m.header.stamp) for _, m in images]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_bad_calibration_file_is_a_clear_startup_error(tmp_path):
    node = NodeProcess(camera_cmd("source:=0", f"camera_info_url:={tmp_path}/none.yaml"), tmp_path / "bad.log")
    node.proc.wait(timeout=60)
    assert node.stop() == 2
    assert f"camera_info_url: camera calibration file {tmp_path}/none.yaml does not exist" in node.log_path.read_text()
