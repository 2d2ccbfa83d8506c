"""Errors shared by checkpoint loading, normalisation and training state (one module, no cycles)."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded, with the reason."""
