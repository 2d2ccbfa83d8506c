"""The conversion job: episodes in parallel into a cache, then one atomic dataset assembly.

Resume: each finished episode lives in `.<output>.cache/<key>/` (renamed into place when complete,
keyed by the bag's files, its metadata and the mapping), so a re-run converts only what is missing.
The dataset is assembled in a hidden sibling folder and renamed onto the output path, so a killed
run never leaves a dataset that looks complete; `meta/bag_to_dataset.json` records the inputs, so
re-running on the same inputs leaves a finished dataset as it is.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .bagio import BagError, EpisodeInput, discover_episodes
from .episode import SUMMARY, convert_episode
from .layout import META_DIR
from .mapping import CODECS, Mapping, MappingError, load_mapping

log = logging.getLogger("bag_to_dataset")
FORMAT_VERSION = "bag_to_dataset/1"
MARKER = META_DIR + "/bag_to_dataset.json"   # our own record; LeRobot ignores unknown meta files


class ConversionError(RuntimeError):
    """Nothing could be converted, or the output path is not ours to replace."""


@dataclass
class ConversionResult:
    output: Path
    episodes: list[dict] = field(default_factory=list)       # summaries, dataset order
    failures: list[tuple[str, str]] = field(default_factory=list)   # (bag, error)
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (bag, why)
    converted: int = 0
    reused: int = 0
    up_to_date: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path, pattern: str) -> None:
    """Temp folders of killed runs (their pid is gone)."""
    if not folder.exists():
        return
    for p in folder.glob(pattern):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _run_episode(ep: EpisodeInput, mapping: Mapping, dest: Path, task: str, robot_type: str | None,
                 threads: int) -> dict:
    return convert_episode(ep, mapping, dest, task, robot_type, threads)


def _pool_context():
    """Forked workers inherit the parent's imported PyAV, OpenCV and rosbags typestore (about a second
    of start-up each otherwise); other platforms use their default start method."""
    if sys.platform.startswith("linux"):
        import av  # noqa: F401
        import cv2  # noqa: F401

        from .bagio import typestore

        typestore()
        return multiprocessing.get_context("fork")
    return None


def resolve_mapping(mapping: Mapping | str | Path, fps: int | None = None, task: str | None = None,
                    robot_type: str | None = None, codec: str | None = None) -> Mapping:
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    if codec is not None:
        if codec not in CODECS:
            raise MappingError(f"codec must be one of {sorted(CODECS)}")
        name = "libsvtav1" if CODECS[codec] == "av1" else "libx264"
        defaults = {"libsvtav1": (30, 12), "libx264": (23, "veryfast")}[name]
        if name != m.video.codec:
            m = m.replace(video=replace(m.video, codec=name, crf=defaults[0], preset=defaults[1]))
    if fps is not None and fps <= 0:
        raise MappingError(f"fps must be a positive integer, got {fps}")
    return m.replace(fps=fps, task=task, robot_type=robot_type)


def convert(inputs: Sequence[str | Path], mapping: Mapping | str | Path, output: str | Path, *,
            workers: int | None = None, fps: int | None = None, task: str | None = None,
            robot_type: str | None = None, codec: str | None = None, include_incomplete: bool = False,
            force: bool = False, progress: bool = True, warn: Callable[[str], None] | None = None,
            robot: str | None = None, namespace: str | None = None, ray: str | None = None,
            ray_cpus: int | None = None) -> ConversionResult:
    """Convert bags / recorder sessions into a LeRobot v3.0 dataset at `output` (see module doc).

    `robot` and `namespace` override what each episode's recorder metadata says (plain bags have
    none: robot then comes from the mapping's `robot`, namespace is /). An episode that cannot be
    converted (unreadable episode.yaml, a mapping that does not fit it, a corrupt bag) is reported
    in `failures`; the others still make the dataset.

    `ray`: run the episodes as Ray tasks instead of local processes ("" a private local Ray with
    `ray_cpus` CPUs, default `workers`; else a cluster address); the dataset is the same, byte for byte."""
    warn = warn or log.warning
    m = resolve_mapping(mapping, fps, task, robot_type, codec)
    output = Path(output).absolute()
    result = ConversionResult(output=output)

    todo: list[tuple[EpisodeInput, str, str | None, Mapping]] = []
    bound: dict[tuple, Mapping] = {}
    ref: tuple[Mapping, str] | None = None     # the dataset's features: those of the first convertible episode
    for ep in discover_episodes(list(inputs)):
        if ep.error:
            result.failures.append((str(ep.path), ep.error))
            continue
        status = ep.status
        if status == "discarded" or (status == "incomplete" and not include_incomplete):
            why = f"episode {ep.name} is {status}" + ("" if status == "discarded" else
                                                       " (interrupted); pass --include-incomplete to try it")
            result.skipped.append((str(ep.path), why))
            warn(f"skipping {ep.path}: {why}")
            continue
        ep_task = task or ep.task or m.task
        if not ep_task:
            result.failures.append((str(ep.path), f"episode {ep.name}: no task text (not in the recorder "
                                                  f"metadata; set task in the mapping or pass --task)"))
            continue
        where = (robot or ep.robot, namespace or ep.namespace)
        try:
            if where not in bound:
                bound[where] = m.bind(*where)
        except MappingError as exc:
            result.failures.append((str(ep.path), f"episode {ep.name}: {exc}"))
            continue
        bm = bound[where]
        if ref is None:
            ref = (bm, ep.name)
        elif bm.signature() != ref[0].signature():
            result.failures.append((str(ep.path), f"episode {ep.name}: recorded with robot {bm.robot}, episode "
                                                  f"{ref[1]} with {ref[0].robot}: their features differ; one "
                                                  f"dataset holds one robot, convert them separately"))
            continue
        todo.append((ep, ep_task, robot_type or ep.robot_type or m.robot_type or bm.robot, bm))
    keys = [ep.cache_key(bm.digest() + f"|{t}|{r}", FORMAT_VERSION) for ep, t, r, bm in todo]
    if ref is not None:
        m = ref[0]

    marker = output / MARKER
    if output.exists() and any(output.iterdir()):
        if not marker.exists():
            raise ConversionError(f"{output} exists and is not a dataset written by bag_to_dataset; "
                                  f"choose another output or remove it")
        previous = json.loads(marker.read_text())
        if not force and previous.get("inputs") == keys and not previous.get("failures") and not result.failures:
            result.up_to_date = True
            result.episodes = previous.get("episodes", [])
            return result

    cache = output.parent / f".{output.name}.cache"
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache, "*.tmp-*")
    _remove_stale(output.parent, f".{output.name}.assembling-*")
    _remove_stale(output.parent, f".{output.name}.old-*")
    if force:
        for key in keys:
            shutil.rmtree(cache / key, ignore_errors=True)

    summaries: dict[int, dict] = {}
    pending = []
    for i, key in enumerate(keys):
        if (cache / key / SUMMARY).exists():
            summaries[i] = json.loads((cache / key / SUMMARY).read_text())
            result.reused += 1
        else:
            pending.append(i)

    import tqdm as tqdm_module
    from tqdm import tqdm

    tqdm_module.tqdm.monitor_interval = 0   # no monitor thread in a process that forks workers

    cpus = os.cpu_count() or 1
    # one encoder thread per worker when episodes fill the cores (the most frames per CPU second); the
    # count changes the encoded bytes, so it depends on the job, never on what a resumed run has left
    threads = max(1, cpus // max(1, min(workers or cpus, len(keys))))
    workers = max(1, min(workers or cpus, len(pending) or 1))
    bar = tqdm(total=len(keys), initial=result.reused, unit="ep", desc="episodes", disable=not progress)
    frames = 0

    def done(i: int, summary: dict | None, error: str | None) -> None:
        nonlocal frames
        if error is None:
            summaries[i] = summary
            result.converted += 1
            frames += summary["length"]
            bar.set_postfix(frames=frames)
        else:
            result.failures.append((str(todo[i][0].path), error))
            bar.write(f"error: {error}")
        bar.update(1)

    try:
        if ray is not None:
            from .ray_runner import run_episodes

            run_episodes([(i, (todo[i][0], todo[i][3], cache / keys[i], todo[i][1], todo[i][2], threads))
                          for i in pending], done, address=ray or None, num_cpus=ray_cpus or workers,
                         describe=lambda i: f"{todo[i][0].path}: episode {todo[i][0].name}")
        elif workers == 1:
            for i in pending:
                ep, t, r, bm = todo[i]
                try:
                    done(i, _run_episode(ep, bm, cache / keys[i], t, r, threads), None)
                except BagError as exc:
                    done(i, None, str(exc))
                except Exception as exc:  # noqa: BLE001 - e.g. an encoder error fails its episode, not the run
                    done(i, None, f"{ep.path}: episode {ep.name}: {type(exc).__name__}: {exc}")
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
                futures = {pool.submit(_run_episode, todo[i][0], todo[i][3], cache / keys[i], todo[i][1], todo[i][2],
                                       threads): i for i in pending}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        done(i, fut.result(), None)
                    except BagError as exc:
                        done(i, None, str(exc))
                    except Exception as exc:  # noqa: BLE001 - a worker crash fails its episode, not the run
                        done(i, None, f"{todo[i][0].path}: episode {todo[i][0].name}: "
                                      f"{type(exc).__name__}: {exc}")
    finally:
        bar.close()

    order = sorted(summaries)
    if not order:
        raise ConversionError("no episode could be converted:\n" +
                              "\n".join(f"  {e}" for _, e in result.failures + result.skipped))
    episodes = [summaries[i] for i in order]
    cache_dirs = [cache / keys[i] for i in order]
    arrays = []
    for d in cache_dirs:
        with np.load(d / "arrays.npz") as z:
            arrays.append({k: z[k] for k in z.files})

    from .dataset import write_dataset

    staging = output.parent / f".{output.name}.assembling-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / META_DIR).mkdir(parents=True)
    try:
        try:
            write_dataset(staging, m, episodes, arrays, cache_dirs)
        except ValueError as exc:   # episodes that cannot share a dataset (camera resolution changed)
            raise ConversionError(str(exc)) from exc
        with open(staging / MARKER, "w") as f:
            json.dump({"format": FORMAT_VERSION, "mapping": m.source, "mapping_digest": m.digest(),
                       "inputs": keys, "failures": result.failures, "skipped": result.skipped,
                       "episodes": [{k: e[k] for k in ("name", "source", "length", "task", "report", "success")}
                                    | {k: e.get(k) for k in ("trimmed_idle_frames", "out_of_range", "integrity", "robot")}
                                    for e in episodes]}, f, indent=1, default=str, sort_keys=True)
        if output.exists():
            old = output.parent / f".{output.name}.old-{os.getpid()}"
            os.rename(output, old)
            os.rename(staging, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.episodes = episodes
    if not result.failures:
        shutil.rmtree(cache, ignore_errors=True)
    return result
