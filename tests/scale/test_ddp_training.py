"""`policy train` under torchrun (DistributedDataParallel, gloo, 2 CPU processes).

After K steps a 2-rank run (batch B per rank) holds the parameters of a 1-process run of batch 2B:
same global batches (FrameSampler), gradients averaged over ranks. The model has no batch
statistics (backbone_norm frozen), no dropout and no VAE noise, so the only difference is float
summation order: the parameter updates agree to 1e-3 relative (measured 4e-5) (L2 over all parameters), while a
1-process run that sees only rank 0's frames is far off. Resuming a 2-rank run restores it; a killed
rank fails the run with a one-line error instead of hanging.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from policy.config import TrainConfig
from policy.synthetic_dataset import write_dataset
from policy.train import train
from policy.training_state import load_training_state

WORKER = Path(__file__).with_name("ddp_worker.py")
MODEL = {"chunk_size": 5, "n_action_steps": 5, "dim_model": 32, "n_heads": 2, "dim_feedforward": 64,
         "n_encoder_layers": 1, "n_decoder_layers": 1, "use_vae": False, "dropout": 0.0,
         "optimizer_lr": 1e-3, "optimizer_lr_backbone": 1e-3}
WS = {"image_size": [32, 32], "backbone_norm": "frozen"}
B, K = 4, 6  # per-rank batch, steps
REL_TOL = 1e-3  # |theta_2rank - theta_1proc| / |theta_1proc - theta_0|, L2 over every parameter


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ddp") / "ds", episodes=2, frames=30, dim=3, cameras=("front",),
                         height=32, width=32)


def _config(path: Path, **train_cfg) -> Path:
    path.write_text(yaml.safe_dump({"model": MODEL, "workspace": WS,
                                    "train": {"device": "cpu", "torch_threads": 1, "log_every": 2, **train_cfg}}))
    return path


def _params(run: Path, step: str = "last") -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / step / "pretrained_model" / "model.safetensors"))


def _reference(dataset, out: Path, batch: int, steps: int = K) -> dict[str, torch.Tensor]:
    train(dataset, out, dict(MODEL), dict(WS), TrainConfig(steps=steps, batch_size=batch, save_every=1000,
                                                           log_every=2, device="cpu", torch_threads=1), progress=False)
    return _params(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(dataset, out: Path, cfg: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(WORKER), "--dataset", str(dataset), "--output", str(out),
           "--config", str(cfg), "--steps", str(steps), "--batch-size", str(B), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)


def _rel(a: dict, b: dict, origin: dict) -> float:
    num = sum(float((a[k] - b[k]).double().pow(2).sum()) for k in a)
    den = sum(float((b[k] - origin[k]).double().pow(2).sum()) for k in a)
    return (num / den) ** 0.5


def test_two_ranks_match_one_process_of_the_global_batch_and_resume(tmp_path, dataset):
    cfg = _config(tmp_path / "ddp.yaml", save_every=3)
    run = tmp_path / "ddp"
    first = _torchrun(dataset, run, cfg, 3)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = _torchrun(dataset, run, cfg, K, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("trained 6 steps") == 1  # rank 0 alone reports
    ddp = _params(run)
    # the training state holds both ranks' RNG, and rank 0 alone wrote the run's files
    state = load_training_state(run / "checkpoints" / "last")
    assert state["step"] == K and len(state["rank_rng"]) == 2
    assert not torch.equal(state["rank_rng"][0]["torch"], state["rank_rng"][1]["torch"])
    assert [r["step"] for r in state["losses"]] == [2, 3, 4, 6]  # log_every 2, plus the first run's last step
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000003", "000006", "last"]

    one = _reference(dataset, tmp_path / "one", 2 * B)
    origin = _reference(dataset, tmp_path / "init", 2 * B, steps=0)  # the initial parameters (same seed)
    half = _reference(dataset, tmp_path / "half", B)  # rank 0's frames only: another trajectory
    assert ddp.keys() == one.keys()
    assert _rel(ddp, one, origin) < REL_TOL, _rel(ddp, one, origin)
    assert _rel(half, one, origin) > 100 * REL_TOL  # the check can tell the global batch from a half batch


@pytest.mark.parametrize("how", ["KILL", "STOP"])
def test_lost_rank_fails_the_run_instead_of_hanging(tmp_path, dataset, how):
    """Ranks started by hand (no torchrun agent to clean up): after step 2 rank 1 dies (SIGKILL: its
    sockets close) or freezes (SIGSTOP: only the process-group timeout can tell); rank 0 must exit
    on its own with a one-line error naming the lost peer."""
    cfg = _config(tmp_path / "kill.yaml", save_every=1000, dist_timeout_s=15 if how == "STOP" else 60)
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "DDP_TEST_KILL": f"1:2:{how}"}
        procs.append(subprocess.Popen([sys.executable, str(WORKER), "--dataset", str(dataset), "--output",
                                       str(tmp_path / "kill"), "--config", str(cfg), "--steps", "50", "--batch-size",
                                       str(B), "--no-progress"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        _, err0 = procs[0].communicate(timeout=200)
        if how == "STOP":
            procs[1].kill()
        procs[1].communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[1].returncode == -9  # the planted SIGKILL (or ours, of the frozen rank)
    assert procs[0].returncode == 1, err0[-3000:]
    lines = [line for line in err0.splitlines() if line.startswith("policy train (rank 0)")]
    assert lines and "lost contact with the other ranks" in lines[-1], err0[-3000:]
    assert "Traceback" not in err0


def test_frame_sampler_splits_global_batches_and_resumes():
    from itertools import islice

    from policy.distributed import FrameSampler

    n, b, w = 23, 3, 2  # 3 global batches of 6 per epoch, 5 frames of each epoch left out
    one = list(islice(iter(FrameSampler(n, b * w, seed=7)), 6 * b * w))
    ranks = [list(islice(iter(FrameSampler(n, b, r, w, seed=7)), 6 * b)) for r in range(w)]
    for k in range(6):  # global batch k = rank 0's batch k + rank 1's batch k
        assert ranks[0][k * b:(k + 1) * b] + ranks[1][k * b:(k + 1) * b] == one[k * b * w:(k + 1) * b * w]
    assert len(set(one[:18])) == 18 and set(one) <= set(range(n))  # an epoch draws each frame at most once
    assert one[18:] != one[:18]  # the next epoch is another permutation
    resumed = list(islice(iter(FrameSampler(n, b, 1, w, seed=7, start_batch=4)), 2 * b))
    assert resumed == ranks[1][4 * b:]  # a resume at step 4 continues mid-epoch 1, nothing replayed
    # fewer frames than a global batch: the permutation repeats, every frame is in the global batch
    tiny = [list(islice(iter(FrameSampler(4, 3, r, 2, seed=1)), 3)) for r in range(2)]
    assert set(tiny[0] + tiny[1]) == {0, 1, 2, 3}


def test_training_state_keeps_every_ranks_rng(tmp_path):
    import random

    import numpy as np

    from policy.training_state import capture_rng, save_training_state

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    other = capture_rng()  # what rank 1 would hold
    torch.manual_seed(456)  # this process (rank 0) moves on
    save_training_state(tmp_path / "two", 5, opt, rank_rng=[capture_rng(), other])
    save_training_state(tmp_path / "one", 5, opt)
    two, one = load_training_state(tmp_path / "two"), load_training_state(tmp_path / "one")
    assert len(two["rank_rng"]) == 2 and len(one["rank_rng"]) == 1
    got = two["rank_rng"][1]
    assert torch.equal(got["torch"], other["torch"]) and not torch.equal(got["torch"], two["rank_rng"][0]["torch"])
    assert np.array_equal(got["numpy"][1], other["numpy"][1]) and got["numpy"][2] == other["numpy"][2]
    assert got["python"] == other["python"]
