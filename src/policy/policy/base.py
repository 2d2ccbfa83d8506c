"""The policy seam: `PolicyConfig`, the abstract `Policy` and the registry that maps a checkpoint's
`"type"` (config.json) to them, after LeRobot's policies/factory.py + pretrained.py.

Adding a policy type (docs/policy.md): subclass PolicyConfig (a dataclass) and Policy, then
`register_policy("name", MyConfig, MyPolicy)` at import time. Built-in types are registered by
`policy.act`; others come from plugin modules named with `policy train --plugin MODULE|FILE.py` or
the POLICY_PLUGINS environment variable (comma-separated), never from a checkpoint's own files.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

STATE = "observation.state"
ACTION = "action"
ENV_STATE = "observation.environment_state"
KEYFRAME = "action.keyframe"  # training target of the next-keyframe head (policy/keyframes.py)
PLUGINS_ENV = "POLICY_PLUGINS"


@dataclass
class PolicyConfig:
    """Fields every policy has (LeRobot's PreTrainedConfig names); subclasses add their own."""

    policy_type: ClassVar[str] = ""

    n_obs_steps: int = 1
    # feature name -> {"type": "STATE"|"VISUAL"|"ENV"|"ACTION", "shape": [...]} (LeRobot's layout)
    input_features: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_features: dict[str, dict[str, Any]] = field(default_factory=dict)
    normalization_mapping: dict[str, str] = field(
        default_factory=lambda: {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ENV": "MEAN_STD", "ACTION": "MEAN_STD"}
    )
    chunk_size: int = 1
    n_action_steps: int = 1
    optimizer_lr: float = 1e-4
    optimizer_weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.n_obs_steps < 1:
            raise ValueError(f"n_obs_steps must be >= 1, got {self.n_obs_steps}")
        if self.n_action_steps > self.chunk_size:
            raise ValueError(f"n_action_steps {self.n_action_steps} exceeds chunk_size {self.chunk_size}")

    # --- feature views -------------------------------------------------------------------
    @property
    def image_features(self) -> list[str]:
        return [k for k, v in self.input_features.items() if v.get("type") == "VISUAL"]

    @property
    def robot_state_feature(self) -> dict | None:
        return self.input_features.get(STATE)

    @property
    def env_state_feature(self) -> dict | None:
        return self.input_features.get(ENV_STATE)

    @property
    def action_feature(self) -> dict:
        if ACTION not in self.output_features:
            raise ValueError("config has no 'action' output feature")
        return self.output_features[ACTION]

    # --- json ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"type": self.policy_type, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyConfig:
        """PolicyConfig.from_dict picks the registered class by data["type"]; a subclass checks it."""
        kind = data.get("type", "act")
        if cls is PolicyConfig:
            cls = policy_classes(kind)[0]
        elif kind != cls.policy_type:
            raise ValueError(f"config.json describes a '{kind}' policy, not {cls.policy_type}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> PolicyConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


class Policy(nn.Module, ABC):
    """A trainable policy. Batches hold normalised tensors keyed by feature name: per step (B, ...)
    when n_obs_steps == 1, (B, n_obs_steps, ...) otherwise; training batches add `action`
    (B, chunk_size, A) and `action_is_pad` (B, chunk_size). The state_dict is model.safetensors."""

    def __init__(self, config: PolicyConfig, workspace: Any = None) -> None:
        super().__init__()
        self.config = config
        self.workspace = workspace

    @property
    def policy_type(self) -> str:
        return self.config.policy_type

    @property
    def n_obs_steps(self) -> int:
        return int(self.config.n_obs_steps)

    @property
    def chunk_size(self) -> int:
        return int(self.config.chunk_size)

    @property
    def input_features(self) -> dict[str, dict[str, Any]]:
        return self.config.input_features

    def reset(self) -> None:
        """Forget per-episode state (called when a rollout starts)."""

    @abstractmethod
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Training: (loss to minimise, {loss term name: value})."""

    @abstractmethod
    def predict_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        """Inference: (B, chunk_size, action_dim) normalised actions."""

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.config.optimizer_lr, weight_decay=self.config.optimizer_weight_decay)

    def make_scheduler(self, optimizer: torch.optim.Optimizer) -> Any | None:
        """An LR scheduler stepped once per training step, or None (the default)."""
        return None


_REGISTRY: dict[str, tuple[type[PolicyConfig], type[Policy]]] = {}


def register_policy(name: str, config_cls: type[PolicyConfig], policy_cls: type[Policy]) -> None:
    """Make `"type": name` in a config.json build policy_cls(config_cls(...), workspace)."""
    if name in _REGISTRY and _REGISTRY[name] != (config_cls, policy_cls):
        raise ValueError(f"policy type '{name}' is already registered by {_REGISTRY[name][1].__module__}")
    config_cls.policy_type = name
    _REGISTRY[name] = (config_cls, policy_cls)


def registered_policies() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def policy_classes(name: str) -> tuple[type[PolicyConfig], type[Policy]]:
    _ensure_builtins()
    load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"policy type '{name}' is not act nor any other registered type {sorted(_REGISTRY)}; "
                         f"a plugin registers more (policy train --plugin MODULE, {PLUGINS_ENV}=MODULE)")
    return _REGISTRY[name]


def _ensure_builtins() -> None:
    import policy.act  # noqa: F401 - registers "act"


_loaded: set[str] = set()


def load_plugins(specs: list[str] | None = None) -> None:
    """Import plugin modules (dotted names or .py files); with None, those in $POLICY_PLUGINS."""
    if specs is None:
        specs = [s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(",") if s.strip()]
    for spec in specs:
        if spec in _loaded:
            continue
        try:
            if spec.endswith(".py"):
                path = Path(spec).resolve()
                name = f"policy_plugin_{path.stem}"
                mod_spec = importlib.util.spec_from_file_location(name, path)
                if mod_spec is None or not path.is_file():
                    raise ImportError(f"no such file {path}")
                module = importlib.util.module_from_spec(mod_spec)
                sys.modules[name] = module
                mod_spec.loader.exec_module(module)
            else:
                importlib.import_module(spec)
        except ImportError as exc:
            raise ValueError(f"policy plugin '{spec}' cannot be imported: {exc}") from exc
        _loaded.add(spec)


# --- vision backbones: config `vision_backbone` -> factory(norm=..., dilate_last=...) -------------------
_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str, factory: Callable[..., nn.Module]) -> None:
    """factory(norm: str, dilate_last: bool) -> module with forward_features(x) and out_channels."""
    _BACKBONES[name] = factory


def make_backbone(name: str, **kwargs: Any) -> nn.Module:
    if name not in _BACKBONES:
        raise ValueError(f"vision_backbone '{name}' is not registered (registered: {sorted(_BACKBONES)})")
    return _BACKBONES[name](**kwargs)


def registered_backbones() -> list[str]:
    return sorted(_BACKBONES)
