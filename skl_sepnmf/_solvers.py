"""Array kernels of the separable NMF estimators.

Plain functions on arrays: no estimator state, no input validation (the
estimators in :mod:`skl_sepnmf._separable` validate and then call these).

Orientation.  ``X`` is in scikit-learn orientation, shape ``(n_samples,
n_features)`` (frames x frequency bins); the reference works on ``M = X.T``.
Weights are kept in the reference's orientation, ``weights`` of shape
``(n_selected, n_samples)``: column ``i`` holds the coefficients of frame ``i``
on the selected frames, so that ``X.T ~= X[indices].T @ weights``.

Every kernel works on Gram products only: ``UtU = X[J] @ X[J].T`` (r x r),
``UtM = X[J] @ X.T`` (r x n) and per-frame squared norms.  The residual
``M - M[:, J] @ H`` (m x n) is never formed, and no Python loop runs over
frames; the only Python loops are over iterations and over the r selected rows.

Semantics follow N. Gillis' SNPA v3 and the notebook's greedy variants exactly
(``DESIGN.md`` section 3); ``benchmarks/reference_port.py`` is a literal port
used to cross-check them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_info, threadpool_limits

Float64Array = NDArray[np.float64]

# Relative thresholds of the reference code.
_STEP_TOL = 1e-6  # FGM stops when ||V+ - V||_F < 1e-6 * (first step's)
_HALS_TOL = _STEP_TOL**2  # HALS compares squared steps
_TIE_TOL = 1e-6  # residual norms within 1e-6 (relative) of the max are tied
_NORMALIZE_EPS = 1e-16  # added to frame sums before normalizing, as the reference
# Greedy scores this close (relative) to the best are a tie, won by the first
# index as in the reference.  The reference sees exact ties between duplicated
# frames; the Gram form of the score can split them by a few ulps.
_SCORE_TIE_TOL = 1e-10

# The greedy score needs the n x n Gram matrix of the frames.  It is kept in
# memory up to this size and otherwise recomputed in row blocks at every pick.
GRAM_CACHE_BYTES = 2 * 1024**3
_SCORE_BLOCK_BYTES = 4 * 1024**2  # ~64 rows of 8,000 frames: stays in cache

# SNPA computes in float64 (float32 input then selects the frames its float64
# copy would). Up to this size it converts X once (fastest); beyond it, it
# converts row blocks on the fly at each pass, so that a long recording never
# has a float64 copy (0.85 GB for 10 minutes of stereo at n_fft=4096).
FLOAT64_COPY_BYTES = 256 * 1024**2
_CONVERT_BLOCK_ROWS = 128  # 2 MB of float64 at 2049 bins: cache-sized


class Selection(NamedTuple):
    """What a selection kernel returns."""

    indices: NDArray[np.intp]
    """Selected rows of X, in the order the algorithm leaves them."""
    weights: Float64Array
    """(n_selected, n_samples): weights of every (normalized) frame."""


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


def _residual_sq_norms(
    sq_norms: Float64Array,
    UtU: Float64Array,
    UtM: Float64Array,
    weights: Float64Array,
) -> Float64Array:
    """``||m_i - U h_i||^2`` for every frame i, from Gram products only.

    Clipped at zero: the expansion can go slightly negative by cancellation when
    a frame is represented exactly.
    """
    cross = np.einsum("ki,ki->i", weights, UtM)
    quad = np.einsum("ki,ki->i", weights, UtU @ weights)
    return np.maximum(sq_norms - 2 * cross + quad, 0.0)


def _normalization_scale(X: NDArray, normalize: bool) -> Float64Array:
    """Per-frame factor making each frame sum to 1 (or ones)."""
    if not normalize:
        return np.ones(X.shape[0])
    return 1.0 / (X.sum(axis=1, dtype=np.float64) + _NORMALIZE_EPS)


def _append_one_hot(weights: Float64Array, index: int) -> Float64Array:
    """Warm start after selecting ``index``: it now represents itself exactly."""
    weights[:, index] = 0.0
    one_hot = np.zeros((1, weights.shape[1]))
    one_hot[0, index] = 1.0
    return np.vstack([weights, one_hot])


def _float64_row_blocks(X: NDArray) -> Iterator[Float64Array]:
    """X in float64, as row blocks covering it in order (one block, X itself,
    if X is float64)."""
    if X.dtype == np.float64:
        yield X
        return
    for start in range(0, X.shape[0], _CONVERT_BLOCK_ROWS):
        yield X[start : start + _CONVERT_BLOCK_ROWS].astype(np.float64)


def snpa_select(
    X: NDArray,
    n_components: int | None,
    *,
    normalize: bool = True,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> Selection:
    """Successive Nonnegative Projection Algorithm (SNPA v3) on the rows of X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Nonnegative data, one frame per row.
    n_components : int or None
        Frames to select at most; None selects until the tolerance test stops.
    normalize : bool
        Scale each frame to sum 1 first (divide by sum + 1e-16).
    tol : float
        Stop when ``max_i ||r_i||^2 / max_i ||m_i||^2 <= tol``.
    max_iter : int
        Iterations of the fast gradient method at each step.

    Returns
    -------
    Selection
        ``indices`` in extraction order; ``weights`` in Delta of every
        (normalized) frame on the selected ones.
    """
    n_samples = X.shape[0]
    limit = n_samples if n_components is None else min(n_components, n_samples)
    if X.dtype != np.float32 or X.size * 8 <= FLOAT64_COPY_BYTES:
        X = np.asarray(X, dtype=np.float64)

    def products(frame: Float64Array) -> Float64Array:
        return np.concatenate([block @ frame for block in _float64_row_blocks(X)])

    # Normalization is applied to the Gram products, never to a copy of X:
    # <s_i x_i, s_j x_j> = s_i s_j <x_i, x_j>.
    scale = _normalization_scale(X, normalize)
    sq_norms = np.concatenate(
        [np.einsum("ij,ij->i", block, block) for block in _float64_row_blocks(X)]
    )
    sq_norms *= scale**2
    sq_norm_total = sq_norms.sum()
    max_sq_norm = sq_norms.max() if n_samples else 0.0
    residual = sq_norms.copy()
    indices: list[int] = []
    UtM = np.empty((0, n_samples))
    weights = None
    while (
        len(indices) < limit and max_sq_norm > 0 and residual.max() / max_sq_norm > tol
    ):
        largest = residual.max()
        tied = np.flatnonzero((largest - residual) / largest <= _TIE_TOL)
        chosen = int(tied[np.argmax(sq_norms[tied])])
        indices.append(chosen)
        chosen_frame = np.asarray(X[chosen], dtype=np.float64)
        UtM = np.vstack([UtM, products(chosen_frame) * (scale * scale[chosen])])
        UtU = UtM[:, indices]
        if weights is not None:
            weights = _append_one_hot(weights, chosen)
        weights, _ = _fgm_delta(UtU, UtM, weights, sq_norm_total, max_iter)
        residual = _residual_sq_norms(sq_norms, UtU, UtM, weights)
    if weights is None:
        weights = np.empty((0, n_samples))
    return Selection(np.asarray(indices, dtype=np.intp), weights)


class _FrameGram:
    """Row blocks of the frame Gram matrix ``K = Xs @ Xs.T``, cached if it fits."""

    def __init__(self, Xs: Float64Array, cache_bytes: int = GRAM_CACHE_BYTES):
        self.Xs = Xs
        n = Xs.shape[0]
        self.full = Xs @ Xs.T if n * n * 8 <= cache_bytes else None
        if self.full is not None:
            self.diag = np.diag(self.full).copy()
        else:
            self.diag = np.einsum("ij,ij->i", Xs, Xs)

    def rows(self, index) -> Float64Array:
        if self.full is not None:
            return self.full[index]
        return self.Xs[index] @ self.Xs.T


def _greedy_scores(
    gram: _FrameGram,
    inv_norms: Float64Array,
    indices: list[int],
    weights: Float64Array | None,
    UtM: Float64Array,
    pool: ThreadPoolExecutor | None = None,
) -> Float64Array:
    """``score_j = sum_i max(0, <r_i, m_j / ||m_j||>)`` for every frame j.

    Built from Gram pieces, ``R^T Mn = (K - H^T K[J]) diag(1/||m_j||)``, one
    cache-sized block of candidates at a time, so that nothing n x n is held
    beyond the Gram matrix itself.  The passes are memory-bound; with a
    ``pool`` its threads share the blocks (a block's arithmetic does not depend
    on the thread, so neither do the scores).
    """
    n = inv_norms.size
    block = max(1, _SCORE_BLOCK_BYTES // (8 * max(n, 1)))
    scores = np.empty(n)

    def score_blocks(starts):
        for start in starts:
            stop = min(start + block, n)
            inner = gram.rows(slice(start, stop))
            # out of place: the rows may be a view of the cached Gram matrix
            if indices:
                inner = inner - UtM[:, start:stop].T @ weights
            else:
                inner = inner.copy()
            np.maximum(inner, 0.0, out=inner)
            scores[start:stop] = inner.sum(axis=1)

    starts = range(0, n, block)
    if pool is None:
        score_blocks(starts)
    else:
        n_threads = pool._max_workers
        list(pool.map(score_blocks, [starts[i::n_threads] for i in range(n_threads)]))
    scores *= inv_norms
    return scores


def _blas_threads() -> int:
    """Threads the BLAS may use here: the budget for the score passes too."""
    counts = [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]
    return max(1, min(counts)) if counts else 1


def _pick_best(scores: Float64Array, excluded: list[int]) -> int:
    """Index of the best score outside ``excluded``; first index on ties."""
    if excluded:
        scores = scores.copy()
        scores[excluded] = -np.inf
    best = scores.max()
    return int(np.flatnonzero(scores >= best - _SCORE_TIE_TOL * abs(best))[0])


def greedy_select(
    X: NDArray,
    n_components: int | None,
    *,
    normalize: bool = True,
    refinement: Literal["full", "once", "none"] = "full",
    tol: float = 1e-9,
    max_iter: int = 100,
    gram_cache_bytes: int = GRAM_CACHE_BYTES,
    allow_repeats: bool = False,
) -> Selection:
    """Greedy XRAY-like selection with SNPA's projection (the notebook's variant).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Nonnegative data, one frame per row.
    n_components : int or None
        Frames to select; None selects until the tolerance test stops.
    normalize : bool
        Scale each frame to sum 1 first.
    refinement : {"full", "once", "none"}
        After the first pass, replace the oldest pick r times, once, or never.
    tol : float
        The first pass stops early when ``max_i ||r_i||^2 / max_i ||m_i||^2 <= tol``.
    max_iter : int
        Iterations of FGM (first pass) and HALS sweeps (refinement, final fit).
    gram_cache_bytes : int
        Largest n x n Gram matrix kept in memory; beyond it, row blocks are
        recomputed at each pick (time grows, memory stays bounded).
    allow_repeats : bool
        Let a frame already selected be picked again, as the reference does
        (only for conformance tests: a repeat adds nothing to the model).

    Returns
    -------
    Selection
        ``weights`` are the FGM weights (in Delta) with ``refinement="none"``,
        otherwise the nonnegative least squares weights refitted by HALS.
    """
    n_samples = X.shape[0]
    limit = n_samples if n_components is None else min(n_components, n_samples)
    scale = _normalization_scale(X, normalize)
    Xs = X * scale[:, None] if normalize else np.asarray(X, dtype=np.float64)
    gram = _FrameGram(Xs, gram_cache_bytes)
    sq_norms = gram.diag
    norms = np.sqrt(sq_norms)
    # zero frames score 0 instead of the reference's nan
    inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    sq_norm_total = sq_norms.sum()
    max_sq_norm = sq_norms.max() if n_samples else 0.0

    def select(pool):
        def best_frame(indices, weights, UtM):
            scores = _greedy_scores(gram, inv_norms, indices, weights, UtM, pool)
            return _pick_best(scores, [] if allow_repeats else indices)

        indices: list[int] = []
        UtM = np.empty((0, n_samples))
        weights = None
        residual = sq_norms
        while (
            len(indices) < limit
            and max_sq_norm > 0
            and residual.max() / max_sq_norm > tol
        ):
            chosen = best_frame(indices, weights, UtM)
            indices.append(chosen)
            UtM = np.vstack([UtM, gram.rows(chosen)])
            if weights is not None:
                weights = _append_one_hot(weights, chosen)
            UtU = UtM[:, indices]
            weights, _ = _fgm_delta(UtU, UtM, weights, sq_norm_total, max_iter)
            residual = _residual_sq_norms(sq_norms, UtU, UtM, weights)
        if weights is None:
            weights = np.empty((0, n_samples))
        if weights.shape[0] == 0 or refinement == "none":
            return Selection(np.asarray(indices, dtype=np.intp), weights)

        n_replacements = len(indices) if refinement == "full" else 1
        for _ in range(n_replacements):
            indices, UtM = indices[1:], UtM[1:]
            weights, _ = _hals_nnls(UtM[:, indices], UtM, weights[1:], max_iter)
            chosen = best_frame(indices, weights, UtM)
            indices.append(chosen)
            UtM = np.vstack([UtM, gram.rows(chosen)])
            weights = _append_one_hot(weights, chosen)
        weights, _ = _hals_nnls(UtM[:, indices], UtM, weights, max_iter)
        return Selection(np.asarray(indices, dtype=np.intp), weights)

    n_threads = _blas_threads()
    if n_threads <= 1:
        return select(None)
    # The score passes are memory-bound numpy work: threads share them, while
    # BLAS (only small products from here on) runs single-threaded beside them.
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
        return select(pool)


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
