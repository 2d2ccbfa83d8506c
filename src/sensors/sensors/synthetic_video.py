"""Really encoded test videos (H.264 through PyAV) whose frames can be recognised after decoding:
the tests and the bench replay them through the camera node as a camera would be read."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

INDEX_STEP = 5  # brightness step per frame index in the top strip


def pattern_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """HxWx3 RGB: red left half, blue right half (catches RGB/BGR swaps), and a top strip whose
    grey level encodes the frame index."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (200, 30, 30)
    img[:, width // 2:] = (30, 30, 200)
    img[: height // 6] = (index * INDEX_STEP) % 250
    return img


def frame_index(rgb: np.ndarray) -> int:
    """Inverse of pattern_frame's strip (index modulo 50)."""
    strip = rgb[2: rgb.shape[0] // 6 - 2, 4:-4].astype(float).mean()
    return int(round(strip / INDEX_STEP))


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int = 30, crf: int = 12) -> Path:
    """Encode RGB frames to an H.264 MP4 (written to a temporary name, then renamed: a reader never
    sees a half-written file)."""
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    container = av.open(str(tmp), "w")
    stream = None
    for img in frames:
        if stream is None:
            stream = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "ultrafast"})
            stream.width, stream.height = img.shape[1], img.shape[0]
            stream.pix_fmt = "yuv420p"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
            container.mux(packet)
    if stream is None:
        container.close()
        tmp.unlink(missing_ok=True)
        raise ValueError("write_video needs at least one frame")
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    tmp.replace(path)
    return path


def write_pattern_video(path: str | Path, count: int, width: int = 320, height: int = 240, fps: int = 30) -> Path:
    return write_video(path, (pattern_frame(i, width, height) for i in range(count)), fps)
