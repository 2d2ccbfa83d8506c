"""One rank of a test launch: `policy train`'s CLI, optionally dying (SIGKILL) after an optimizer step.

    python -m torch.distributed.run --nproc_per_node 2 ddp_worker.py <policy train args>
    DDP_TEST_KILL="1:2:KILL" ...   rank 1 kills itself right after its 2nd optimizer step
    DDP_TEST_KILL="1:2:STOP" ...   rank 1 freezes itself (SIGSTOP) there instead
"""
from __future__ import annotations

import os
import signal
import sys

from torch.optim.optimizer import register_optimizer_step_post_hook


def _arm_kill(spec: str) -> None:
    rank_s, step_s, how = spec.split(":")
    rank, step, sig = int(rank_s), int(step_s), signal.SIGSTOP if how == "STOP" else signal.SIGKILL
    if int(os.environ.get("RANK", "0")) != rank:
        return
    done = [0]

    def hook(optimizer, args, kwargs) -> None:  # noqa: ANN001 - torch's hook signature
        done[0] += 1
        if done[0] >= step:
            os.kill(os.getpid(), sig)

    register_optimizer_step_post_hook(hook)


if __name__ == "__main__":
    if os.environ.get("DDP_TEST_KILL"):
        _arm_kill(os.environ["DDP_TEST_KILL"])
    from policy.train_cli import main

    sys.exit(main(sys.argv[1:]))
