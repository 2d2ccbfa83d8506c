"""ACT training on a LeRobot v3.0 dataset: AdamW (LeRobot's learning rates), periodic resumable
checkpoints, a progress bar and loss curves (losses.csv + loss.png) in the output folder.

Output layout (LeRobot's): <out>/checkpoints/<step>/pretrained_model/{config.json, model.safetensors,
stats.safetensors, workspace.json} + <out>/checkpoints/<step>/training_state.pt; checkpoints/last
points at the newest one.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from policy.act import ACT, act_loss
from policy.augment import random_shift
from policy.checkpoint import load_checkpoint, save_checkpoint
from policy.config import ACTION, ENV_STATE, STATE, ACTConfig, TrainConfig, WorkspaceConfig
from policy.dataset import LeRobotChunkDataset, dataset_stats, read_meta
from policy.normalize import Normalizer, imagenet_stats


@dataclass
class TrainResult:
    output: Path
    step: int
    first_loss: float
    last_loss: float
    samples_per_s: float


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_config(root: Path, model_cfg: dict, ws: WorkspaceConfig) -> ACTConfig:
    """An ACTConfig whose features come from the dataset (cameras, state, tactile, action)."""
    meta = read_meta(root)
    cameras = meta.video_keys if ws.cameras is None else list(ws.cameras)
    env_keys = (meta.vector_keys("observation.tactile.") + meta.vector_keys("observation.pose.")
                if ws.env_state_keys is None else list(ws.env_state_keys))
    inputs = {STATE: {"type": "STATE", "shape": list(meta.features[STATE]["shape"])}}
    if env_keys:
        inputs[ENV_STATE] = {"type": "ENV", "shape": [sum(int(np.prod(meta.features[k]["shape"])) for k in env_keys)]}
    for cam in cameras:
        if cam not in meta.features:
            raise ValueError(f"camera {cam} is not a feature of {root} (videos: {meta.video_keys})")
        h, w = ws.image_size or list(meta.features[cam]["shape"][:2])
        inputs[cam] = {"type": "VISUAL", "shape": [3, int(h), int(w)]}
    outputs = {ACTION: {"type": "ACTION", "shape": list(meta.features[ACTION]["shape"])}}
    ws.cameras, ws.env_state_keys = cameras, env_keys
    ws.state_names, ws.action_names = meta.names(STATE), meta.names(ACTION)
    ws.fps, ws.robot_type = meta.fps, str(meta.info.get("robot_type", ""))
    cfg = dict(model_cfg)
    cfg.setdefault("n_action_steps", cfg.get("chunk_size", 100))
    return ACTConfig(input_features=inputs, output_features=outputs, **cfg)


def make_optimizer(model: ACT, cfg: ACTConfig) -> torch.optim.Optimizer:
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    groups = [{"params": rest}]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.optimizer_lr_backbone})
    # foreach: one fused update over all tensors (the per-tensor loop dominates small CPU steps)
    return torch.optim.AdamW(groups, lr=cfg.optimizer_lr, weight_decay=cfg.optimizer_weight_decay, foreach=True)


def _infinite(loader: DataLoader):
    while True:
        yield from loader


def plot_losses(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in ("loss", "l1_loss", "kld_loss"):
        if rows and key in rows[0]:
            ax.plot(steps, [r[key] for r in rows], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(dataset: str | Path, output: str | Path, model_cfg: dict, ws_cfg: dict, train_cfg: TrainConfig,
          resume: bool = False, progress: bool = True) -> TrainResult:
    from tqdm import tqdm

    output = Path(output)
    ckpt_root = output / "checkpoints"
    last = ckpt_root / "last"
    device = pick_device(train_cfg.device)
    if train_cfg.torch_threads:
        torch.set_num_threads(train_cfg.torch_threads)
    torch.manual_seed(train_cfg.seed)
    random.seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)

    if resume and last.exists():
        ck = load_checkpoint(last / "pretrained_model", device=device)
        cfg, ws, model, normalizer = ck.config, ck.workspace, ck.model, ck.normalizer
        state = torch.load(last / "training_state.pt", map_location=device, weights_only=False)
        start_step, rows = int(state["step"]), list(state["losses"])
    elif output.exists() and last.exists() and not resume:
        raise FileExistsError(f"{output} already holds checkpoints; pass --resume to continue or pick another folder")
    else:
        ws = WorkspaceConfig.from_dict(ws_cfg)
        cfg = build_config(Path(dataset), model_cfg, ws)
        meta = read_meta(dataset)
        stats = dataset_stats(meta, [STATE, ACTION, *ws.cameras], [])
        if ws.env_state_keys:
            stats.update(dataset_stats(meta, [], ws.env_state_keys))
        if train_cfg.image_stats == "imagenet":
            stats.update({cam: imagenet_stats() for cam in ws.cameras})
        normalizer = Normalizer(cfg, stats)
        model = ACT(cfg, backbone_norm=ws.backbone_norm)
        state, start_step, rows = None, 0, []

    model.to(device).train()
    normalizer.to(device)
    data = LeRobotChunkDataset(dataset, cfg.chunk_size, image_keys=cfg.image_features,
                               image_size=tuple(ws.image_size) if ws.image_size else None,
                               env_keys=ws.env_state_keys)
    optimizer = make_optimizer(model, cfg)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
    sampler = RandomSampler(data, replacement=True, num_samples=10**9)
    loader = DataLoader(data, batch_size=train_cfg.batch_size, sampler=sampler, num_workers=train_cfg.num_workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    batches = _infinite(loader)
    output.mkdir(parents=True, exist_ok=True)
    (output / "train_config.json").write_text(json.dumps({"dataset": str(dataset), "train": asdict(train_cfg)}, indent=2))

    def save(step: int) -> None:
        d = ckpt_root / f"{step:06d}"
        save_checkpoint(d / "pretrained_model", cfg, ws, model, normalizer)
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "losses": rows},
                   d / "training_state.pt")
        tmp = ckpt_root / "last.tmp"
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(d.name, tmp)
        os.replace(tmp, last)  # atomic: a crash never leaves 'last' dangling
        write_curves()

    def write_curves() -> None:
        if not rows:
            return
        with open(output / "losses.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        plot_losses(rows, output / "loss.png")

    bar = tqdm(range(start_step, train_cfg.steps), initial=start_step, total=train_cfg.steps, desc="train ACT",
               disable=not progress, dynamic_ncols=True)
    t0, samples, first_loss, loss_val = time.perf_counter(), 0, math.nan, math.nan
    window: list[float] = []
    step = start_step
    for step in bar:
        batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
        batch = random_shift(batch, cfg.image_features, train_cfg.augment_shift)
        batch = normalizer.normalize_batch(batch)
        pred, latent = model(batch)
        loss, info = act_loss(cfg, pred, latent, batch)
        if not torch.isfinite(loss):
            save(step)
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; last good state saved in {last}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip_norm)
        optimizer.step()
        samples += batch[ACTION].shape[0]
        loss_val = float(loss.detach())
        window.append(loss_val)
        if math.isnan(first_loss):
            first_loss = loss_val
        if (step + 1) % train_cfg.log_every == 0 or step + 1 == train_cfg.steps:
            rows.append({"step": step + 1, "loss": float(np.mean(window)), **info})
            window.clear()
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}", l1=f"{info['l1_loss']:.4f}")
        if (step + 1) % train_cfg.save_every == 0 and step + 1 != train_cfg.steps:
            save(step + 1)
    final = max(train_cfg.steps, start_step)
    save(final)
    elapsed = time.perf_counter() - t0
    model.eval()
    return TrainResult(output, final, first_loss, loss_val, samples / elapsed if elapsed > 0 else 0.0)
