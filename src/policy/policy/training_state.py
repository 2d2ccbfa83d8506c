"""Resumable training state without pickle: training_state.safetensors (optimizer tensors, RNG
states as tensors) + training_state.json (step, optimizer param groups and scalars, scheduler state,
loss rows). A `training_state.pt` (the old torch.save pickle) is refused, never opened.
A multi-rank run (policy.distributed) also stores ranks 1..N-1's RNG states (`rank<r>.rng.*` tensors,
`rank_rng` in the JSON), so a resume restores every rank.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from policy.checkpoint import read_safetensors
from policy.errors import CheckpointError

TENSORS = "training_state.safetensors"
META = "training_state.json"
LEGACY_PICKLE = "training_state.pt"
FORMAT = 1


def _encode(value: Any) -> Any:
    """JSON for optimizer/scheduler scalars; tuples and tensors-free values only."""
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"training state value of type {type(value).__name__} cannot be stored as JSON")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k): _decode(v) for k, v in value["__dict__"]}
        if "__float__" in value:
            return float(value["__float__"])
    return value


def save_training_state(directory: Path, step: int, optimizer: torch.optim.Optimizer, scheduler: Any | None = None,
                        losses: list[dict] | None = None, rank_rng: list[dict[str, Any]] | None = None) -> None:
    """rank_rng: every rank's `capture_rng()` (index = rank) of a multi-rank run; rank 0's is the
    process's own and needs not be given."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in opt["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.state.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = _encode(value)
    rng_json = _put_rng(tensors, "rng.", capture_rng())
    ranks_json = {str(r): _put_rng(tensors, f"rank{r}.rng.", rng) for r, rng in enumerate(rank_rng or []) if r > 0}
    if ranks_json:
        rng_json["ranks"] = ranks_json
    meta = {
        "format": FORMAT, "step": int(step),
        "optimizer": {"param_groups": _encode(opt["param_groups"]), "state_scalars": scalars,
                      "state_ids": [str(k) for k in opt["state"]]},
        "scheduler": None if scheduler is None else _encode(scheduler.state_dict()),
        "rng": rng_json,
        "losses": losses or [],
    }
    save_file(tensors, str(directory / TENSORS))
    (directory / META).write_text(json.dumps(meta, indent=1))


def load_training_state(directory: Path) -> dict[str, Any]:
    """{"step", "optimizer" (a state_dict for load_state_dict), "scheduler", "losses", "rng",
    "rank_rng" (every saved rank's RNG, by rank; [rng] for a 1-process run)}."""
    directory = Path(directory)
    tensors_file, meta_file = directory / TENSORS, directory / META
    if not tensors_file.is_file() or not meta_file.is_file():
        if (directory / LEGACY_PICKLE).exists():
            raise CheckpointError(f"{directory / LEGACY_PICKLE} is a pickle file, which is never loaded (it could run "
                                  f"code); resume needs {TENSORS} + {META} (start a new run)")
        raise CheckpointError(f"{directory} has no {TENSORS} + {META} to resume from")
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        tensors = read_safetensors(tensors_file)
        state: dict[Any, dict[str, Any]] = {}
        for pid in meta["optimizer"]["state_ids"]:
            entry = {k: _decode(v) for k, v in meta["optimizer"]["state_scalars"].get(pid, {}).items()}
            prefix = f"optimizer.state.{pid}."
            entry.update({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            state[int(pid)] = entry
        optimizer = {"state": state, "param_groups": _decode(meta["optimizer"]["param_groups"])}
        rng = _get_rng(tensors, "rng.", meta["rng"])
        rank_rng = [rng] + [_get_rng(tensors, f"rank{r}.rng.", meta["rng"]["ranks"][str(r)])
                            for r in range(1, len(meta["rng"].get("ranks", {})) + 1)]
        return {"step": int(meta["step"]), "optimizer": optimizer, "scheduler": _decode(meta["scheduler"]),
                "losses": list(meta["losses"]), "rng": rng, "rank_rng": rank_rng}
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{meta_file}: training state is malformed ({exc})") from None


def capture_rng() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / python RNG states (what `restore_rng` takes)."""
    return {"torch": torch.get_rng_state(),
            "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(), "python": random.getstate()}


def _put_rng(tensors: dict[str, torch.Tensor], prefix: str, rng: dict[str, Any]) -> dict[str, Any]:
    tensors[prefix + "torch"] = rng["torch"]
    for i, s in enumerate(rng["cuda"]):
        tensors[f"{prefix}cuda.{i}"] = s
    np_state = rng["numpy"]
    tensors[prefix + "numpy"] = torch.from_numpy(np.asarray(np_state[1]).astype(np.int64))
    py_version, py_state, py_gauss = rng["python"]
    tensors[prefix + "python"] = torch.tensor(py_state, dtype=torch.int64)
    return {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_version, py_gauss]}


def _get_rng(tensors: dict[str, torch.Tensor], prefix: str, meta: dict[str, Any]) -> dict[str, Any]:
    np_name, np_pos, np_has_gauss, np_gauss = meta["numpy"]
    py_version, py_gauss = meta["python"]
    cuda = sorted((t for t in tensors if t.startswith(prefix + "cuda.")), key=lambda t: int(t.rsplit(".", 1)[1]))
    return {"torch": tensors[prefix + "torch"], "cuda": [tensors[k] for k in cuda],
            "numpy": (np_name, tensors[prefix + "numpy"].numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss),
            "python": (py_version, tuple(int(v) for v in tensors[prefix + "python"].tolist()), py_gauss)}


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"][: torch.cuda.device_count()])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
