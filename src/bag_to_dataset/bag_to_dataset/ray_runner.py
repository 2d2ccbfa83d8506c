"""Episodes as Ray tasks (`bag_to_dataset convert --ray [ADDRESS]`, docs/scaling.md).

Each task converts one episode with the same function and settings the local process pool uses,
into a temporary folder on the node that runs it, and returns the episode's files (a few MB of
video and arrays) through Ray's object store; the driver writes them into its cache and assembles
the dataset exactly as the local path does. So only the bags must be readable by the workers (at
the same path); the output need not be on a shared file system.

Without an address Ray starts a private local instance (address "local": it never joins a cluster
already running on this machine) and stops it at the end; with one (ray://host:10001, host:6379,
or "auto") it connects to that cluster, which must have this workspace installed.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .bagio import BagError

Job = tuple[int, tuple]   # (episode index, the arguments of pipeline._run_episode)


def _episode_task(ep, mapping, dest_name: str, task: str, robot_type: str | None, threads: int) -> tuple[dict, dict]:
    """Runs on a Ray worker: the episode's summary and {relative path: bytes} of its cache folder."""
    from .episode import convert_episode

    work = Path(tempfile.mkdtemp(prefix="bag_to_dataset-ray-"))
    try:
        dest = work / dest_name
        summary = convert_episode(ep, mapping, dest, task, robot_type, threads)
        files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}
        return summary, files
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _store(dest: Path, files: dict[str, bytes]) -> None:
    """Write an episode's files as convert_episode would: a temp folder renamed into place."""
    tmp = dest.with_name(dest.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)


def _local_runtime_env() -> dict:
    """Workers of a local instance import the same packages as this process (source checkouts too)."""
    here = [str(Path(m.__file__).resolve().parents[1]) for m in _our_modules()]
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in here]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(here + rest))}}


def _our_modules() -> list:
    import bag_to_dataset
    import robot_common

    return [bag_to_dataset, robot_common]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT or ray://HOST:PORT address must accept a TCP connection (Ray itself retries an
    unreachable head for minutes); `auto` and other forms are left to Ray."""
    import socket

    from .pipeline import ConversionError

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConversionError(f"--ray {address}: nothing answers at {host}:{port} ({exc}); is the cluster "
                              f"started (ray start --head --port={port}) and the port open?") from exc


def _error_text(exc: BaseException, where: str) -> str:
    from ray.exceptions import RayTaskError

    cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause is not None else exc
    if isinstance(cause, BagError):
        return str(cause)
    return f"{where}: {type(cause).__name__}: {cause}"


def run_episodes(jobs: Sequence[Job], done: Callable[[int, dict | None, str | None], None], *,
                 address: str | None = None, num_cpus: int | None = None,
                 describe: Callable[[int], str] = str) -> None:
    """Run every job as a Ray task; `done(i, summary, None)` or `done(i, None, error)` as each ends.

    One episode failing (a bad bag, an encoder error, a crashed worker) reports that episode only."""
    from .pipeline import ConversionError

    try:
        import ray
    except ImportError as exc:
        raise ConversionError("--ray needs Ray: pip install the ray pin of requirements/python.txt") from exc
    if ray.is_initialized():
        ray.shutdown()
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if not address:
            ray.init(address="local", num_cpus=num_cpus, runtime_env=_local_runtime_env(), **kwargs)
        else:
            check_reachable(address)
            ray.init(address=address, **kwargs)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError: all one line
        hint = "" if os.environ.get("RAY_AUTH_MODE") else (" (a cluster with token authentication, Ray's default, "
                                                            "needs RAY_AUTH_MODE=token and its token here)")
        raise ConversionError(f"--ray {address or '(local)'}: cannot start or reach Ray: "
                              f"{type(exc).__name__}: {exc}{hint}") from exc
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_episode_task)
        refs = {}
        for i, (ep, mapping, dest, task, robot_type, threads) in jobs:
            ref = remote.options(num_cpus=max(1, min(threads, num_cpus or threads))).remote(
                ep, mapping, Path(dest).name, task, robot_type, threads)
            refs[ref] = (i, Path(dest))
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            i, dest = refs.pop(ready[0])
            try:
                summary, files = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError: that episode fails
                done(i, None, _error_text(exc, describe(i)))
                continue
            _store(dest, files)
            done(i, summary, None)
    finally:
        ray.shutdown()
        sys.stdout.flush()
