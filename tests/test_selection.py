"""Selection kernels: SPA, SNPA and greedy loops, and the cross-check with the port."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skl_sepnmf import _selection
from skl_sepnmf._selection import (
    _orthogonal_projection,
    greedy_select,
    snpa_select,
    spa_select,
)

SUCCESSIVE = {"spa": spa_select, "snpa": snpa_select}
successive = pytest.mark.parametrize("select", SUCCESSIVE.values(), ids=SUCCESSIVE)
seeds = st.integers(0, 2**32 - 1)


def _separable_data(rng, n_features=50, rank=5, n_mixed=120):
    templates = rng.random((rank, n_features)) ** 3  # peaky, well conditioned
    mixing = rng.dirichlet(np.ones(rank), size=n_mixed) * rng.uniform(
        0.2, 0.9, (n_mixed, 1)
    )
    X = np.vstack([mixing @ templates, templates])
    order = rng.permutation(X.shape[0])
    pure = np.flatnonzero(order >= n_mixed)
    return X[order], set(pure.tolist())


@successive
@settings(max_examples=40, deadline=None)
@given(
    seed=seeds, r=st.integers(2, 6), n_mixed=st.integers(5, 60), normalize=st.booleans()
)
def test_recovers_the_pure_columns_of_separable_matrices(
    select, seed, r, n_mixed, normalize
):
    """M = W [I, H'] shuffled, W well conditioned, H' in the simplex's interior:
    the pure columns are selected and explain every column."""
    rng = np.random.default_rng(seed)
    m = 3 * r
    W = np.abs(np.eye(m, r) + 0.3 * rng.random((m, r)))  # near-orthogonal columns
    assert np.linalg.cond(W) < 10
    mixing = rng.dirichlet(np.ones(r), size=n_mixed).T * rng.uniform(0.1, 0.9, n_mixed)
    M = np.hstack([W, W @ mixing])
    order = rng.permutation(M.shape[1])
    X = M[:, order].T
    pure = {int(np.flatnonzero(order == k)[0]) for k in range(r)}
    selection = select(X, r, normalize=normalize)
    assert set(selection.indices.tolist()) == pure
    Xn = X / (X.sum(axis=1, keepdims=True) + 1e-16) if normalize else X
    np.testing.assert_allclose(
        Xn[selection.indices].T @ selection.weights, Xn.T, atol=1e-4 * Xn.max()
    )


@successive
def test_tolerance_stops_on_exactly_separable_data(select):
    X, pure = _separable_data(np.random.default_rng(5))
    indices = select(X, None, normalize=False).indices
    assert set(indices.tolist()) == pure


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    n=st.integers(2, 40),
    n_copies=st.integers(0, 3),
    normalize=st.booleans(),
)
def test_spa_first_pick_is_snpas(seed, n, n_copies, normalize):
    """Same candidates, same tie rule: the first pick agrees, duplicated
    frames (exact ties) included."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 8)) ** 2
    X = np.vstack([X, X[rng.integers(n, size=n_copies)]])
    first = snpa_select(X, 1, normalize=normalize).indices
    assert spa_select(X, 3, normalize=normalize).indices[0] == first[0]


def _textbook_spa(M, r):
    """Gillis and Vavasis' SPA as usually written: the residual itself, deflated
    by the normalized new direction at each step (never formed by the package)."""
    R = M.copy()
    indices = []
    for _ in range(r):
        norms = np.sum(R**2, axis=0)
        j = int(np.argmax(norms))
        indices.append(j)
        u = R[:, j] / np.sqrt(norms[j])
        R -= np.outer(u, u @ R)
    return indices


@pytest.mark.parametrize("seed", range(3))
def test_spa_agrees_with_the_textbook_residual_form(seed):
    X = np.random.default_rng(seed).random((70, 30)) ** 2
    selection = spa_select(X, 12, normalize=False)
    assert selection.indices.tolist() == _textbook_spa(X.T, 12)
    # its weights: unconstrained least squares, negative entries and all
    U = X[selection.indices].T
    expected = np.linalg.lstsq(U, X.T, rcond=None)[0]
    np.testing.assert_allclose(selection.weights, expected, atol=1e-8)
    assert selection.weights.min() < 0


def test_greedy_uses_the_projection_step_it_is_given():
    """The first pass's weights are those of the step passed in."""
    X = np.random.default_rng(8).random((40, 12))
    selection = greedy_select(
        X, 4, refinement="none", projection=_orthogonal_projection
    )
    Xn = X / X.sum(axis=1, keepdims=True)
    U = Xn[selection.indices].T
    expected = np.linalg.lstsq(U, Xn.T, rcond=None)[0]
    np.testing.assert_allclose(selection.weights, expected, atol=1e-8)


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


@successive
def test_counts_one_step_per_pick_even_when_it_stops_early(select):
    X, pure = _separable_data(np.random.default_rng(6))
    assert select(X, 3, normalize=False).n_iter == 3
    assert select(X, 9, normalize=False).n_iter == len(pure)


@pytest.mark.parametrize(
    "refinement, replacements", [("none", 0), ("once", 1), ("full", 4)]
)
def test_greedy_counts_its_picks_and_replacements(refinement, replacements):
    X = np.random.default_rng(7).random((40, 12))
    selection = greedy_select(X, 4, refinement=refinement)
    assert selection.indices.size == 4
    assert selection.n_iter == 4 + replacements
