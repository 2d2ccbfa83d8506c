"""FrameSource / CaptureLoop / StreamStats on really encoded video files (no ROS)."""
import threading
import time

import numpy as np
import pytest

from robot_common.testing import wait_for
from sensors.capture_loop import DISCONNECTED, FINISHED, STREAMING, CaptureLoop
from sensors.frame_source import (
    CaptureSettings,
    EndOfStream,
    FrameSource,
    SourceError,
    SourceKind,
    SourceSpec,
    capture_stamp_ns,
)
from sensors.stream_stats import StreamStats
from sensors.synthetic_video import frame_index, pattern_frame, write_pattern_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_pattern_video(tmp_path_factory.mktemp("video") / "pattern.mp4", 20)


def test_source_spec_parsing():
    assert SourceSpec.parse("0") == SourceSpec(SourceKind.DEVICE, 0)
    assert SourceSpec.parse("/dev/video2") == SourceSpec(SourceKind.DEVICE, "/dev/video2")
    assert SourceSpec.parse("rtsp://cam.local/stream").kind is SourceKind.URL
    assert SourceSpec.parse("file:///tmp/a.mp4") == SourceSpec(SourceKind.FILE, "/tmp/a.mp4")
    assert SourceSpec.parse("clip.mp4").kind is SourceKind.FILE
    with pytest.raises(ValueError, match="empty camera source"):
        SourceSpec.parse("  ")


def test_file_frames_decode_in_order_with_rising_stamps(video):
    src = FrameSource(str(video), CaptureSettings(realtime=False))
    src.open()
    assert src.size == (320, 240) and src.rate == pytest.approx(30.0)
    frames, stamps = [], []
    with pytest.raises(EndOfStream, match="after 20 frames"):
        while True:
            bgr, stamp = src.read()
            frames.append(bgr)
            stamps.append(stamp)
    assert len(frames) == 20
    assert [frame_index(f[..., ::-1]) for f in frames] == list(range(20))
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    # OpenCV hands BGR: the red half of the pattern is in channel 2
    left = frames[5][120, 40].astype(int)
    assert left[2] > 150 and left[0] < 80
    assert np.abs(frames[5][60:, :].astype(int) - pattern_frame(5)[60:, :, ::-1]).mean() < 4
    src.close()


def test_looping_file_wraps_around(video):
    src = FrameSource(str(video), CaptureSettings(realtime=False, loop=True))
    src.open()
    indices = [frame_index(src.read()[0][..., ::-1]) for _ in range(45)]
    assert indices == [i % 20 for i in range(45)]
    src.close()


def test_realtime_replay_is_paced(video):
    src = FrameSource(str(video), CaptureSettings(fps=200.0, realtime=True))
    before = time.time_ns()
    src.open()
    stamps = [src.read()[1] for _ in range(10)]
    # paced at 200 fps from the open: frame 9 is not due before 45 ms (a lower bound, not a timing check)
    assert stamps[-1] - before >= 44e6


def test_missing_and_broken_sources_say_why(tmp_path):
    with pytest.raises(SourceError, match=r"video file .*nope.mp4 does not exist"):
        FrameSource(str(tmp_path / "nope.mp4")).open()
    with pytest.raises(SourceError, match=r"camera device /dev/video_absent does not exist \(unplugged\?\)"):
        FrameSource("/dev/video_absent").open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="cannot open file .*junk.mp4|holds no decodable frame"):
        src = FrameSource(str(junk))
        src.open()
        src.read()


def test_driver_stamp_shifted_onto_wall_clock():
    wall, mono = 1_700_000_000_000_000_000, 5_000_000_000
    assert capture_stamp_ns(wall, mono, 4990.0) == wall - 10_000_000  # frame filled 10 ms before grab returned
    assert capture_stamp_ns(wall, mono, None) == wall
    assert capture_stamp_ns(wall, mono, 0.0) == wall                   # backend gave no timestamp
    assert capture_stamp_ns(wall, mono, 1000.0) == wall                # implausible (4 s old): grab time


def test_stream_stats_counts_gaps_as_drops():
    stats = StreamStats(expected_fps=30.0, window_s=10.0)
    period = int(1e9 / 30)
    t = 10**9
    for _ in range(10):
        t += period
        stats.add(t)
    assert stats.add(t + 3 * period) == 2  # two frames missing
    stats.add(t + 3 * period)              # repeated stamp
    snap = stats.snapshot()
    assert snap.frames == 12 and snap.dropped == 2 and snap.non_monotonic == 1
    assert snap.fps == pytest.approx(11 * 1e9 / (12 * period), rel=1e-6)
    stats.reset_gap()
    assert stats.add(t + 100 * period) == 0  # an outage after a reconnect is not counted as drops
    assert stats.add(t + 105 * period, lossless=True) == 0  # a file replayed late lost nothing
    assert stats.snapshot().late == 1 and stats.dropped == 2


def test_capture_loop_waits_for_missing_file_then_streams(tmp_path):
    path = tmp_path / "late.mp4"
    states: list[tuple[str, str]] = []
    got: list[int] = []
    done = threading.Event()

    def on_state(state, message):
        states.append((state, message))
        if state == FINISHED:
            done.set()

    loop = CaptureLoop(FrameSource(str(path), CaptureSettings(realtime=False)),
                       lambda f, s, i: got.append(frame_index(f[..., ::-1])), on_state, reconnect_period_s=0.1,
                       stats=StreamStats()).start()
    try:
        wait_for(lambda: loop.status.failed_opens >= 2, timeout=10, what="repeated open attempts")
        assert loop.status.state == DISCONNECTED
        assert "does not exist" in loop.status.message and str(path) in loop.status.message
        assert got == []
        write_pattern_video(path, 12)
        assert done.wait(20), states
    finally:
        loop.stop()
    assert got == list(range(12))
    assert [s for s, _ in states] == [DISCONNECTED, STREAMING, FINISHED]
    assert loop.status.reconnects == 1 and loop.stats.snapshot().frames == 12


def test_capture_loop_survives_a_failing_frame_handler(video):
    calls = []

    def handler(frame, stamp, seq):
        calls.append(seq)
        if seq == 3:
            raise RuntimeError("publisher gone")

    loop = CaptureLoop(FrameSource(str(video), CaptureSettings(realtime=False)), handler).start()
    try:
        wait_for(lambda: loop.status.state == FINISHED, timeout=20, what="end of file")
    finally:
        loop.stop()
    assert calls == list(range(20))
    assert loop.status.handler_errors == 1 and "publisher gone" in loop.status.last_error


def test_stop_while_waiting_returns_promptly(tmp_path):
    loop = CaptureLoop(FrameSource(str(tmp_path / "never.mp4")), lambda *a: None, reconnect_period_s=30.0).start()
    wait_for(lambda: loop.status.failed_opens >= 1, timeout=10, what="first open attempt")
    t0 = time.monotonic()
    loop.stop()
    assert time.monotonic() - t0 < 10  # the reconnect wait is interruptible (generous bound)


def test_stalled_stream_times_out():
    """A network camera that keeps the connection open but stops sending: the read gives up after
    timeout_s instead of hanging, so the capture loop can reconnect."""
    import socket

    import cv2

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    release = threading.Event()

    def serve():
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n")
        for i in range(3):
            buf = cv2.imencode(".jpg", pattern_frame(i)[..., ::-1])[1].tobytes()
            conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                         + buf + b"\r\n")
        release.wait(60)  # stall with the connection open
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    src = FrameSource(f"http://127.0.0.1:{port}/video", CaptureSettings(timeout_s=1.0))
    try:
        src.open()
        frames = 0
        with pytest.raises(SourceError, match="stopped delivering frames"):
            for _ in range(10):
                src.read()
                frames += 1
        assert 1 <= frames <= 3
    finally:
        release.set()
        src.close()
        srv.close()
