"""The one image preprocessing path of training and inference: colour order -> crop -> resize -> [0, 1].

Training (policy.dataset: decoded video frames) and the policy node (policy.inference: ROS image
messages) both go through these functions, so a camera frame reaches the network as the same tensor
in both; mean/std normalisation then happens in policy.normalize with the checkpoint's stats.

- colour: RGB everywhere (videos decode as rgb24; a bgr8 message is flipped by to_rgb);
- crop (optional, per camera: workspace `image_crop`): a box [top, left, height, width] in fractions
  of the frame, rounded to whole pixels, so the same box fits any camera resolution;
- resize: bilinear with antialiasing (torch), computed in float and rounded back to uint8, the
  precision video frames are stored with;
- scale: uint8 / 255 -> float32 in [0, 1], channels first.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

RESIZE_CHUNK = 256  # frames resized at once (bounds the float copy when a whole video is resized)


def to_rgb(img: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 image in `encoding` (rgb8 | bgr8) as RGB."""
    if encoding == "rgb8":
        return img
    if encoding == "bgr8":
        return img[:, :, ::-1]
    raise ValueError(f"need an rgb8 or bgr8 image, got encoding {encoding}")


def check_crop(box: list[float] | tuple[float, ...]) -> tuple[float, float, float, float]:
    """A crop box [top, left, height, width] (fractions of the frame) checked to lie inside it."""
    if len(box) != 4:
        raise ValueError(f"a crop box is [top, left, height, width], got {list(box)}")
    top, left, height, width = (float(v) for v in box)
    if min(top, left) < 0 or height <= 0 or width <= 0 or top + height > 1 + 1e-9 or left + width > 1 + 1e-9:
        raise ValueError(f"crop box {list(box)} must lie inside the frame: fractions with top + height <= 1 "
                         "and left + width <= 1")
    return top, left, height, width


def crop_uint8(frames: np.ndarray, box: list[float] | tuple[float, ...] | None) -> np.ndarray:
    """(..., H, W, 3) frames cut to the box (None: unchanged); a view, no copy."""
    if box is None:
        return frames
    top, left, height, width = check_crop(box)
    h, w = frames.shape[-3], frames.shape[-2]
    y0, x0 = int(round(top * h)), int(round(left * w))
    y1, x1 = max(int(round((top + height) * h)), y0 + 1), max(int(round((left + width) * w)), x0 + 1)
    return frames[..., y0:y1, x0:x1, :]


def resize_uint8(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """(H, W, 3) or (N, H, W, 3) uint8 frames resized to size=(H, W) (None or same size: unchanged)."""
    if frames.dtype != np.uint8 or frames.shape[-1] != 3 or frames.ndim not in (3, 4):
        raise ValueError(f"need HxWx3 or NxHxWx3 uint8 frames, got {frames.shape} {frames.dtype}")
    if size is None or tuple(frames.shape[-3:-1]) == tuple(size):
        return frames
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    out = np.empty((batch.shape[0], int(size[0]), int(size[1]), 3), dtype=np.uint8)
    for s in range(0, batch.shape[0], RESIZE_CHUNK):
        part = batch[s:s + RESIZE_CHUNK]
        if not (part.flags.writeable and part.flags.c_contiguous):  # e.g. a ROS message's buffer
            part = np.array(part)
        t = torch.from_numpy(part).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False, antialias=True)
        out[s:s + RESIZE_CHUNK] = t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out[0] if single else out


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> 3xHxW float32 in [0, 1]."""
    t = torch.from_numpy(img if img.flags.writeable and img.flags.c_contiguous else np.ascontiguousarray(img).copy())
    return t.permute(2, 0, 1).float() / 255.0


def prepare_image(img: np.ndarray, size: tuple[int, int] | None,
                  crop: list[float] | tuple[float, ...] | None = None) -> torch.Tensor:
    """A camera frame (HxWx3 uint8 RGB) as the network's input tensor (3xHxW in [0, 1] at size),
    cut to `crop` first."""
    return to_tensor(resize_uint8(crop_uint8(img, crop), size))
