"""Video through PyAV: a streaming constant-frame-rate encoder and a remuxing concatenator."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .mapping import VideoSettings

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder otherwise; keep errors only


def codec_name(settings: VideoSettings) -> str:
    """The name LeRobot's info.json uses (video.codec)."""
    return "av1" if settings.codec == "libsvtav1" else "h264"


class StreamingEncoder:
    """Encodes frames as they come (memory bounded): frame k gets pts k, i.e. time k / fps."""

    def __init__(self, path: Path, fps: int, width: int, height: int, settings: VideoSettings, threads: int = 1):
        import av

        if width % 2 or height % 2:
            raise ValueError(f"yuv420p video needs even width and height, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.container = av.open(str(self.path), "w", format="mp4")
        opts = {"g": str(settings.g), "crf": str(settings.crf), "preset": str(settings.preset)}
        if settings.codec == "libsvtav1":
            opts["svtav1-params"] = f"lp={max(1, threads)}"
        else:
            opts["threads"] = str(max(1, threads))
        self.stream = self.container.add_stream(settings.codec, rate=fps, options=opts)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = settings.pix_fmt
        self.stream.time_base = Fraction(1, fps)
        self.stream.codec_context.time_base = Fraction(1, fps)
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        import av
        import cv2

        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame {self.frames} is {rgb.shape[1]}x{rgb.shape[0]}, "
                             f"the episode's video is {self.width}x{self.height}")
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = self.stream.codec_context.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def concat_videos(parts: list[Path], frame_counts: list[int], fps: int, out: Path) -> None:
    """Remux episode videos back to back (no re-encoding); part k starts at sum(earlier frames) / fps."""
    import av

    out_c = av.open(str(out), "w", format="mp4")
    out_s = None
    offset_frames = 0
    try:
        for part, count in zip(parts, frame_counts):
            with av.open(str(part)) as in_c:
                in_s = in_c.streams.video[0]
                if out_s is None:
                    out_s = out_c.add_stream_from_template(in_s, opaque=True)
                    out_s.time_base = in_s.time_base
                shift = int(round(Fraction(offset_frames, fps) / in_s.time_base))
                for pkt in in_c.demux(in_s):
                    if pkt.dts is None:
                        continue
                    pkt.pts += shift
                    pkt.dts += shift
                    pkt.stream = out_s
                    out_c.mux(pkt)
            offset_frames += count
    finally:
        out_c.close()


def decoded_frame_times(path: Path) -> tuple[list[float], dict]:
    """Decode every frame (as a loader would) and return their timestamps and the stream facts."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        facts = {"codec": s.codec_context.name, "width": s.codec_context.width, "height": s.codec_context.height,
                 "pix_fmt": s.codec_context.pix_fmt, "audio_streams": len(c.streams.audio)}
        times = [float(f.pts * f.time_base) for f in c.decode(s)]
    return times, facts


class ImageHistogram:
    """Per-channel 256-bin histograms of sampled frames: exact min/max/mean/std/quantiles, mergeable."""

    def __init__(self):
        self.counts = np.zeros((3, 256), dtype=np.int64)

    def add(self, rgb: np.ndarray, stride: int = 4) -> None:
        sub = rgb[::stride, ::stride]
        for c in range(3):
            self.counts[c] += np.bincount(sub[:, :, c].ravel(), minlength=256)
