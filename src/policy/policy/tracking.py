"""Training trackers: Weights & Biases and TensorBoard loggers with one interface.

    loggers = open_loggers(output, wandb=True, tensorboard=True, config={...})
    for lg in loggers:
        lg.log(step, {"train/loss": 0.3, "train/lr": 1e-5, "train/samples_per_s": 80.0})
    close_loggers(loggers)

W&B runs offline (WANDB_MODE=offline, a run folder under <output>/wandb/) unless the user is
logged in (an API key in WANDB_API_KEY or in wandb's netrc entry) or set WANDB_MODE themselves;
`wandb sync <output>/wandb/offline-run-*` uploads an offline run later. TensorBoard event files go
to <output>/tensorboard/ (`tensorboard --logdir <output>/tensorboard`).

The run's identity is kept in <output>/tracking.json, so a later stage (the demo's evaluation)
appends to the same W&B run and TensorBoard folder (`open_loggers(output, resume=True)`).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol

TRACKING_FILE = "tracking.json"
TB_DIR = "tensorboard"
WANDB_DIR = "wandb"
PROJECT = "robot-learning-act"


class MetricLogger(Protocol):
    """What train() and the demo's evaluation call: numbers by name at a step, then close."""

    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


def wandb_logged_in() -> bool:
    """True when wandb holds an API key (env or its netrc entry); never prompts, never connects."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import wandb
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth

        return bool(read_netrc_auth(host=wandb.Settings().base_url))
    except Exception:  # noqa: BLE001 - no netrc, or wandb's internals moved: treat as logged out
        return False


def wandb_mode() -> str:
    """The user's WANDB_MODE when set, else online when logged in, else offline."""
    return os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


class WandbLogger:
    """One W&B run (offline unless logged in); `run_id` resumes an earlier run of this output."""

    def __init__(self, output: Path, run_id: str | None = None, config: dict | None = None,
                 name: str | None = None) -> None:
        import wandb

        self.mode = wandb_mode()
        root = Path(output)
        root.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), dir=str(root), mode=self.mode,
                              id=run_id, resume="allow" if run_id else None, config=config or {},
                              name=name or root.name, reinit="create_new",
                              settings=wandb.Settings(console="off", x_disable_stats=True, silent=True))
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")   # charts over the training step, also after a resume
        self.run_id = self.run.id
        self.run_dir = Path(self.run.dir).parent      # <output>/wandb/offline-run-<time>-<id>
        self.closed = False

    def log(self, step: int, metrics: dict[str, float]) -> None:
        values = _finite(metrics)
        if values:
            self.run.log({**values, "step": int(step)})

    def close(self) -> None:
        import wandb

        if self.closed:
            return
        self.closed = True
        self.run.finish()
        # finish() returns before wandb's service has written the last records of an offline run;
        # teardown waits for it (a later run starts a new service)
        wandb.teardown()


class TensorBoardLogger:
    """Scalars into TensorBoard event files under <output>/tensorboard/ (one file per open)."""

    def __init__(self, output: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(output) / TB_DIR
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in _finite(metrics).items():
            self.writer.add_scalar(key, value, global_step=int(step))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()   # idempotent


def open_loggers(output: str | Path, *, wandb: bool = False, tensorboard: bool = False,
                 config: dict | None = None, resume: bool = False) -> list[MetricLogger]:
    """The loggers asked for; with resume=True, those recorded in <output>/tracking.json (the
    training run's), continuing the same W&B run. Records what it opened in tracking.json."""
    output = Path(output)
    record_path = output / TRACKING_FILE
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if resume:
        wandb = wandb or "wandb_run_id" in record
        tensorboard = tensorboard or bool(record.get("tensorboard"))
    loggers: list[MetricLogger] = []
    if wandb:
        lg = WandbLogger(output, run_id=record.get("wandb_run_id"), config=config)
        record.update(wandb_run_id=lg.run_id, wandb_mode=lg.mode, wandb_dir=str(lg.run_dir))
        loggers.append(lg)
    if tensorboard:
        tb = TensorBoardLogger(output)
        record.update(tensorboard=str(tb.log_dir))
        loggers.append(tb)
    if loggers:
        output.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=2))
    return loggers


def log_all(loggers: list[MetricLogger], step: int, metrics: dict[str, float]) -> None:
    for lg in loggers:
        lg.log(step, metrics)


def close_loggers(loggers: list[MetricLogger]) -> None:
    for lg in loggers:
        lg.close()


class Prefixed:
    """A logger whose metric names get a prefix: train() logs `loss`, the dashboards show `train/loss`."""

    def __init__(self, logger: MetricLogger, prefix: str) -> None:
        self.logger, self.prefix = logger, prefix

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.logger.log(step, {f"{self.prefix}{k}": v for k, v in metrics.items()})

    def close(self) -> None:
        self.logger.close()
