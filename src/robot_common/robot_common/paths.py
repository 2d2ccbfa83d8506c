"""The one place that knows where the workspace's shared files (config/, urdf/) are.

Search roots, first match wins:
1. every folder in ROBOT_WS_PATH (os.pathsep-separated): a lab's own configs, or a test's
   temporary overlay, consulted before the shipped ones (ROBOT_WS_ROOT, one folder, is read too);
2. the source checkout this module was loaded from (a symlink or editable install);
3. the share/ folder of each of our installed packages (colcon installs config/<kind> into the
   share/ of the package that owns it, e.g. config/dataset into share/bag_to_dataset).

    find_config("dataset", "sim")            # -> .../config/dataset/sim.yaml
    find_config("dataset", "./my_map.yaml")  # an explicit path is used as given
    list_configs("robots")                   # -> ["fr3", "rm65", ...]
"""
from __future__ import annotations

import os
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[3]  # <ws>/src/robot_common/robot_common/paths.py
PACKAGES = ("robot_common", "sim", "teleop", "sensors", "recorder", "bag_to_dataset", "policy")
YAML_SUFFIXES = (".yaml", ".yml")


def _env_roots() -> list[Path]:
    roots = [Path(p).expanduser() for p in os.environ.get("ROBOT_WS_PATH", "").split(os.pathsep) if p]
    if os.environ.get("ROBOT_WS_ROOT"):
        roots.append(Path(os.environ["ROBOT_WS_ROOT"]).expanduser())
    return roots


def _share_roots() -> list[Path]:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:  # no ament index: a plain checkout
        return []
    roots = []
    for pkg in PACKAGES:
        try:
            roots.append(Path(get_package_share_directory(pkg)))
        except (PackageNotFoundError, ValueError, LookupError, OSError):  # OSError: no AMENT_PREFIX_PATH
            continue
    return roots


def search_roots() -> list[Path]:
    """Folders that may hold config/ and urdf/, in lookup order (duplicates removed)."""
    roots: list[Path] = _env_roots()
    if (_SOURCE_ROOT / "config").is_dir():
        roots.append(_SOURCE_ROOT)
    roots += _share_roots()
    seen, out = set(), []
    for r in roots:
        key = str(r.resolve()) if r.exists() else str(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def workspace_file(relative: str | os.PathLike) -> Path:
    """Resolve e.g. 'config/robots/fr3.yaml' or 'urdf/fr3.urdf.xacro' to an existing file."""
    rel = Path(relative).expanduser()
    if rel.is_absolute():
        if rel.exists():
            return rel
        raise FileNotFoundError(f"{rel} does not exist")
    tried = []
    for root in search_roots():
        path = root / rel
        if path.exists():
            return path
        tried.append(str(path))
    raise FileNotFoundError(f"{rel} not found; looked in: {', '.join(tried) or '(no roots)'}")


def config_dir(kind: str) -> Path:
    """The first existing folder config/<kind> (robots, controllers, teleop, cameras, ...)."""
    return workspace_file(Path("config") / kind)


def list_configs(kind: str) -> list[str]:
    """Names (file stems) of every config/<kind>/*.yaml over all roots, sorted."""
    names = set()
    for root in search_roots():
        folder = root / "config" / kind
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in YAML_SUFFIXES)
    return sorted(names)


def find_config(kind: str, name: str | os.PathLike) -> Path:
    """A config file by name (config/<kind>/<name>.yaml in the search roots) or by path (a value
    with a '/' or a .yaml suffix that exists). Unknown names list what exists."""
    text = os.fspath(name)
    if not text:
        raise FileNotFoundError(f"no {kind} config given; available: {list_configs(kind)}")
    path = Path(text).expanduser()
    looks_like_path = os.sep in text or path.suffix in YAML_SUFFIXES
    if looks_like_path:
        if path.exists():
            return path
        if path.is_absolute() or os.sep in text and not path.suffix:
            raise FileNotFoundError(f"{kind} config {path} does not exist")
    stem = path.name if path.suffix not in YAML_SUFFIXES else path.stem
    for root in search_roots():
        for suffix in YAML_SUFFIXES:
            candidate = root / "config" / kind / f"{stem}{suffix}"
            if candidate.exists():
                return candidate
    raise FileNotFoundError(f"unknown {kind} config '{text}'; available: {list_configs(kind)}")


def source_root() -> Path:
    """The workspace checkout this module was loaded from (tests and tools use it)."""
    return _SOURCE_ROOT
