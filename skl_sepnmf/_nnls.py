"""Least-squares kernels: simplex and Delta projections, the fast gradient
method, HALS and block-pivoting nonnegative least squares.

Plain functions on arrays: no estimator state, no input validation.  Every
solver works on Gram products only, ``UtU = U.T @ U`` (r x r) and ``UtM =
U.T @ M`` (r x n), in the reference's orientation: weights of shape ``(r, n)``,
one column per frame.  No Python loop runs over frames; the only loops are over
iterations, the r rows, or the distinct passive sets of block pivoting.

:func:`_fgm_delta` is the projection step of SNPA and the greedy selection
(:mod:`skl_sepnmf._selection`); :func:`nnls_activations` is every separable
estimator's ``transform``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float64Array = NDArray[np.float64]

# Relative thresholds of the reference code.
_STEP_TOL = 1e-6  # FGM stops when ||V+ - V||_F < 1e-6 * (first step's)
_HALS_TOL = _STEP_TOL**2  # HALS compares squared steps


def _unit_simplex_projection(Y: Float64Array) -> Float64Array:
    """Euclidean projection of each column of ``Y`` onto ``{x >= 0, sum(x) = 1}``.

    Michelot's fixed point (1986): the projection is ``max(y - theta, 0)`` with
    ``theta`` the mean excess over 1 of the entries above it; start from all
    entries and drop those at or below ``theta`` until none drops.  At most r
    passes, each vectorized over columns, and no sort (sorting many columns of
    a few entries costs far more here).
    """
    r = Y.shape[0]
    active = np.ones(Y.shape, dtype=bool)
    count = np.full(Y.shape[1], r)
    for _ in range(r):
        theta = (np.einsum("ij,ij->j", Y, active) - 1.0) / count
        still_active = Y > theta
        new_count = still_active.sum(axis=0)
        if np.array_equal(new_count, count):
            break
        active, count = still_active, new_count
    return np.maximum(Y - theta, 0.0)


def _project_delta(Y: Float64Array) -> Float64Array:
    """Project each column of ``Y`` onto ``Delta = {h >= 0, sum(h) <= 1}``.

    Reference quirk kept on purpose: with a single row the projection only clips
    at zero and never caps at one (the goldens depend on it).
    """
    H = np.maximum(Y, 0.0)
    if Y.shape[0] == 1:
        return H
    over = H.sum(axis=0) > 1.0
    if over.any():
        H[:, over] = _unit_simplex_projection(Y[:, over])
    return H


def _nearest_one_hot(UtU: Float64Array, UtM: Float64Array) -> Float64Array:
    """One-hot weights putting each frame on its nearest selected frame.

    ``||m_i - u_k||^2 = ||u_k||^2 - 2 <u_k, m_i> + const``; first index on ties.
    """
    distances = np.diag(UtU)[:, None] - 2.0 * UtM
    weights = np.zeros_like(UtM)
    weights[np.argmin(distances, axis=0), np.arange(UtM.shape[1])] = 1.0
    return weights


def _fgm_delta(
    UtU: Float64Array,
    UtM: Float64Array,
    weights: Float64Array | None,
    sq_norm_total: float,
    max_iter: int,
) -> tuple[Float64Array, int]:
    """Fast gradient method for ``min ||M - U H||_F`` with columns of H in Delta.

    Nesterov's accelerated projected gradient with the reference's momentum
    sequence and restart rule (Gillis, SNPA v3).

    Parameters
    ----------
    UtU : ndarray of shape (r, r)
    UtM : ndarray of shape (r, n)
    weights : ndarray of shape (r, n) or None
        Warm start; None starts from the one-hot nearest selected frame.
    sq_norm_total : float
        ``||M||_F^2``; only enters the objective used by the restart test, kept
        so that restarts trigger exactly where the reference's do.
    max_iter : int

    Returns
    -------
    weights : ndarray of shape (r, n)
    n_iter : int
    """
    if weights is None:
        weights = _nearest_one_hot(UtU, UtM)
    V = _project_delta(weights)
    lipschitz = np.linalg.norm(UtU, 2)
    # Y - (UtU Y - UtM) / L  ==  (I - UtU / L) Y + UtM / L: two passes, not four
    step_matrix = np.eye(UtU.shape[0]) - UtU / lipschitz
    step_offset = UtM / lipschitz
    Y = V
    alpha = 0.05
    previous_error = np.inf
    first_step = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        alpha_next = (np.sqrt(alpha**4 + 4 * alpha**2) - alpha**2) / 2
        beta = alpha * (1 - alpha) / (alpha**2 + alpha_next)
        alpha = alpha_next
        V_next = _project_delta(step_matrix @ Y + step_offset)
        step = V_next - V
        Y = V_next + beta * step
        # <UtU, V V^T> as <V, UtU V>: same value, r^2 n flops instead of r n r
        error = sq_norm_total - 2 * np.vdot(V_next, UtM) + np.vdot(V_next, UtU @ V_next)
        if n_iter >= 2 and error > previous_error:
            Y = V_next
        previous_error = error
        step_norm = np.sqrt(np.vdot(step, step))
        V = V_next
        if first_step is None:
            first_step = step_norm
        elif step_norm < _STEP_TOL * first_step:
            break
    return V, n_iter


def _hals_nnls(
    UtU: Float64Array,
    UtM: Float64Array,
    weights: Float64Array,
    max_iter: int,
    *,
    per_column: bool = False,
) -> tuple[Float64Array, int]:
    """Exact block coordinate descent (HALS) for ``min_{H >= 0} ||M - U H||_F``.

    One sweep updates each of the r rows of H in closed form.  The reference
    stops when the squared step of a sweep falls below ``1e-12`` times the first
    sweep's, summed over all columns (``per_column=False``, used inside the
    greedy selection so it matches the reference exactly).  With
    ``per_column=True`` each column stops on its own test instead, which makes
    the activations of a frame independent of the other frames in the batch
    (transform of a subset equals the subset of the transform).

    Returns
    -------
    weights : ndarray of shape (r, n)
    n_iter : int
        Sweeps of the slowest column.
    """
    H = np.array(weights, dtype=np.float64, copy=True)
    diag = np.diag(UtU)
    rows = [k for k in range(UtU.shape[0]) if diag[k] > 0]
    active = np.arange(H.shape[1])
    H_active, UtM_active = H, UtM
    first_step = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        step = np.zeros(active.size)
        for k in rows:
            delta = np.maximum(
                (UtM_active[k] - UtU[k] @ H_active) / diag[k], -H_active[k]
            )
            H_active[k] += delta
            step += delta * delta
        if not per_column:
            if first_step is None:
                first_step = step.sum()
            elif step.sum() < _HALS_TOL * first_step:
                break
            continue
        if first_step is None:
            first_step = step
            continue
        converged = step <= _HALS_TOL * first_step
        if converged.any():
            H[:, active[converged]] = H_active[:, converged]
            keep = ~converged
            active, first_step = active[keep], first_step[keep]
            H_active, UtM_active = H_active[:, keep], UtM_active[:, keep]
            if active.size == 0:
                break
    if per_column:
        H[:, active] = H_active
    return H, n_iter


def _solve_passive_sets(
    UtU: Float64Array, UtM: Float64Array, passive: NDArray[np.bool_], columns
) -> Float64Array:
    """Unconstrained least squares of ``columns`` on their passive (free) rows.

    Columns sharing a passive set share one factorization: the loop runs over
    the distinct passive sets, never over frames.
    """
    solution = np.zeros((UtU.shape[0], columns.size))
    r = UtU.shape[0]
    if r <= 62:  # one integer code per passive set: a fast 1-D unique
        codes = (1 << np.arange(r, dtype=np.int64)) @ passive[:, columns]
        codes, group = np.unique(codes, return_inverse=True)
        patterns = ((codes[:, None] >> np.arange(r)) & 1).astype(bool)
    else:
        patterns, group = np.unique(passive[:, columns].T, axis=0, return_inverse=True)
    group = group.ravel()
    for pattern_id, free in enumerate(patterns):
        if not free.any():
            continue
        members = np.flatnonzero(group == pattern_id)
        gram = UtU[np.ix_(free, free)]
        rhs = UtM[np.ix_(free, columns[members])]
        try:
            values = np.linalg.solve(gram, rhs)
        except np.linalg.LinAlgError:  # duplicated or zero components
            values = np.linalg.lstsq(gram, rhs, rcond=None)[0]
        solution[np.ix_(free, members)] = values
    return solution


def _nnls_block_pivoting(
    UtU: Float64Array, UtM: Float64Array, max_iter: int
) -> tuple[Float64Array, int]:
    """Exact ``min_{H >= 0} ||M - U H||_F`` for many columns at once.

    Block principal pivoting with the full-exchange rule and Kim and Park's
    backup rule (finite termination), on Gram products only.  Columns still
    infeasible after ``max_iter`` exchanges (only seen with rank-deficient
    components) are clipped and finished by HALS sweeps.

    References
    ----------
    J. Kim and H. Park, "Fast nonnegative matrix factorization: an active-set-like
    method and comparisons", SIAM J. Sci. Comput. 33(6), 2011.
    """
    r, n = UtM.shape
    H = np.zeros((r, n))
    passive = np.zeros((r, n), dtype=bool)
    gradient = -UtM
    # sign tests tolerate rounding at the scale of each column's data
    slack = 1e-12 * np.maximum(np.abs(UtM).max(axis=0), np.finfo(float).tiny)
    full_exchanges_left = np.full(n, 3)
    fewest_infeasible = np.full(n, r + 1)
    n_iter = 0

    def infeasible_entries():
        return (passive & (H < -slack)) | (~passive & (gradient < -slack))

    for n_iter in range(1, max_iter + 1):
        infeasible = infeasible_entries()
        n_infeasible = infeasible.sum(axis=0)
        pending = n_infeasible > 0
        if not pending.any():
            break
        improved = pending & (n_infeasible < fewest_infeasible)
        fewest_infeasible[improved] = n_infeasible[improved]
        full_exchanges_left[improved] = 3
        backup = pending & ~improved & (full_exchanges_left >= 1)
        full_exchanges_left[backup] -= 1
        full = improved | backup
        passive[:, full] ^= infeasible[:, full]
        single = np.flatnonzero(pending & ~full)
        if single.size:
            last_row = r - 1 - np.argmax(infeasible[::-1, single], axis=0)
            passive[last_row, single] ^= True
        columns = np.flatnonzero(pending)
        H[:, columns] = _solve_passive_sets(UtU, UtM, passive, columns)
        gradient[:, columns] = UtU @ H[:, columns] - UtM[:, columns]
        gradient[:, columns] *= ~passive[:, columns]
    else:
        unfinished = np.flatnonzero(infeasible_entries().any(axis=0))
        H[:, unfinished], _ = _hals_nnls(
            UtU,
            UtM[:, unfinished],
            np.maximum(H[:, unfinished], 0),
            500,
            per_column=True,
        )
    return np.maximum(H, 0.0), n_iter


def nnls_activations(
    X: NDArray, components: NDArray, max_iter: int = 500
) -> tuple[Float64Array, int, float]:
    """Nonnegative least squares activations of each row of X on ``components``.

    Solves ``min_{w_i >= 0} ||x_i - components.T @ w_i||`` exactly for every row
    i (no sum constraint) by block principal pivoting.  The reference stops HALS
    after 500 sweeps, short of the optimum on ill-conditioned components; this
    reaches it (same or lower objective on every golden case).  The product
    ``X @ components.T`` is taken in the input's precision (no float64 copy of a
    float32 X); the solve runs in float64.

    Returns
    -------
    activations : ndarray of shape (n_samples, n_components)
    n_iter : int
        Pivoting steps taken.
    error : float
        ``||X - activations @ components||_F``.
    """
    if components.shape[0] == 0:
        return np.zeros((X.shape[0], 0)), 0, float(np.sqrt(_sq_frobenius(X)))
    C = np.asarray(components, dtype=np.float64)
    UtU = C @ C.T
    UtM = np.asarray((X @ components.T).T, dtype=np.float64)
    weights, n_iter = _nnls_block_pivoting(UtU, UtM, max_iter)
    sq_norm = _sq_frobenius(X)
    sq_error = sq_norm - 2 * np.vdot(weights, UtM) + np.vdot(weights, UtU @ weights)
    if sq_error < 1e-6 * sq_norm:
        # the Gram expansion has cancelled most digits: take the direct form
        sq_error = _sq_frobenius(X, weights.T, C)
    return weights.T, n_iter, float(np.sqrt(max(sq_error, 0.0)))


# Rows per float64 block of _sq_frobenius: 2 MB at 2049 bins (cache-sized; a
# larger block only adds to the peak memory of long recordings).
_ROW_BLOCK = 128


def _sq_frobenius(X: NDArray, activations=None, components=None) -> float:
    """``||X||_F^2``, or ``||X - activations @ components||_F^2``, in float64,
    in row blocks (no n x m temporary)."""
    total = 0.0
    for start in range(0, X.shape[0], _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        block = np.asarray(X[rows], dtype=np.float64)
        if activations is not None:
            block = block - activations[rows] @ components
        total += float(np.einsum("ij,ij->", block, block))
    return total
