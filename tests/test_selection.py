"""Selection kernels: SNPA and greedy loops, and the cross-check with the port."""

from __future__ import annotations

import numpy as np
import pytest

from skl_sepnmf import _selection
from skl_sepnmf._selection import greedy_select, snpa_select


def _separable_data(rng, n_features=50, rank=5, n_mixed=120):
    templates = rng.random((rank, n_features)) ** 3  # peaky, well conditioned
    mixing = rng.dirichlet(np.ones(rank), size=n_mixed) * rng.uniform(
        0.2, 0.9, (n_mixed, 1)
    )
    X = np.vstack([mixing @ templates, templates])
    order = rng.permutation(X.shape[0])
    pure = np.flatnonzero(order >= n_mixed)
    return X[order], set(pure.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_snpa_recovers_the_pure_frames_of_separable_data(seed):
    X, pure = _separable_data(np.random.default_rng(seed))
    indices, weights, *_ = snpa_select(X, 5, normalize=False)
    assert set(indices.tolist()) == pure
    # and they explain every frame: the residual is zero
    recon = X[indices].T @ weights
    np.testing.assert_allclose(recon, X.T, atol=1e-6)


def test_snpa_tolerance_stops_on_exactly_separable_data():
    X, pure = _separable_data(np.random.default_rng(5))
    indices, _, *_ = snpa_select(X, None, normalize=False)
    assert set(indices.tolist()) == pure


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_snpa_agrees_with_the_literal_port(reference_port, seed, normalize):
    rng = np.random.default_rng(seed)
    X = rng.random((70, 30)) ** 2
    ours, weights, *_ = snpa_select(X, 8, normalize=normalize)
    theirs, their_weights = reference_port.snpa(X.T, 8, normalize)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(weights, their_weights, atol=1e-6)


@pytest.mark.parametrize("refinement", ["none", "once", "full"])
@pytest.mark.parametrize("seed", range(3))
def test_greedy_agrees_with_the_literal_port(reference_port, seed, refinement):
    rng = np.random.default_rng(seed)
    X = rng.random((70, 30)) ** 2
    ours, _, *_ = greedy_select(X, 6, refinement=refinement)
    theirs, _ = reference_port.greedy(X.T, 6, True, refinement)
    np.testing.assert_array_equal(ours, theirs)


def test_greedy_blockwise_gram_equals_cached_gram(trio_spectrogram):
    """Past the cache size the Gram rows are recomputed: same selection."""
    X = trio_spectrogram.astype(np.float64)
    cached, w_cached, *_ = greedy_select(X, 4)
    blockwise, w_block, *_ = greedy_select(X, 4, gram_cache_bytes=0)
    np.testing.assert_array_equal(cached, blockwise)
    np.testing.assert_allclose(w_cached, w_block, atol=1e-8)


def test_greedy_scores_are_computed_in_bounded_blocks(monkeypatch):
    """Shrinking the block size changes nothing but the number of blocks."""
    rng = np.random.default_rng(4)
    X = rng.random((90, 20))
    reference, _, *_ = greedy_select(X, 5)
    monkeypatch.setattr(_selection, "_SCORE_BLOCK_BYTES", 8 * 90 * 7)
    blocked, _, *_ = greedy_select(X, 5)
    np.testing.assert_array_equal(reference, blocked)


def test_all_zero_data_selects_nothing():
    indices, weights, *_ = snpa_select(np.zeros((5, 3)), 2)
    assert indices.size == 0 and weights.shape == (0, 5)
    indices, weights, *_ = greedy_select(np.zeros((5, 3)), 2)
    assert indices.size == 0 and weights.shape == (0, 5)


def test_snpa_counts_one_step_per_pick_even_when_it_stops_early():
    X, pure = _separable_data(np.random.default_rng(6))
    assert snpa_select(X, 3, normalize=False).n_iter == 3
    assert snpa_select(X, 9, normalize=False).n_iter == len(pure)


@pytest.mark.parametrize(
    "refinement, replacements", [("none", 0), ("once", 1), ("full", 4)]
)
def test_greedy_counts_its_picks_and_replacements(refinement, replacements):
    X = np.random.default_rng(7).random((40, 12))
    selection = greedy_select(X, 4, refinement=refinement)
    assert selection.indices.size == 4
    assert selection.n_iter == 4 + replacements
