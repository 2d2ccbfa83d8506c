"""Streamed frames (decoded per sample) are the cached frames, bit for bit; cache_frames is honoured."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from policy.config import TrainConfig
from policy.dataset import DatasetError, LeRobotChunkDataset, decode_video
from policy.frames import worker_context
from policy.synthetic_dataset import write_dataset

CAMS = ("front", "wrist")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("stream") / "ds", episodes=3, frames=20, dim=3, cameras=CAMS,
                         height=24, width=32)


def _open(root, cache, **kw):
    return LeRobotChunkDataset(root, 5, image_size=(16, 20), cache_frames=cache, **kw)


def test_streamed_samples_equal_cached_bit_exact(dataset):
    cached, streamed = _open(dataset, True), _open(dataset, False)
    assert cached.cache_frames and not streamed.cache_frames
    assert not streamed.video.memory  # nothing decoded up front
    # random access (seek + decode), backwards too, then every row in order
    order = [37, 3, 59, 0, 21, 20, 58, *range(len(cached))]
    for i in order:
        a, b = cached[i], streamed[i]
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (i, k)
    # a fresh reader's frames are the whole-file decode's frames (resized the same way)
    frames, _ = decode_video(dataset / "videos/observation.images.wrist/chunk-000/file-000.mp4", (16, 20))
    assert np.array_equal(streamed.video.get("observation.images.wrist", np.arange(60)), frames)
    assert len(streamed.video._lru) <= streamed.video.lru_frames


def test_streamed_history_and_workers_match_cached(dataset):
    cached, streamed = _open(dataset, True, n_obs_steps=3), _open(dataset, False, n_obs_steps=3)
    idx = [0, 1, 22, 41, 59]
    want = [cached[i] for i in idx]
    loader = DataLoader(torch.utils.data.Subset(streamed, idx), batch_size=len(idx), num_workers=2,
                        multiprocessing_context=worker_context(2))
    got = next(iter(loader))
    for k in want[0]:
        assert torch.equal(torch.stack([w[k] for w in want]), got[k]), k


def test_cache_frames_auto_picks_by_decoded_size(dataset):
    small = _open(dataset, "auto", cache_budget_mb=1.0)  # 60 rows x 2 cams x 16x20x3 = 115 kB
    assert small.decoded_size() == 60 * 2 * 16 * 20 * 3 and small.cache_frames
    assert not _open(dataset, "auto", cache_budget_mb=0.05).cache_frames
    assert _open(dataset, True, cache_budget_mb=0.0).cache_frames  # an explicit choice overrides the budget
    with pytest.raises(DatasetError, match="cache_frames must be"):
        _open(dataset, "sometimes")
    with pytest.raises(ValueError, match="train.cache_frames"):
        TrainConfig(cache_frames="yes")


def test_training_streamed_with_workers_equals_training_cached(tmp_path, dataset, monkeypatch):
    """train.cache_frames / num_workers reach the trainer: a streamed run with 2 DataLoader workers
    ends with bit-identical parameters to a cached one (same frames, same batches, same maths)."""
    from safetensors.torch import load_file

    from policy.train import train

    opened = []

    init = LeRobotChunkDataset.__init__

    def spy(self, *args, **kwargs) -> None:   # on the class itself: spawned workers unpickle the real class
        init(self, *args, **kwargs)
        opened.append(self.cache_frames)

    monkeypatch.setattr(LeRobotChunkDataset, "__init__", spy)

    model = {"chunk_size": 5, "n_action_steps": 5, "dim_model": 32, "n_heads": 2, "dim_feedforward": 64,
             "n_encoder_layers": 1, "n_decoder_layers": 1, "use_vae": False, "dropout": 0.0,
             "optimizer_lr": 1e-3, "optimizer_lr_backbone": 1e-3}
    params = []
    for name, cache, workers in (("cached", True, 0), ("streamed", False, 2)):
        train(dataset, tmp_path / name, dict(model), {"image_size": [16, 20]},
              TrainConfig(steps=3, batch_size=4, log_every=1, save_every=1000, device="cpu", torch_threads=1,
                          cache_frames=cache, num_workers=workers), progress=False)
        params.append(load_file(str(tmp_path / name / "checkpoints/last/pretrained_model/model.safetensors")))
    assert opened == [True, False]
    assert params[0].keys() == params[1].keys()
    for k in params[0]:
        assert torch.equal(params[0][k], params[1][k]), k
    cached_rows = (tmp_path / "cached" / "losses.csv").read_text()
    assert cached_rows == (tmp_path / "streamed" / "losses.csv").read_text()
