"""Multi-process training: `torchrun --nproc_per_node N ...` runs `policy train` under PyTorch
DistributedDataParallel (gloo on CPU, NCCL on CUDA).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without them (or with
WORLD_SIZE=1) training is the plain single-process loop. `train.batch_size` is the batch of ONE
rank; the global batch of an optimizer step is batch_size x WORLD_SIZE (gradients are averaged
over ranks by DDP, so a run with N ranks of batch B takes the same steps as one process of batch
N*B; `FrameSampler` makes it the same frames, too).

Every collective runs under the process group's timeout (train.dist_timeout_s): a rank that dies
or stalls makes the others fail with `DistributedError` instead of waiting forever.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["DistContext", "DistributedError", "FrameSampler", "setup", "teardown"]

# messages of gloo/NCCL/store failures: a peer exited, a collective or the rendezvous timed out
_PEER_FAILURE_HINTS = ("gloo", "nccl", "connection reset", "connection closed", "connection refused", "broken pipe",
                       "timed out", "timeout")


class DistributedError(RuntimeError):
    """A rank lost its peers (one exited, crashed or stalled beyond the process-group timeout)."""


@dataclass
class DistContext:
    """Where this process stands in the run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    timeout_s: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes checkpoints, curves, logs and calls loggers."""
        return self.rank == 0

    def label(self) -> str:
        return f"rank {self.rank}/{self.world_size}"

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank (one tiny all-reduce)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The ranks' mean of each value (same keys, same order on every rank)."""
        if not self.enabled or not values:
            return values
        t = torch.tensor([float(v) for v in values.values()], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.world_size for k, v in zip(values, t.tolist())}

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, by rank (in-memory exchange between this run's own processes)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def peer_failure(self, exc: BaseException) -> DistributedError | None:
        """`exc` as a one-line DistributedError when it is a lost peer / timed-out collective."""
        if not self.enabled:
            return None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        dist_error = getattr(dist, "DistError", ())
        if (dist_error and isinstance(exc, dist_error)) or any(h in str(exc).lower() for h in _PEER_FAILURE_HINTS):
            return DistributedError(f"{self.label()}: lost contact with the other ranks (one exited or stalled past "
                                    f"train.dist_timeout_s={self.timeout_s:g} s): {text[:300]}")
        return None


def launched_distributed(env: dict[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return int(env.get("WORLD_SIZE", "1") or 1) > 1


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)  # one GPU per process on the node
    return device


def setup(device_name: str, timeout_s: float) -> DistContext:
    """The process group for a torchrun launch (gloo for CPU, NCCL for CUDA), or a 1-rank context."""
    if not launched_distributed():
        return DistContext(device=_device(device_name, 0))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = _device(device_name, local_rank)
    if timeout_s <= 0:
        raise ValueError(f"train.dist_timeout_s must be > 0, got {timeout_s}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
        except Exception as exc:  # noqa: BLE001 - rendezvous failures come as several types
            raise DistributedError(f"rank {rank}/{world}: the process group ({backend}, "
                                   f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}) did not form "
                                   f"within {timeout_s:g} s: {str(exc).strip().splitlines()[0][:300]}") from None
    return DistContext(rank, world, local_rank, device, timeout_s)


def teardown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """`model` under DistributedDataParallel (rank 0's parameters are broadcast to every rank)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)


class FrameSampler(Sampler[int]):
    """Endless epochs over the dataset's frames, each a permutation seeded by (seed, epoch).

    Global batch b of an epoch is entries [b*G, (b+1)*G) of the permutation, G = batch_size x
    world_size; rank r takes the slice [r*B, (r+1)*B) of it. So a 1-rank run of batch G draws
    exactly the frames the N ranks draw together, and `start_batch` (= the step resumed from)
    continues mid-epoch without replaying batches. The tail of an epoch shorter than G is skipped;
    a dataset smaller than G repeats its permutation to fill one global batch.
    """

    def __init__(self, num_frames: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 start_batch: int = 0) -> None:
        if num_frames < 1 or batch_size < 1:
            raise ValueError(f"FrameSampler needs frames and a batch size >= 1 (got {num_frames}, {batch_size})")
        self.n, self.batch, self.rank, self.world = num_frames, batch_size, rank, world_size
        self.seed, self.start_batch = seed, start_batch

    @property
    def global_batch(self) -> int:
        return self.batch * self.world

    @property
    def batches_per_epoch(self) -> int:
        return max(1, self.n // self.global_batch)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g)
        if self.n < self.global_batch:
            perm = perm.repeat(-(-self.global_batch // self.n))[: self.global_batch]
        return perm

    def __iter__(self) -> Iterator[int]:
        epoch, b = divmod(self.start_batch, self.batches_per_epoch)
        while True:
            perm = self.epoch_order(epoch)
            for k in range(b, self.batches_per_epoch):
                lo = k * self.global_batch + self.rank * self.batch
                yield from perm[lo: lo + self.batch].tolist()
            epoch, b = epoch + 1, 0
