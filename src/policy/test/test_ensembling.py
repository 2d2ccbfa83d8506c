import numpy as np
import pytest

from policy.ensembling import ChunkExecutor, TemporalEnsembler, ensemble_weights


def test_temporal_ensembling_matches_formula():
    rng = np.random.default_rng(0)
    k, chunk = 0.1, 8
    ens = TemporalEnsembler(k, chunk)
    chunks = {s: rng.normal(size=(chunk, 3)) for s in (0, 2, 3, 7)}
    for s, c in chunks.items():
        ens.add_chunk(s, c)
    for t in range(0, 12):
        covering = [(s, c) for s, c in sorted(chunks.items()) if s <= t < s + chunk]  # oldest first
        w = np.exp(-k * np.arange(len(covering)))
        expected = sum(wi * c[t - s] for wi, (s, c) in zip(w, covering)) / w.sum()
        np.testing.assert_allclose(ens.action_at(t), expected, rtol=1e-12)
    assert ens.action_at(20) is None
    ens.prune(9)  # chunk 0 ends at step 8
    assert 0 not in dict(ens._chunks)
    np.testing.assert_allclose(ensemble_weights(3, 0.5), np.exp(-0.5 * np.arange(3)) / np.exp(-0.5 * np.arange(3)).sum())


def test_chunk_executor_blends_over_overlap():
    ex = ChunkExecutor(n_action_steps=4, overlap_steps=3, chunk_size=8)
    old = np.zeros((8, 1))
    new = np.ones((8, 1))
    ex.add_chunk(0, old)
    seen = []
    for t in range(10):
        ex.advance(t)
        if t == 2:
            assert not ex.needs_inference(t)
        if t == 4:
            assert ex.needs_inference(t)
            ex.add_chunk(4, new)
            ex.advance(t)
        seen.append(float(ex.action_at(t)[0]))
    assert seen[:4] == [0, 0, 0, 0]
    np.testing.assert_allclose(seen[4:7], [0.25, 0.5, 0.75])  # (k + 1) / (overlap + 1)
    assert seen[7:] == [1, 1, 1]
    assert max(np.abs(np.diff(seen))) <= 0.25 + 1e-12


def test_chunk_executor_rejects_bad_settings():
    with pytest.raises(ValueError, match="overlap_steps"):
        ChunkExecutor(n_action_steps=8, overlap_steps=3, chunk_size=8)
