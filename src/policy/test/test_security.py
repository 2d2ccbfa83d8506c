"""No pickle reaches a file from outside (issue 14.1): resume reads training state from safetensors +
JSON only; a planted pickle (whose unpickling would create a marker file) never runs; a model file
that is not safetensors is a one-line CheckpointError; `policy train` exits 2 without a traceback."""
from __future__ import annotations

import pickle
import random
import shutil

import numpy as np
import pytest
import torch

from policy.checkpoint import CheckpointError, load_checkpoint
from policy.train_cli import main as train_main
from policy.training_state import load_training_state, restore_rng, save_training_state


class _Payload:
    """Unpickling this creates the marker file: proof that something unpickled it."""

    def __init__(self, marker) -> None:  # noqa: ANN001
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.marker, "w"))


def _resume_args(dataset, out, steps: int) -> list[str]:  # noqa: ANN001
    return ["--dataset", str(dataset), "--output", str(out), "--config", "act_demo", "--no-progress", "--resume",
            "--steps", str(steps), "--batch-size", "2", "--set", "train.torch_threads=1"]


@pytest.fixture
def run_copy(tiny_checkpoint, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, out, symlinks=True)
    return out


def test_planted_pickle_is_refused_and_never_runs(run_copy, tiny_dataset, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    last = run_copy / "checkpoints" / "last"
    (last / "training_state.pt").write_bytes(pickle.dumps({"step": 1, "x": _Payload(marker)}))
    # beside a real safetensors state it is ignored: resume works and nothing unpickles it
    assert train_main(_resume_args(tiny_dataset, run_copy, 22)) == 0
    assert not marker.exists()
    assert load_training_state(run_copy / "checkpoints" / "last")["step"] == 22
    # alone (an old or crafted run folder) it is refused with a clear one-line reason, exit 2
    last = run_copy / "checkpoints" / "last"
    (last / "training_state.pt").write_bytes(pickle.dumps(_Payload(marker)))
    for name in ("training_state.safetensors", "training_state.json"):
        (last / name).unlink()
    capsys.readouterr()
    assert train_main(_resume_args(tiny_dataset, run_copy, 24)) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert "training_state.pt is a pickle file" in err and "Traceback" not in err and err.count("\n") == 1, err


def test_model_file_that_is_not_safetensors(run_copy, tiny_dataset, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    model_file = run_copy / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"
    model_file.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(run_copy)
    msg = str(info.value)
    assert str(model_file) in msg and "not a readable safetensors file" in msg and "\n" not in msg
    capsys.readouterr()
    assert train_main(_resume_args(tiny_dataset, run_copy, 22)) == 2
    err = capsys.readouterr().err
    assert "model.safetensors is not a readable safetensors file" in err and "Traceback" not in err
    assert err.count("\n") == 1 and not marker.exists()


def test_training_state_restores_the_optimizer_scheduler_and_rng(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW([{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 5e-3}],
                            lr=1e-2, weight_decay=1e-3, foreach=True)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
        sched.step()
    save_training_state(tmp_path, 3, opt, sched, [{"step": 3, "loss": 0.5}])
    draws = (torch.rand(3), np.random.rand(3), random.random())

    state = load_training_state(tmp_path)
    assert state["step"] == 3 and state["losses"] == [{"step": 3, "loss": 0.5}]
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    net2.load_state_dict(net.state_dict())
    opt2 = torch.optim.AdamW([{"params": net2[0].parameters()}, {"params": net2[2].parameters(), "lr": 5e-3}],
                             lr=1e-2, weight_decay=1e-3, foreach=True)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for pid in a["state"]:
        for name, value in a["state"][pid].items():
            torch.testing.assert_close(b["state"][pid][name], value, rtol=0, atol=0)
    assert sched2.state_dict() == sched.state_dict()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 5e-3
    # the next step is the same with either
    x = torch.randn(5, 4)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).mean().backward()
        o.step()
    for p, q in zip(net.parameters(), net2.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    restore_rng(state["rng"])
    torch.testing.assert_close(torch.rand(3), draws[0], rtol=0, atol=0)
    np.testing.assert_array_equal(np.random.rand(3), draws[1])
    assert random.random() == draws[2]


def test_malformed_training_state_is_a_one_line_error(tmp_path):
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    save_training_state(tmp_path, 1, opt)
    (tmp_path / "training_state.json").write_text('{"format": 1}')
    with pytest.raises(CheckpointError, match="training_state.json: training state is malformed"):
        load_training_state(tmp_path)
    (tmp_path / "training_state.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="training_state.safetensors is not a readable safetensors file"):
        load_training_state(tmp_path)
