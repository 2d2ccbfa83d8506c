"""ACT hyper-parameters (LeRobot's names and defaults) and the workspace's extra settings.

`ACTConfig` (a `policy.base.PolicyConfig`) is written to a checkpoint's config.json in LeRobot's
layout (`"type": "act"`, input_features / output_features), so LeRobot checkpoints load here and
ours stay readable there. Settings LeRobot does not know (image resize, backbone normalisation,
joint names) live in `WorkspaceConfig` and go to workspace.json next to it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy import encoders, resnet  # noqa: F401 - register the vision backbones (resnet18, spatial_softmax)
from policy.base import ACTION, ENV_STATE, KEYFRAME, STATE, PolicyConfig, registered_backbones
from policy.preprocess import check_crop

__all__ = ["ACTION", "ENV_STATE", "IMAGE_PREFIXES", "KEYFRAME", "STATE", "ACTConfig", "PolicyConfig", "TrainConfig",
           "WorkspaceConfig", "load_yaml_config"]

IMAGE_PREFIXES = ("observation.images.", "observation.image", "observation.tactile.")


@dataclass
class ACTConfig(PolicyConfig):
    """Every model hyper-parameter, with LeRobot's ACTConfig defaults."""

    n_obs_steps: int = 1
    chunk_size: int = 100
    n_action_steps: int = 100
    vision_backbone: str = "resnet18"  # policy/encoders.py: resnet18 (LeRobot's) | spatial_softmax
    pretrained_backbone_weights: str | None = None  # LeRobot: ImageNet weights; none can be downloaded here
    replace_final_stride_with_dilation: bool = False
    pre_norm: bool = False
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    n_encoder_layers: int = 4
    # LeRobot's default; every configured decoder layer is used here (the original ACT built 7, ran 1)
    n_decoder_layers: int = 1
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    temporal_ensemble_coeff: float | None = None
    dropout: float = 0.1
    kl_weight: float = 10.0
    optimizer_lr: float = 1e-5
    optimizer_weight_decay: float = 1e-4
    optimizer_lr_backbone: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim_model % self.n_heads:
            raise ValueError(f"dim_model {self.dim_model} is not divisible by n_heads {self.n_heads}")
        if self.vision_backbone not in registered_backbones():
            raise ValueError(f"vision_backbone {self.vision_backbone} is not implemented "
                             f"(registered: {registered_backbones()})")
        if self.feedforward_activation not in ("relu", "gelu", "glu"):
            raise ValueError(f"unknown feedforward_activation {self.feedforward_activation}")
        if self.n_obs_steps != 1:
            raise ValueError("ACT uses one observation step (n_obs_steps=1)")


@dataclass
class WorkspaceConfig:
    """What the workspace adds around a LeRobot-compatible ACT config."""

    image_size: list[int] | None = None  # [H, W] every camera is resized to before the backbone
    # camera feature -> [top, left, height, width], fractions of its frame, cut before the resize
    # (policy/preprocess.py): the region that matters at a higher resolution for the same cost
    image_crop: dict[str, list[float]] = field(default_factory=dict)
    backbone_norm: str = "frozen"  # frozen (LeRobot, FrozenBatchNorm2d) | batch (trainable, from scratch)
    # shared: one backbone for every camera (LeRobot's ACT); per_camera: one each, plus a learned
    # camera embedding on their tokens (a one-token encoder's tokens are otherwise told apart only
    # by content: they share the same 2D position)
    camera_encoders: str = "shared"
    # next-keyframe auxiliary (policy/keyframes.py): > 0 adds a head that predicts, from the camera
    # features and the state, the action at the next change of the `keyframe_joint` action (a
    # gripper closing or opening: where the grasp and the place happen), trained with this weight;
    # keyframe_token feeds its prediction to the transformer as one more token
    keyframe_weight: float = 0.0
    keyframe_token: bool = False
    # training feeds the token the recorded keyframe + Gaussian noise of this std (normalised action
    # units) instead of the head's prediction, so the decoder learns to act on it (null: the prediction)
    keyframe_teacher_noise: float | None = None
    keyframe_joint: str = "gripper"
    cameras: list[str] | None = None  # image features to use (None = every video feature)
    env_state_keys: list[str] | None = None  # vector features (tactile) -> the environment-state token
    state_names: list[str] = field(default_factory=list)
    action_names: list[str] = field(default_factory=list)
    fps: float = 30.0
    robot_type: str = ""

    def __post_init__(self) -> None:
        if self.backbone_norm not in ("frozen", "batch"):
            raise ValueError(f"backbone_norm must be frozen or batch, got {self.backbone_norm}")
        if self.camera_encoders not in ("shared", "per_camera"):
            raise ValueError(f"camera_encoders must be shared or per_camera, got {self.camera_encoders}")
        for cam, box in (self.image_crop or {}).items():
            try:
                check_crop(box)
            except ValueError as exc:
                raise ValueError(f"image_crop of {cam}: {exc}") from None
        if self.keyframe_teacher_noise is not None and self.keyframe_teacher_noise < 0:
            raise ValueError(f"keyframe_teacher_noise must be >= 0 or null, got {self.keyframe_teacher_noise}")
        if self.keyframe_weight < 0:
            raise ValueError(f"keyframe_weight must be >= 0, got {self.keyframe_weight}")
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"image_size must be [H, W], got {self.image_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkspaceConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainConfig:
    """`policy train` settings (config/policy/act_*.yaml, section `train`)."""

    steps: int = 100_000
    # frames per optimizer step of ONE process; under torchrun the global batch is batch_size x WORLD_SIZE
    batch_size: int = 8
    num_workers: int = 0  # DataLoader worker processes per rank (decode frames in parallel when streaming)
    save_every: int = 10_000
    log_every: int = 100
    seed: int = 1000
    grad_clip_norm: float = 10.0
    device: str = "auto"
    torch_threads: int = 0  # 0 = torch default
    image_stats: str = "dataset"  # dataset | imagenet
    # frames in memory (true: decode every video once), streamed (false: decoded per sample) or "auto":
    # in memory when the decoded frames fit in frame_cache_budget_mb, streamed otherwise
    cache_frames: bool | str = "auto"
    frame_cache_budget_mb: float = 4096.0
    # constant: the optimizer's lr throughout (LeRobot's ACT); cosine: decayed to 0 at `steps` (a
    # policy's own make_scheduler, if it has one, takes precedence)
    lr_schedule: str = "constant"
    augment_shift: int = 0  # DrQ random shift of the camera images by up to this many pixels (0: off; policy/augment.py)
    dist_timeout_s: float = 600.0  # torchrun: a collective waiting longer than this fails the run (a rank died)

    def __post_init__(self) -> None:
        if self.cache_frames not in (True, False, "auto"):
            raise ValueError(f"train.cache_frames must be true, false or auto, got {self.cache_frames!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"train.lr_schedule must be constant or cosine, got {self.lr_schedule!r}")
        if self.batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {self.batch_size}")


def load_yaml_config(path: Path) -> tuple[dict, dict, dict]:
    """(model, workspace, train) sections of a config/policy/act_*.yaml training file."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    unknown = set(data) - {"model", "workspace", "train"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (expected model, workspace, train)")
    return data.get("model") or {}, data.get("workspace") or {}, data.get("train") or {}
