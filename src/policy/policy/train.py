"""Policy training on a LeRobot v3.0 dataset: any registered policy type (model section `type`,
default act; policy.base), its optimizer (ACT: AdamW with LeRobot's learning rates), periodic
resumable checkpoints, a progress bar, loss curves (losses.csv + loss.png) and optional experiment
loggers (`TrainLogger`: log(step, metrics) each log interval, close() at the end).

Output layout (LeRobot's): <out>/checkpoints/<step>/pretrained_model/{config.json, model.safetensors,
stats.safetensors, workspace.json} + <out>/checkpoints/<step>/training_state.{safetensors,json}
(no pickle); checkpoints/last points at the newest one.

Under `torchrun --nproc_per_node N` the same loop runs DistributedDataParallel (policy.distributed):
train.batch_size frames per rank, a global batch of batch_size x N per step, rank 0 alone writing
checkpoints, curves and calling loggers; a resume restores every rank.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from policy.augment import random_shift
from policy.base import Policy, PolicyConfig, policy_classes
from policy.checkpoint import load_checkpoint, save_checkpoint
from policy.config import ACTION, ENV_STATE, KEYFRAME, STATE, TrainConfig, WorkspaceConfig
from policy.dataset import LeRobotChunkDataset, dataset_stats, read_meta
from policy.distributed import DistContext, FrameSampler, setup, teardown, wrap_model
from policy.frames import worker_context
from policy.normalize import Normalizer, imagenet_stats
from policy.training_state import capture_rng, load_training_state, restore_rng, save_training_state


class TrainLogger(Protocol):
    """Experiment tracking: metrics are loss terms, `lr` and `samples_per_s` per log interval."""

    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


@dataclass
class TrainResult:
    output: Path
    step: int
    first_loss: float
    last_loss: float
    samples_per_s: float


class _Cosine:
    """lr factor at a step: cos from 1 to 0 over `total` steps (a class, not a lambda: LambdaLR keeps
    a callable object's state in its state_dict, so a resumed run continues the same curve)."""

    def __init__(self, total: int) -> None:
        self.total = max(int(total), 1)

    def __call__(self, step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Every param group's lr decayed along a half cosine to 0 at total_steps."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _Cosine(total_steps))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_config(root: Path, model_cfg: dict, ws: WorkspaceConfig) -> PolicyConfig:
    """The policy config (model_cfg["type"], default act) whose features come from the dataset
    (cameras, state, tactile, action)."""
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
    config_cls = policy_classes(str(cfg.pop("type", "act")))[0]
    cfg.setdefault("n_action_steps", cfg.get("chunk_size", 100))
    return config_cls(input_features=inputs, output_features=outputs, **cfg)


def plot_losses(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in ("loss", "l1_loss", "kld_loss", "keyframe_loss"):
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
          resume: bool = False, progress: bool = True, loggers: Sequence[TrainLogger] = ()) -> TrainResult:
    """Train (one process, or one rank of a torchrun launch); loggers are called on rank 0 only."""
    ctx = setup(train_cfg.device, train_cfg.dist_timeout_s)
    try:
        return _train(ctx, dataset, output, model_cfg, ws_cfg, train_cfg, resume, progress, loggers)
    except RuntimeError as exc:
        lost = ctx.peer_failure(exc)
        if lost is None:
            raise
        raise lost from None
    finally:
        teardown(ctx)


def _train(ctx: DistContext, dataset: str | Path, output: str | Path, model_cfg: dict, ws_cfg: dict,
           train_cfg: TrainConfig, resume: bool, progress: bool, loggers: Sequence[TrainLogger]) -> TrainResult:
    from tqdm import tqdm

    output = Path(output)
    ckpt_root = output / "checkpoints"
    last = ckpt_root / "last"
    device = ctx.device
    if train_cfg.torch_threads:
        torch.set_num_threads(train_cfg.torch_threads)
    # rank 0 seeds as a 1-process run does (the model initialises identically; DDP broadcasts it)
    torch.manual_seed(train_cfg.seed + ctx.rank)
    random.seed(train_cfg.seed + ctx.rank)
    np.random.seed(train_cfg.seed + ctx.rank)

    if resume and last.exists():
        state = load_training_state(last)  # first: a refused state file stops before any other work
        ck = load_checkpoint(last / "pretrained_model", device=device)
        cfg, ws, model, normalizer = ck.config, ck.workspace, ck.policy, ck.normalizer
        start_step, rows = state["step"], list(state["losses"])
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
        model: Policy = policy_classes(cfg.policy_type)[1](cfg, ws)
        state, start_step, rows = None, 0, []

    model.to(device).train()
    normalizer.to(device)
    data = LeRobotChunkDataset(dataset, cfg.chunk_size, image_keys=cfg.image_features,
                               image_size=tuple(ws.image_size) if ws.image_size else None,
                               env_keys=ws.env_state_keys, n_obs_steps=cfg.n_obs_steps,
                               cache_frames=train_cfg.cache_frames, cache_budget_mb=train_cfg.frame_cache_budget_mb,
                               keyframe_joint=ws.keyframe_joint if ws.keyframe_weight > 0 else None,
                               image_crop=ws.image_crop)
    optimizer = model.make_optimizer()
    scheduler = model.make_scheduler(optimizer)
    if scheduler is None and train_cfg.lr_schedule == "cosine":
        scheduler = cosine_schedule(optimizer, train_cfg.steps)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        saved = state["rank_rng"]  # a resume with another world size: rank 0 restores, the others keep seed+rank
        if len(saved) == ctx.world_size or ctx.is_main:
            restore_rng(saved[ctx.rank] if len(saved) == ctx.world_size else state["rng"])
    forward = wrap_model(model, ctx)
    sampler = FrameSampler(len(data), train_cfg.batch_size, ctx.rank, ctx.world_size, train_cfg.seed, start_step)
    loader = DataLoader(data, batch_size=train_cfg.batch_size, sampler=sampler, num_workers=train_cfg.num_workers,
                        pin_memory=device.type == "cuda", drop_last=True, persistent_workers=train_cfg.num_workers > 0,
                        multiprocessing_context=worker_context(train_cfg.num_workers))
    batches = iter(loader)
    if ctx.is_main:
        output.mkdir(parents=True, exist_ok=True)
        (output / "train_config.json").write_text(json.dumps(
            {"dataset": str(dataset), "train": asdict(train_cfg), "world_size": ctx.world_size,
             "global_batch_size": train_cfg.batch_size * ctx.world_size}, indent=2))

    def save(step: int) -> None:
        rank_rng = ctx.gather(capture_rng())  # collective: every rank reaches each save together
        if ctx.is_main:
            d = ckpt_root / f"{step:06d}"
            save_checkpoint(d / "pretrained_model", cfg, ws, model, normalizer)
            save_training_state(d, step, optimizer, scheduler, rows, rank_rng if ctx.enabled else None)
            tmp = ckpt_root / "last.tmp"
            if tmp.is_symlink():
                tmp.unlink()
            os.symlink(d.name, tmp)
            os.replace(tmp, last)  # atomic: a crash never leaves 'last' dangling
            write_curves()
        ctx.barrier()

    def write_curves() -> None:
        if not rows:
            return
        with open(output / "losses.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        plot_losses(rows, output / "loss.png")

    bar = tqdm(range(start_step, train_cfg.steps), initial=start_step, total=train_cfg.steps, desc=f"train {cfg.policy_type}",
               disable=not progress or not ctx.is_main, dynamic_ncols=True)
    t0, samples, first_loss, loss_val = time.perf_counter(), 0, math.nan, math.nan
    window: list[float] = []
    t_log, samples_log = t0, 0
    step = start_step
    try:
        for step in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
            batch = random_shift(batch, cfg.image_features, train_cfg.augment_shift)
            batch = normalizer.normalize_batch(batch)
            if KEYFRAME in batch:  # an action: the action's normalisation
                batch[KEYFRAME] = normalizer.normalize(ACTION, batch[KEYFRAME])
            loss, info = forward(batch)
            if ctx.any(not torch.isfinite(loss)):  # every rank stops together
                save(step)
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; last good state saved in {last}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            samples += batch[ACTION].shape[0] * ctx.world_size
            loss_val = float(loss.detach())
            window.append(loss_val)
            if math.isnan(first_loss):
                first_loss = loss_val
            if (step + 1) % train_cfg.log_every == 0 or step + 1 == train_cfg.steps:
                rows.append({"step": step + 1, **ctx.mean({"loss": float(np.mean(window)), **info})})
                window.clear()
                bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}", **{k: f"{v:.4f}" for k, v in list(info.items())[:1]})
                now = time.perf_counter()
                metrics = {**{k: float(v) for k, v in rows[-1].items() if k != "step"},
                           "lr": float(optimizer.param_groups[0]["lr"]),
                           **{f"lr_group{i}": float(g["lr"]) for i, g in enumerate(optimizer.param_groups) if i},
                           "samples_per_s": (samples - samples_log) / (now - t_log) if now > t_log else 0.0}
                t_log, samples_log = now, samples
                for logger in loggers if ctx.is_main else ():
                    logger.log(step + 1, metrics)
            if (step + 1) % train_cfg.save_every == 0 and step + 1 != train_cfg.steps:
                save(step + 1)
        final = max(train_cfg.steps, start_step)
        save(final)
    finally:
        for logger in loggers:
            logger.close()
    elapsed = time.perf_counter() - t0
    model.eval()
    return TrainResult(output, final, first_loss, loss_val, samples / elapsed if elapsed > 0 else 0.0)
