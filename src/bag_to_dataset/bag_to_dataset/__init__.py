"""rosbag2 -> LeRobot v3.0 dataset converter, bag inspection and dataset validation.

Python API: ``convert(inputs, mapping, output, ...)``, ``validate_dataset(root)``, ``load_mapping(name)``.
"""
from __future__ import annotations


def convert(*args, **kwargs):
    """See bag_to_dataset.pipeline.convert (imported lazily: PyAV and pyarrow load only when used)."""
    from .pipeline import convert as _convert

    return _convert(*args, **kwargs)


def validate_dataset(root, decode_video: bool = True) -> list[str]:
    from .validate import validate_dataset as _validate

    return _validate(root, decode_video)


def load_mapping(name_or_path):
    from .mapping import load_mapping as _load

    return _load(name_or_path)
