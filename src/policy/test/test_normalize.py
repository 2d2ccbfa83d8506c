"""Normalisation modes: MEAN_STD, MIN_MAX, QUANTILES (q01/q99), QUANTILE10 (q10/q90) as LeRobot
0.4 defines them (map [lo, hi] to [-1, 1], zero width -> eps, no clipping), IDENTITY; any other
mode is refused with its name."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.base import PolicyConfig
from policy.checkpoint import CheckpointError
from policy.normalize import EPS, Normalizer

STATS = {"mean": [1.0, -2.0], "std": [2.0, 0.5], "min": [-1.0, -3.0], "max": [3.0, 1.0],
         "q01": [-0.5, -2.5], "q99": [2.5, 0.5], "q10": [0.0, -2.0], "q90": [2.0, 0.0]}


def _norm(mode: str, stats: dict | None = None) -> Normalizer:
    cfg = PolicyConfig(input_features={"observation.state": {"type": "STATE", "shape": [2]}},
                       output_features={"action": {"type": "ACTION", "shape": [2]}},
                       normalization_mapping={"STATE": mode, "ACTION": "IDENTITY"})
    s = {k: np.asarray(v, dtype=np.float32) for k, v in (stats or STATS).items()}
    return Normalizer(cfg, {"observation.state": s, "action": s})


X = torch.tensor([[0.0, -1.0], [2.5, 0.5], [4.0, -4.0]])


@pytest.mark.parametrize("mode, expected", [
    # by hand: (x - mean) / std
    ("MEAN_STD", [[-0.5, 2.0], [0.75, 5.0], [1.5, -4.0]]),
    # 2 (x - lo) / (hi - lo) - 1 with (min, max) = (-1, 3), (-3, 1)
    ("MIN_MAX", [[-0.5, 0.0], [0.75, 0.75], [1.5, -1.5]]),
    # (q01, q99) = (-0.5, 2.5), (-2.5, 0.5): width 3 each; values outside map outside [-1, 1] (no clip)
    ("QUANTILES", [[-2 / 3, 0.0], [1.0, 1.0], [2.0, -2.0]]),
    # (q10, q90) = (0, 2), (-2, 0): width 2 each
    ("QUANTILE10", [[-1.0, 0.0], [1.5, 1.5], [3.0, -3.0]]),
    ("IDENTITY", X.tolist()),
])
def test_modes_match_hand_computation_and_round_trip(mode, expected):
    n = _norm(mode)
    y = n.normalize("observation.state", X)
    torch.testing.assert_close(y, torch.tensor(expected), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(n.unnormalize("observation.state", y), X, rtol=1e-6, atol=1e-6)
    assert n.normalize("action", X) is X   # action is IDENTITY here


@pytest.mark.parametrize("mode, lo, hi", [("QUANTILES", "q01", "q99"), ("QUANTILE10", "q10", "q90")])
def test_quantiles_of_zero_width_use_eps(mode, lo, hi):
    stats = dict(STATS, **{lo: [1.0, 0.0], hi: [1.0, 2.0]})
    n = _norm(mode, stats)
    y = n.normalize("observation.state", torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(y, torch.tensor([[-1.0, 0.0]]))   # x == lo -> -1, as LeRobot's
    y = n.normalize("observation.state", torch.tensor([[1.0 + 1e-9, 1.0]]))
    assert torch.isfinite(y).all()
    assert n.flat().keys() == {f"observation.state.{lo}", f"observation.state.{hi}"}
    torch.testing.assert_close(n.unnormalize("observation.state", torch.tensor([[1.0, 0.0]])),
                               torch.tensor([[1.0 + 2 * EPS / 2, 1.0]]))


def test_unknown_mode_and_missing_quantiles_are_refused():
    with pytest.raises(CheckpointError, match="'MEDIAN_IQR'"):
        _norm("MEDIAN_IQR")
    with pytest.raises(ValueError, match=r"lack \['q10', 'q90'\]"):
        _norm("QUANTILE10", {"mean": [0, 0], "std": [1, 1]})
