"""Training-time image augmentation: DrQ's random shift (pad by `pad` pixels with edge replication,
then crop back to the original size at a random offset; Kostrikov et al. 2020).

One offset is drawn per sample and applied to every observation frame of that sample: all its
cameras (unless per_camera) and, for (B, T, C, H, W) stacks, all its time steps, so frames of one
sample stay consistent with each other. Applied to the batch in [0, 1] before normalisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor


def shift_offsets(batch_size: int, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """(B, 2) integer (dy, dx) crop offsets in [0, 2 * pad]."""
    return torch.randint(0, 2 * pad + 1, (batch_size, 2), generator=generator)


def apply_shift(images: Tensor, offsets: Tensor, pad: int) -> Tensor:
    """Shift (B, C, H, W) or (B, T, C, H, W) images by per-sample offsets (B, 2) from shift_offsets."""
    if pad <= 0:
        return images
    stacked = images.dim() == 5
    x = images.flatten(1, 2) if stacked else images  # time steps share the sample's offset
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    out = torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
    return out.reshape(images.shape)


def random_shift(batch: dict[str, Tensor], image_keys: list[str], pad: int, per_camera: bool = False,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The batch with every camera in image_keys randomly shifted (a new dict; other keys shared)."""
    if pad <= 0 or not image_keys:
        return batch
    out = dict(batch)
    bsz = batch[image_keys[0]].shape[0]
    offsets = shift_offsets(bsz, pad, generator)
    for key in image_keys:
        if per_camera and key != image_keys[0]:
            offsets = shift_offsets(bsz, pad, generator)
        out[key] = apply_shift(batch[key], offsets, pad)
    return out
