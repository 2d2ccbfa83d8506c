"""The LeRobot v3.0 on-disk layout, defined once: path templates, meta file names, file limits and
the default features, as LeRobot's `lerobot/datasets/utils.py` defines them for its own writer.

The writer (`bag_to_dataset.dataset`), the validator (`bag_to_dataset.validate`), the dataset
editor and the policy package's readers import these names instead of spelling paths out.

    root / INFO_PATH                                      # meta/info.json
    root / DEFAULT_DATA_PATH.format(chunk_index=0, file_index=3)
    data_files(root)                                      # every data/chunk-*/file-*.parquet, sorted
"""
from __future__ import annotations

from pathlib import Path

CODEBASE_VERSION = "v3.0"

META_DIR = "meta"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEO_DIR = "videos"

# One chunk folder holds up to `chunks_size` files; a file holds many episodes.
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
CHUNK_FILE_GLOB = "chunk-*/file-*"
DEFAULT_DATA_PATH = DATA_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_VIDEO_PATH = VIDEO_DIR + "/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
DEFAULT_EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_GLOB = DATA_DIR + "/" + CHUNK_FILE_GLOB + ".parquet"
EPISODES_GLOB = EPISODES_DIR + "/" + CHUNK_FILE_GLOB + ".parquet"

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200

# Every frame carries these five, always the last five features of info.json, in this order.
DEFAULT_FEATURES: dict[str, dict] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
VIDEO_NAMES = ["height", "width", "channels"]
VIDEO_INFO_KEYS = ("video.height", "video.width", "video.codec", "video.pix_fmt", "video.is_depth_map",
                   "video.fps", "video.channels", "has_audio")


def video_path(root: Path, video_key: str, chunk_index: int, file_index: int) -> Path:
    return Path(root) / DEFAULT_VIDEO_PATH.format(video_key=video_key, chunk_index=chunk_index, file_index=file_index)


def data_path(root: Path, chunk_index: int, file_index: int) -> Path:
    return Path(root) / DEFAULT_DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)


def episodes_path(root: Path, chunk_index: int, file_index: int) -> Path:
    return Path(root) / DEFAULT_EPISODES_PATH.format(chunk_index=chunk_index, file_index=file_index)


def data_files(root: Path) -> list[Path]:
    """Every data parquet file of the dataset at `root`, in chunk/file order."""
    return sorted(Path(root).glob(DATA_GLOB))


def episodes_files(root: Path) -> list[Path]:
    """Every meta/episodes parquet file, in chunk/file order."""
    return sorted(Path(root).glob(EPISODES_GLOB))
