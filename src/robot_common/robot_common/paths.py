"""Where the workspace's shared files (config/, urdf/) are found, installed or in the source tree."""
from __future__ import annotations

import os
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[3]  # <ws>/src/robot_common/robot_common/paths.py


def _candidates() -> list[Path]:
    roots = []
    env = os.environ.get("ROBOT_WS_ROOT")
    if env:
        roots.append(Path(env))
    if (_SOURCE_ROOT / "config" / "robots").is_dir():
        roots.append(_SOURCE_ROOT)
    try:  # installed by colcon into share/robot_common/{config,urdf}
        from ament_index_python.packages import get_package_share_directory

        roots.append(Path(get_package_share_directory("robot_common")))
    except Exception:  # noqa: BLE001 - ament index absent or package not installed
        pass
    return roots


def workspace_file(relative: str | os.PathLike) -> Path:
    """Resolve e.g. 'config/robots/fr3.yaml' or 'urdf/fr3.urdf.xacro' to an existing file."""
    rel = Path(relative)
    if rel.is_absolute():
        if rel.exists():
            return rel
        raise FileNotFoundError(f"{rel} does not exist")
    tried = []
    for root in _candidates():
        path = root / rel
        if path.exists():
            return path
        tried.append(str(path))
    raise FileNotFoundError(f"{rel} not found; looked in: {', '.join(tried) or '(no roots)'}")


def config_dir(kind: str) -> Path:
    """The folder config/<kind> (robots, controllers, teleop, cameras, ...)."""
    return workspace_file(Path("config") / kind)


def source_root() -> Path:
    """The workspace checkout this module was loaded from (tests and tools use it)."""
    return _SOURCE_ROOT
