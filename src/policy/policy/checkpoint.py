"""Checkpoint I/O: ours and LeRobot's ACT checkpoints, both `pretrained_model` folders.

Ours: config.json (LeRobot ACTConfig fields, "type": "act"), model.safetensors (LeRobot's
parameter names, prefix `model.`), stats.safetensors ({"<feature>.<stat>"}) and workspace.json.
LeRobot >= 0.4: the same config.json/model.safetensors plus
policy_preprocessor_step_*_normalizer_processor.safetensors and
policy_postprocessor_step_*_unnormalizer_processor.safetensors (same flat stat keys).
LeRobot < 0.4: stats live inside model.safetensors as normalize_inputs.buffer_<feature>.<stat>,
normalize_targets.* and unnormalize_outputs.buffer_action.<stat>.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from policy.act import ACT
from policy.config import ACTConfig, WorkspaceConfig
from policy.normalize import Normalizer, stats_from_flat

LEGACY_PREFIXES = ("normalize_inputs.", "normalize_targets.", "unnormalize_outputs.")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded, with the reason."""


@dataclass
class Checkpoint:
    config: ACTConfig
    workspace: WorkspaceConfig
    model: ACT
    normalizer: Normalizer
    path: Path
    source: str  # "workspace", "lerobot", "lerobot-legacy"


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """Accept a pretrained_model folder, a checkpoints/<step> folder or a training output folder."""
    p = Path(path).expanduser()
    for cand in (p, p / "pretrained_model", p / "checkpoints" / "last" / "pretrained_model"):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} holds no config.json + model.safetensors (nor pretrained_model/ or checkpoints/last/)")


def save_checkpoint(directory: Path, cfg: ACTConfig, ws: WorkspaceConfig, model: ACT, normalizer: Normalizer) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg.save(directory / "config.json")
    (directory / "workspace.json").write_text(json.dumps(ws.to_dict(), indent=2))
    state = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    save_file(normalizer.flat(), str(directory / "stats.safetensors"))
    return directory


def _legacy_stats(weights: dict[str, torch.Tensor], cfg: ACTConfig) -> dict[str, dict[str, torch.Tensor]]:
    """normalize_inputs.buffer_observation_images_top.mean -> stats['observation.images.top']['mean']."""
    by_buffer = {"buffer_" + k.replace(".", "_"): k for k in {**cfg.input_features, **cfg.output_features}}
    stats: dict[str, dict[str, torch.Tensor]] = {}
    for name, value in weights.items():
        if not name.startswith(LEGACY_PREFIXES):
            continue
        _, buffer, stat = name.split(".", 2)
        if buffer in by_buffer:
            stats.setdefault(by_buffer[buffer], {})[stat] = value
    return stats


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    directory = resolve_checkpoint_dir(path)
    try:
        cfg = ACTConfig.load(directory / "config.json")
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / 'config.json'}: {exc}") from exc
    ws_file = directory / "workspace.json"
    ws = WorkspaceConfig.from_dict(json.loads(ws_file.read_text())) if ws_file.is_file() else WorkspaceConfig()
    weights = load_file(str(directory / "model.safetensors"))

    if (directory / "stats.safetensors").is_file():
        source, stats = "workspace", stats_from_flat(load_file(str(directory / "stats.safetensors")))
    else:
        processor_files = sorted(directory.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
        processor_files += sorted(directory.glob("policy_postprocessor_step_*_unnormalizer_processor.safetensors"))
        if processor_files:
            source, stats = "lerobot", {}
            for f in processor_files:
                for key, d in stats_from_flat(load_file(str(f))).items():
                    stats.setdefault(key, {}).update(d)
        else:
            source, stats = "lerobot-legacy", _legacy_stats(weights, cfg)
    try:
        normalizer = Normalizer(cfg, stats)
    except ValueError as exc:
        raise CheckpointError(f"{directory}: {exc}") from exc

    model_state = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}
    if not model_state:
        raise CheckpointError(f"{directory / 'model.safetensors'} has no 'model.*' parameters")
    if source != "workspace" and any(k.endswith("num_batches_tracked") for k in model_state):
        ws.backbone_norm = "batch"
    model = ACT(cfg, backbone_norm=ws.backbone_norm)
    try:
        missing, unexpected = model.load_state_dict(model_state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{directory}: parameters do not fit the config: {exc}") from exc
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: parameters do not match the config: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    model.to(device).eval()
    return Checkpoint(cfg, ws, model, normalizer.to(device), directory, source)
