"""Checkpoint I/O: ours and LeRobot's ACT checkpoints, both `pretrained_model` folders.

config.json's "type" picks the registered policy class (policy.base.register_policy; "act" built
in). Only safetensors and JSON are read: nothing in a checkpoint can run code.
Ours: config.json (the policy config's fields, "type"), model.safetensors (the Policy's
state_dict: LeRobot's ACT names, prefix `model.`), stats.safetensors ({"<feature>.<stat>"}) and workspace.json.
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
from torch import nn

from policy.base import Policy, PolicyConfig, policy_classes
from policy.config import WorkspaceConfig
from policy.errors import CheckpointError
from policy.normalize import Normalizer, stats_from_flat

__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "read_safetensors", "resolve_checkpoint_dir",
           "save_checkpoint"]
LEGACY_PREFIXES = ("normalize_inputs.", "normalize_targets.", "unnormalize_outputs.")


@dataclass
class Checkpoint:
    config: PolicyConfig
    workspace: WorkspaceConfig
    policy: Policy
    normalizer: Normalizer
    path: Path
    source: str  # "workspace", "lerobot", "lerobot-legacy"

    @property
    def model(self) -> nn.Module:
        """The network inside the policy (ACT's `model`), or the policy itself."""
        return getattr(self.policy, "model", self.policy)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; anything else is a one-line CheckpointError naming the file."""
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for bad headers
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path} is not a readable safetensors file ({first})") from None


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """Accept a pretrained_model folder, a checkpoints/<step> folder or a training output folder."""
    p = Path(path).expanduser()
    for cand in (p, p / "pretrained_model", p / "checkpoints" / "last" / "pretrained_model"):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} holds no config.json + model.safetensors (nor pretrained_model/ or checkpoints/last/)")


def save_checkpoint(directory: Path, cfg: PolicyConfig, ws: WorkspaceConfig, model: Policy | nn.Module,
                    normalizer: Normalizer) -> Path:
    """model: the Policy (its state_dict as is) or the bare network inside it (saved as `model.*`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg.save(directory / "config.json")
    (directory / "workspace.json").write_text(json.dumps(ws.to_dict(), indent=2))
    prefix = "" if isinstance(model, Policy) else "model."
    state = {f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    save_file(normalizer.flat(), str(directory / "stats.safetensors"))
    return directory


def _legacy_stats(weights: dict[str, torch.Tensor], cfg: PolicyConfig) -> dict[str, dict[str, torch.Tensor]]:
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
        cfg = PolicyConfig.load(directory / "config.json")
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / 'config.json'}: {exc}") from exc
    ws_file = directory / "workspace.json"
    try:
        ws = WorkspaceConfig.from_dict(json.loads(ws_file.read_text())) if ws_file.is_file() else WorkspaceConfig()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{ws_file}: {exc}") from exc
    weights = read_safetensors(directory / "model.safetensors")

    if (directory / "stats.safetensors").is_file():
        source, stats = "workspace", stats_from_flat(read_safetensors(directory / "stats.safetensors"))
    else:
        processor_files = sorted(directory.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
        processor_files += sorted(directory.glob("policy_postprocessor_step_*_unnormalizer_processor.safetensors"))
        if processor_files:
            source, stats = "lerobot", {}
            for f in processor_files:
                for key, d in stats_from_flat(read_safetensors(f)).items():
                    stats.setdefault(key, {}).update(d)
        else:
            source, stats = "lerobot-legacy", _legacy_stats(weights, cfg)
    try:
        normalizer = Normalizer(cfg, stats)
    except CheckpointError as exc:
        raise CheckpointError(f"{directory}: {exc}") from None
    except ValueError as exc:
        raise CheckpointError(f"{directory}: {exc}") from exc

    state = {k: v for k, v in weights.items() if not k.startswith(LEGACY_PREFIXES)}
    if source != "workspace" and any(k.endswith("num_batches_tracked") for k in state):
        ws.backbone_norm = "batch"
    policy = policy_classes(cfg.policy_type)[1](cfg, ws)
    expected = set(policy.state_dict())
    if not expected & set(state):
        raise CheckpointError(f"{directory / 'model.safetensors'} has no parameters of a '{cfg.policy_type}' policy "
                              f"(such as {sorted(expected)[:2]})")
    try:
        missing, unexpected = policy.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{directory}: parameters do not fit the config: {' '.join(first)}") from exc
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: parameters do not match the config: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    policy.to(device).eval()
    return Checkpoint(cfg, ws, policy, normalizer.to(device), directory, source)
