"""ACT (Action Chunking with Transformers): CVAE encoder, ResNet-18 image backbone, transformer
encoder/decoder predicting a chunk of future actions.

Module and parameter names follow LeRobot's ACT (`model.backbone.*`, `model.encoder.layers.N.*`,
`model.vae_encoder.*`, `model.encoder_1d_feature_pos_embed`, `model.action_head`, ...) so that a
LeRobot checkpoint's state_dict loads into `ACT` unchanged. Inputs are normalised tensors.
`ACTPolicyModule` is the `policy.base.Policy` registered as "act" (its state_dict: `model.*`).
Workspace additions LeRobot does not have: one encoder per camera, and the next-keyframe head
(policy/keyframes.py) with its optional token.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from policy.base import Policy, make_backbone, register_policy
from policy.config import ACTION, KEYFRAME, STATE, ACTConfig


def sinusoidal_table(num_positions: int, dim: int) -> Tensor:
    """1D sinusoidal position table (num_positions, dim): sin on even, cos on odd channels."""
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    idx = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, 2 * torch.div(idx, 2, rounding_mode="floor") / dim)
    table = torch.where(idx.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


class SinusoidalPosition2d(nn.Module):
    """2D sinusoidal embedding of a feature map: y features then x features, dim each."""

    def __init__(self, dim: int, temperature: float = 10000.0) -> None:
        super().__init__()
        self.dim, self.temperature, self.eps = dim, temperature, 1e-6

    def forward(self, fmap: Tensor) -> Tensor:
        h, w = fmap.shape[-2:]
        ones = torch.ones(1, h, w, device=fmap.device, dtype=torch.float32)
        y = ones.cumsum(1)
        x = ones.cumsum(2)
        y = y / (y[:, -1:, :] + self.eps) * 2 * math.pi
        x = x / (x[:, :, -1:] + self.eps) * 2 * math.pi
        freq = self.temperature ** (2 * torch.div(torch.arange(self.dim, device=fmap.device), 2,
                                                  rounding_mode="floor") / self.dim)
        x = x.unsqueeze(-1) / freq
        y = y.unsqueeze(-1) / freq
        ex = torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(3)
        ey = torch.stack((y[..., 0::2].sin(), y[..., 1::2].cos()), dim=-1).flatten(3)
        return torch.cat((ey, ex), dim=3).permute(0, 3, 1, 2)  # (1, 2*dim, h, w)


def _activation(name: str):
    return {"relu": F.relu, "gelu": F.gelu, "glu": F.glu}[name]


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ACTConfig) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout)
        self.linear1 = nn.Linear(cfg.dim_model, cfg.dim_feedforward)
        self.dropout = nn.Dropout(cfg.dropout)
        self.linear2 = nn.Linear(cfg.dim_feedforward, cfg.dim_model)
        self.norm1 = nn.LayerNorm(cfg.dim_model)
        self.norm2 = nn.LayerNorm(cfg.dim_model)
        self.dropout1 = nn.Dropout(cfg.dropout)
        self.dropout2 = nn.Dropout(cfg.dropout)
        self.activation = _activation(cfg.feedforward_activation)
        self.pre_norm = cfg.pre_norm

    def forward(self, x: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = _with_pos(x, pos)
        x = skip + self.dropout1(self.self_attn(q, k, value=x, key_padding_mask=key_padding_mask)[0])
        if self.pre_norm:
            skip, x = x, self.norm2(x)
        else:
            x = self.norm1(x)
            skip = x
        x = skip + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
        return x if self.pre_norm else self.norm2(x)


class Encoder(nn.Module):
    def __init__(self, cfg: ACTConfig, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(cfg.dim_model) if cfg.pre_norm else nn.Identity()

    def forward(self, x: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, pos, key_padding_mask)
        return self.norm(x)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ACTConfig) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout)
        self.multihead_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout)
        self.linear1 = nn.Linear(cfg.dim_model, cfg.dim_feedforward)
        self.dropout = nn.Dropout(cfg.dropout)
        self.linear2 = nn.Linear(cfg.dim_feedforward, cfg.dim_model)
        self.norm1 = nn.LayerNorm(cfg.dim_model)
        self.norm2 = nn.LayerNorm(cfg.dim_model)
        self.norm3 = nn.LayerNorm(cfg.dim_model)
        self.dropout1 = nn.Dropout(cfg.dropout)
        self.dropout2 = nn.Dropout(cfg.dropout)
        self.dropout3 = nn.Dropout(cfg.dropout)
        self.activation = _activation(cfg.feedforward_activation)
        self.pre_norm = cfg.pre_norm

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = _with_pos(x, pos)
        x = skip + self.dropout1(self.self_attn(q, k, value=x)[0])
        if self.pre_norm:
            skip, x = x, self.norm2(x)
        else:
            x = self.norm1(x)
            skip = x
        x = self.multihead_attn(query=_with_pos(x, pos), key=_with_pos(memory, memory_pos), value=memory)[0]
        x = skip + self.dropout2(x)
        if self.pre_norm:
            skip, x = x, self.norm3(x)
        else:
            x = self.norm2(x)
            skip = x
        x = skip + self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))
        return x if self.pre_norm else self.norm3(x)


class Decoder(nn.Module):
    """Runs every one of its n_decoder_layers layers, then a final LayerNorm."""

    def __init__(self, cfg: ACTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers)])
        self.norm = nn.LayerNorm(cfg.dim_model)

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory, pos, memory_pos)
        return self.norm(x)


class ACT(nn.Module):
    """The network. Batches hold normalised tensors: state (B, D), images (B, 3, H, W) per camera,
    env (B, E), and for training action (B, chunk, A) + action_is_pad (B, chunk)."""

    def __init__(self, cfg: ACTConfig, backbone_norm: str = "frozen", camera_encoders: str = "shared",
                 keyframe_head: bool = False, keyframe_token: bool = False, keyframe_teacher_noise: float | None = None) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.dim_model
        state = cfg.robot_state_feature
        env = cfg.env_state_feature
        action_dim = cfg.action_feature["shape"][0]
        if cfg.use_vae:
            self.vae_encoder = Encoder(cfg, cfg.n_vae_encoder_layers)
            self.vae_encoder_cls_embed = nn.Embedding(1, d)
            if state:
                self.vae_encoder_robot_state_input_proj = nn.Linear(state["shape"][0], d)
            self.vae_encoder_action_input_proj = nn.Linear(action_dim, d)
            self.vae_encoder_latent_output_proj = nn.Linear(d, cfg.latent_dim * 2)
            n_tokens = 1 + cfg.chunk_size + (1 if state else 0)
            self.register_buffer("vae_encoder_pos_enc", sinusoidal_table(n_tokens, d).unsqueeze(0))
        self.per_camera = camera_encoders == "per_camera" and bool(cfg.image_features)
        if cfg.image_features:
            made = [make_backbone(cfg.vision_backbone, norm=backbone_norm, dilate_last=cfg.replace_final_stride_with_dilation)
                    for _ in (cfg.image_features if self.per_camera else [None])]
            if self.per_camera:
                self.backbones = nn.ModuleList(made)
            else:
                self.backbone = made[0]  # LeRobot's name
        self.encoder = Encoder(cfg, cfg.n_encoder_layers)
        self.decoder = Decoder(cfg)
        if state:
            self.encoder_robot_state_input_proj = nn.Linear(state["shape"][0], d)
        if env:
            self.encoder_env_state_input_proj = nn.Linear(env["shape"][0], d)
        self.encoder_latent_input_proj = nn.Linear(cfg.latent_dim, d)
        if cfg.image_features:
            self.encoder_img_feat_input_proj = nn.Conv2d(made[0].out_channels, d, kernel_size=1)
            self.encoder_cam_feat_pos_embed = SinusoidalPosition2d(d // 2)
            if self.per_camera:
                self.encoder_cam_embed = nn.Embedding(len(cfg.image_features), d)
        self.encoder_1d_feature_pos_embed = nn.Embedding(1 + (1 if state else 0) + (1 if env else 0), d)
        # next-keyframe head (policy/keyframes.py): pooled camera features -> the action at the next
        # gripper event; its prediction optionally enters the encoder as one more token. Images only:
        # given the state, it learns that the arm's path already points at the grasp (in every
        # demonstration it does) and follows a policy's own error instead of finding the cube
        self.keyframe_token = keyframe_token and keyframe_head and bool(cfg.image_features)
        # training feeds the token the true keyframe plus this much noise (normalised units), so the
        # decoder learns to act on it; the head's own prediction replaces it at inference. None: the
        # head's prediction in training too
        self.keyframe_teacher_noise = keyframe_teacher_noise
        if keyframe_head and cfg.image_features:
            n_in = made[0].out_channels * len(cfg.image_features)
            self.keyframe_head = nn.Sequential(nn.Linear(n_in, 4 * d), nn.ReLU(), nn.Linear(4 * d, action_dim))
            if self.keyframe_token:
                self.encoder_keyframe_input_proj = nn.Linear(action_dim, d)
                self.encoder_keyframe_pos_embed = nn.Embedding(1, d)
        self.decoder_pos_embed = nn.Embedding(cfg.chunk_size, d)
        self.action_head = nn.Linear(d, action_dim)
        self._reset_transformer_parameters()

    def _reset_transformer_parameters(self) -> None:
        for p in list(self.encoder.parameters()) + list(self.decoder.parameters()):
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, batch: dict[str, Tensor], with_keyframe: bool = False) -> tuple:
        """(action chunk, (mu, log_sigma_x2)), plus the next-keyframe prediction (or None) when
        with_keyframe."""
        cfg = self.config
        has_state = cfg.robot_state_feature is not None
        ref = batch[STATE] if has_state else batch[cfg.image_features[0]]
        bsz = ref.shape[0]
        if cfg.use_vae and self.training and ACTION in batch:
            tokens = [self.vae_encoder_cls_embed.weight.unsqueeze(0).expand(bsz, -1, -1)]
            if has_state:
                tokens.append(self.vae_encoder_robot_state_input_proj(batch[STATE]).unsqueeze(1))
            tokens.append(self.vae_encoder_action_input_proj(batch[ACTION]))
            vae_in = torch.cat(tokens, dim=1).permute(1, 0, 2)
            n_prefix = 2 if has_state else 1
            pad = batch.get("action_is_pad")
            if pad is None:
                pad = torch.zeros(bsz, cfg.chunk_size, dtype=torch.bool, device=ref.device)
            mask = torch.cat([torch.zeros(bsz, n_prefix, dtype=torch.bool, device=ref.device), pad], dim=1)
            pos = self.vae_encoder_pos_enc.clone().detach().permute(1, 0, 2)
            cls_out = self.vae_encoder(vae_in, pos=pos, key_padding_mask=mask)[0]
            params = self.vae_encoder_latent_output_proj(cls_out)
            mu, log_sigma_x2 = params[:, : cfg.latent_dim], params[:, cfg.latent_dim:]
            latent = mu + (log_sigma_x2 / 2).exp() * torch.randn_like(mu)
        else:
            mu = log_sigma_x2 = None
            latent = torch.zeros(bsz, cfg.latent_dim, dtype=ref.dtype, device=ref.device)

        tokens = [self.encoder_latent_input_proj(latent)]
        pos = list(self.encoder_1d_feature_pos_embed.weight.unsqueeze(1))
        if has_state:
            tokens.append(self.encoder_robot_state_input_proj(batch[STATE]))
        if cfg.env_state_feature is not None:
            tokens.append(self.encoder_env_state_input_proj(batch["observation.environment_state"]))
        pooled = []
        for i, key in enumerate(cfg.image_features):
            fmap = (self.backbones[i] if self.per_camera else self.backbone).forward_features(batch[key])
            pooled.append(fmap.mean(dim=(2, 3)))
            cam_pos = self.encoder_cam_feat_pos_embed(fmap).to(fmap.dtype)
            if self.per_camera:
                cam_pos = cam_pos + self.encoder_cam_embed.weight[i].view(1, -1, 1, 1)
            feats = self.encoder_img_feat_input_proj(fmap)
            tokens.extend(list(feats.flatten(2).permute(2, 0, 1)))  # (h*w) x (B, d)
            pos.extend(list(cam_pos.flatten(2).permute(2, 0, 1)))  # (h*w) x (1, d)
        keyframe = None
        if hasattr(self, "keyframe_head"):
            keyframe = self.keyframe_head(torch.cat(pooled, dim=1))
            if self.keyframe_token:
                given = keyframe
                if self.training and self.keyframe_teacher_noise is not None and KEYFRAME in batch:
                    given = batch[KEYFRAME] + self.keyframe_teacher_noise * torch.randn_like(batch[KEYFRAME])
                tokens.append(self.encoder_keyframe_input_proj(given))
                pos.append(self.encoder_keyframe_pos_embed.weight)
        enc_in = torch.stack(tokens, dim=0)
        enc_pos = torch.stack(pos, dim=0)
        memory = self.encoder(enc_in, pos=enc_pos)
        dec_in = torch.zeros(cfg.chunk_size, bsz, cfg.dim_model, dtype=enc_in.dtype, device=enc_in.device)
        out = self.decoder(dec_in, memory, pos=self.decoder_pos_embed.weight.unsqueeze(1), memory_pos=enc_pos)
        actions = self.action_head(out.transpose(0, 1))
        return (actions, (mu, log_sigma_x2), keyframe) if with_keyframe else (actions, (mu, log_sigma_x2))


def act_loss(cfg: ACTConfig, pred: Tensor, latent: tuple[Tensor | None, Tensor | None],
             batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """L1 over non-padded chunk steps + kl_weight * KL(q(z|a,s) || N(0, I))."""
    pad = batch.get("action_is_pad")
    l1 = F.l1_loss(batch[ACTION], pred, reduction="none")
    if pad is not None:
        l1 = l1 * (~pad).unsqueeze(-1)
    l1 = l1.mean()
    info = {"l1_loss": float(l1.detach())}
    mu, log_sigma_x2 = latent
    if mu is None:
        return l1, info
    kld = (-0.5 * (1 + log_sigma_x2 - mu.pow(2) - log_sigma_x2.exp())).sum(-1).mean()
    info["kld_loss"] = float(kld.detach())
    return l1 + cfg.kl_weight * kld, info


class ACTPolicyModule(Policy):
    """ACT behind the policy interface: `model` is the network (LeRobot's ACTPolicy.model)."""

    def __init__(self, config: ACTConfig, workspace=None) -> None:  # noqa: ANN001 - a WorkspaceConfig
        super().__init__(config, workspace)
        self.keyframe_weight = float(getattr(workspace, "keyframe_weight", 0.0))
        self.model = ACT(config, backbone_norm=getattr(workspace, "backbone_norm", "frozen"),
                         camera_encoders=getattr(workspace, "camera_encoders", "shared"),
                         keyframe_head=self.keyframe_weight > 0,
                         keyframe_token=bool(getattr(workspace, "keyframe_token", False)),
                         keyframe_teacher_noise=getattr(workspace, "keyframe_teacher_noise", None))

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        pred, latent, keyframe = self.model(batch, with_keyframe=True)
        loss, info = act_loss(self.config, pred, latent, batch)
        if keyframe is not None and KEYFRAME in batch:
            kf = F.l1_loss(keyframe, batch[KEYFRAME])
            info["keyframe_loss"] = float(kf.detach())
            loss = loss + self.keyframe_weight * kf
        return loss, info

    def predict_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        return self.model(batch)[0]

    def make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        named = list(self.model.named_parameters())
        is_backbone = [n.startswith(("backbone.", "backbones.")) for n, _ in named]
        backbone = [p for (_, p), b in zip(named, is_backbone) if b and p.requires_grad]
        rest = [p for (_, p), b in zip(named, is_backbone) if not b and p.requires_grad]
        groups = [{"params": rest}]
        if backbone:
            groups.append({"params": backbone, "lr": cfg.optimizer_lr_backbone})
        # foreach: one fused update over all tensors (the per-tensor loop dominates small CPU steps)
        return torch.optim.AdamW(groups, lr=cfg.optimizer_lr, weight_decay=cfg.optimizer_weight_decay, foreach=True)


register_policy("act", ACTConfig, ACTPolicyModule)
