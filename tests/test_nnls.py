"""Least-squares kernels: Delta projection, fast gradient method, NNLS."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import nnls

from skl_sepnmf._nnls import (
    _fgm_delta,
    _nnls_block_pivoting,
    _project_delta,
    nnls_activations,
)

finite = st.floats(-10, 10, allow_nan=False, width=64)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 8)), elements=finite)
)
def test_delta_projection_lands_in_delta_and_is_idempotent(Y):
    H = _project_delta(Y)
    assert H.min() >= 0
    assert np.all(H.sum(axis=0) <= 1 + 1e-12)
    np.testing.assert_allclose(_project_delta(H), H, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float64, (4, 1), elements=finite),
    arrays(np.float64, (4, 20), elements=st.floats(0, 1, width=64)),
)
def test_delta_projection_is_the_nearest_point(y, candidates):
    """No point of Delta (sampled) is closer to y than its projection."""
    candidates = candidates / np.maximum(candidates.sum(axis=0), 1.0)
    projection = _project_delta(y)
    nearest = np.linalg.norm(y - projection)
    assert np.all(np.linalg.norm(y - candidates, axis=0) >= nearest - 1e-12)


def test_single_row_projection_keeps_the_reference_quirk():
    """One selected frame: clip at 0, never cap at 1 (the goldens depend on it)."""
    np.testing.assert_array_equal(
        _project_delta(np.array([[-1.0, 0.5, 3.0]])), [[0.0, 0.5, 3.0]]
    )
    np.testing.assert_allclose(_project_delta(np.array([[3.0], [0.0]])), [[1.0], [0.0]])


@settings(max_examples=60, deadline=None)
@given(seed=seeds, r=st.integers(1, 6), n=st.integers(1, 40))
def test_fgm_never_increases_the_objective_from_its_start(seed, r, n):
    rng = np.random.default_rng(seed)
    M = rng.random((15, n))
    U = rng.random((15, r))
    start = _project_delta(rng.random((r, n)) * 2)
    weights, n_iter = _fgm_delta(U.T @ U, U.T @ M, start, float(np.sum(M**2)), 100)
    assert np.linalg.norm(M - U @ weights) <= np.linalg.norm(M - U @ start) + 1e-9
    assert 1 <= n_iter <= 100
    assert weights.min() >= 0
    if r > 1:
        assert weights.sum(axis=0).max() <= 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(seed=seeds, r=st.integers(1, 8), n=st.integers(1, 50))
def test_activations_are_nonnegative_and_optimal(seed, r, n):
    rng = np.random.default_rng(seed)
    components = rng.random((r, 12))
    X = rng.random((n, 12))
    W, _, error = nnls_activations(X, components)
    assert W.shape == (n, r) and W.min() >= 0
    assert np.isfinite(error)
    # KKT: the gradient is >= 0 where W = 0 and ~0 where W > 0
    gradient = (W @ components - X) @ components.T
    scale = np.abs(X @ components.T).max() + 1
    assert gradient[W == 0].min(initial=0) >= -1e-8 * scale
    np.testing.assert_allclose(gradient[W > 0], 0, atol=1e-7 * scale)


def test_block_pivoting_matches_scipy_nnls():
    rng = np.random.default_rng(1)
    U = rng.random((40, 6))
    M = rng.random((40, 80)) - 0.3 * rng.random((40, 80))
    weights, _ = _nnls_block_pivoting(U.T @ U, U.T @ M, 100)
    expected = np.column_stack([nnls(U, M[:, j])[0] for j in range(M.shape[1])])
    np.testing.assert_allclose(weights, expected, atol=1e-10)


def test_block_pivoting_handles_duplicated_components():
    """A singular Gram matrix (the same template twice) still gives the optimum."""
    rng = np.random.default_rng(2)
    U = rng.random((20, 3))
    U = np.column_stack([U, U[:, 0]])
    M = rng.random((20, 15))
    weights, _ = _nnls_block_pivoting(U.T @ U, U.T @ M, 100)
    assert weights.min() >= 0
    best = [nnls(U, M[:, j])[0] for j in range(M.shape[1])]
    ours = np.linalg.norm(M - U @ weights)
    theirs = np.linalg.norm(M - U @ np.column_stack(best))
    assert ours <= theirs + 1e-9


def test_block_pivoting_falls_back_to_hals_when_it_runs_out_of_steps():
    """max_iter=1 leaves columns infeasible: the HALS fallback finishes them."""
    rng = np.random.default_rng(5)
    U = rng.random((30, 5))
    M = rng.random((30, 40)) - 0.2
    weights, n_iter = _nnls_block_pivoting(U.T @ U, U.T @ M, 1)
    assert n_iter == 1 and weights.min() >= 0
    expected = np.column_stack([nnls(U, M[:, j])[0] for j in range(M.shape[1])])
    np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_activations_are_independent_of_the_batch():
    """Row i's activations do not depend on which other rows are transformed."""
    rng = np.random.default_rng(3)
    X = rng.random((60, 25))
    components = X[[2, 11, 40]]
    full = nnls_activations(X, components)[0]
    part = nnls_activations(X[10:20], components)[0]
    np.testing.assert_allclose(part, full[10:20], rtol=1e-12, atol=1e-14)
