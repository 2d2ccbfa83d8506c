"""`policy train --wandb --tensorboard`: a tiny offline run's W&B run folder and TensorBoard event
files hold every logged metric, read back with wandb's own record classes and TensorBoard's reader;
the demo's evaluation adds its success rates to the same run."""
from __future__ import annotations

import json
import struct

import pytest
import yaml

from policy.synthetic_dataset import write_dataset
from policy.train_cli import main as train_main

MODEL = {"chunk_size": 5, "n_action_steps": 5, "dim_model": 32, "n_heads": 2, "dim_feedforward": 64,
         "n_encoder_layers": 1, "n_decoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 4, "dropout": 0.0,
         "optimizer_lr": 1e-3, "optimizer_lr_backbone": 1e-3}
TRAIN = {"steps": 6, "batch_size": 4, "log_every": 2, "save_every": 1000, "device": "cpu", "torch_threads": 1}


def wandb_records(path):
    """The records of a .wandb file: W&B's LevelDB-style log (7-byte header, 32 KiB blocks of
    crc32/length/type-framed fragments) holding wandb_internal_pb2.Record messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, records, pending = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):   # FULL or LAST
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
            pending = b""
    return records


def wandb_history(wandb_dir, run_id: str) -> list[dict]:
    """History rows of run `run_id`: an offline run resumed later (the demo's eval) writes a
    second folder with the same id."""
    rows = []
    for log in sorted(wandb_dir.glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")):
        for rec in wandb_records(log):
            if rec.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in rec.history.item})
    return rows


def tensorboard_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    mux = EventMultiplexer().AddRunsFromDirectory(str(log_dir))
    mux.Reload()
    out: dict[str, list[tuple[int, float]]] = {}
    for run in mux.Runs():
        acc = mux.GetAccumulator(run)
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture()
def offline(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_train_logs_to_offline_wandb_and_tensorboard(tmp_path, offline):
    from policy.tracking import wandb_mode

    assert wandb_mode() == "offline"   # no key here: never online, never a prompt
    ds = write_dataset(tmp_path / "ds", episodes=2, frames=20, dim=6, cameras=())
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"model": MODEL, "workspace": {"cameras": []}, "train": TRAIN}))
    out = tmp_path / "demo" / "train"     # tools.demo's layout: <out>/train
    rc = train_main(["--dataset", str(ds), "--output", str(out), "--config", str(cfg), "--no-progress",
                     "--wandb", "--tensorboard"])
    assert rc == 0
    record = json.loads((out / "tracking.json").read_text())
    assert record["wandb_mode"] == "offline"
    run_id = record["wandb_run_id"]
    assert list((out / "wandb").glob(f"offline-run-*-{run_id}")), list((out / "wandb").iterdir())

    losses = csv_rows(out / "losses.csv")
    assert [int(r["step"]) for r in losses] == [2, 4, 6]
    history = [h for h in wandb_history(out / "wandb", run_id) if "train/loss" in h]
    assert [h["step"] for h in history] == [2, 4, 6]
    for h, row in zip(history, losses, strict=True):
        assert h["train/loss"] == pytest.approx(float(row["loss"]), rel=1e-6)
        assert h["train/l1_loss"] == pytest.approx(float(row["l1_loss"]), rel=1e-6)
        assert "train/kld_loss" in h and h["train/lr"] == pytest.approx(MODEL["optimizer_lr"])
        assert h["train/samples_per_s"] > 0
    tb = tensorboard_scalars(out / "tensorboard")
    assert [s for s, _ in tb["train/loss"]] == [2, 4, 6]
    assert [v for _, v in tb["train/loss"]] == pytest.approx([float(r["loss"]) for r in losses], rel=1e-6)
    assert {"train/l1_loss", "train/kld_loss", "train/lr", "train/samples_per_s"} <= set(tb)

    # the demo's eval stage: success rates join the same W&B run and TensorBoard folder
    from tools.demo import log_eval

    log_eval(tmp_path / "demo", {"episodes": 4, "success": {"ACT policy": [True, False, False, False],
                                                              "scripted expert": [True] * 4}})
    history = wandb_history(out / "wandb", run_id)
    evals = [h for h in history if "eval/success_rate/ACT_policy" in h]
    assert len(evals) == 1 and evals[0]["eval/success_rate/ACT_policy"] == 0.25 and evals[0]["step"] == 6
    tb = tensorboard_scalars(out / "tensorboard")
    assert tb["eval/success_rate/scripted_expert"] == [(6, 1.0)]


def csv_rows(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))
