"""Fixtures for the scale tests (multi-process training, streamed frames): tiny, one thread each."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # a shared 2-core machine: oversubscribed OpenMP threads crawl
