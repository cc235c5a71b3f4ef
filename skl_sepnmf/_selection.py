"""Selection kernels of the separable NMF estimators: SPA / SNPA and greedy loops.

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

The loops take their projection step as an argument (:data:`Projection`): the
fast gradient method onto Delta of :mod:`skl_sepnmf._nnls` for SNPA and the
greedy first pass, the orthogonal projection for SPA; the greedy refinement
refits with that module's HALS.

Semantics follow N. Gillis' SNPA v3 and the notebook's greedy variants exactly
(``DESIGN.md`` section 3); ``benchmarks/reference_port.py`` is a literal port
used to cross-check them.  SPA is Gillis and Vavasis' (2014), with SNPA's
candidate and tie rules (those of Gillis' ``FastSepNMF``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from ._nnls import Float64Array, _fgm_delta, _hals_nnls
from ._parallel import _blas_threads

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
    n_iter: int
    """Selection steps: one per pick, plus one per replacement of a refinement."""


Projection = Callable[
    [Float64Array, Float64Array, Float64Array | None, float, int],
    tuple[Float64Array, int],
]
"""A projection step ``(UtU, UtM, warm_start, sq_norm_total, max_iter) ->
(weights, n_iter)``: the weights of every frame on the selected ones, from Gram
products.  ``warm_start`` is None at the first pick (otherwise the previous
weights with a one-hot row for the new pick); ``sq_norm_total = ||M||_F^2``.
:func:`~skl_sepnmf._nnls._fgm_delta` (weights in Delta, SNPA) and
:func:`_orthogonal_projection` (unconstrained, SPA) are the two used here."""


def _orthogonal_projection(
    UtU: Float64Array,
    UtM: Float64Array,
    weights: Float64Array | None,
    sq_norm_total: float,
    max_iter: int,
) -> tuple[Float64Array, int]:
    """Unconstrained least squares ``H = (U^T U)^{-1} U^T M``: the orthogonal
    projection of every frame on the span of the selected frames (SPA's step).

    Closed form, so the warm start, ``sq_norm_total`` and ``max_iter`` of the
    projection-step interface are not needed; it counts as one iteration.
    """
    try:
        return np.linalg.solve(UtU, UtM), 1
    except np.linalg.LinAlgError:  # a pick in the span of the others (tol near 0)
        return np.linalg.lstsq(UtU, UtM, rcond=None)[0], 1


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


def successive_select(
    X: NDArray,
    n_components: int | None,
    projection: Projection,
    *,
    normalize: bool = True,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> Selection:
    """Successive projection on the rows of X: pick the frame of largest residual,
    project every frame on the selected ones, repeat (SPA and SNPA).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Nonnegative data, one frame per row.
    n_components : int or None
        Frames to select at most; None selects until the tolerance test stops.
    projection : Projection
        The projection step: :func:`~skl_sepnmf._nnls._fgm_delta` (SNPA) or
        :func:`_orthogonal_projection` (SPA).
    normalize : bool
        Scale each frame to sum 1 first (divide by sum + 1e-16).
    tol : float
        Stop when ``max_i ||r_i||^2 / max_i ||m_i||^2 <= tol``.
    max_iter : int
        Iterations of the projection step at each pick.

    Returns
    -------
    Selection
        ``indices`` in extraction order; ``weights`` of every (normalized)
        frame on the selected ones, as the projection step left them.
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
        weights, _ = projection(UtU, UtM, weights, sq_norm_total, max_iter)
        residual = _residual_sq_norms(sq_norms, UtU, UtM, weights)
    if weights is None:
        weights = np.empty((0, n_samples))
    return Selection(np.asarray(indices, dtype=np.intp), weights, len(indices))


def snpa_select(
    X: NDArray,
    n_components: int | None,
    *,
    normalize: bool = True,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> Selection:
    """Successive Nonnegative Projection Algorithm (SNPA v3) on the rows of X.

    :func:`successive_select` with the fast gradient method onto Delta as its
    projection step (``max_iter`` iterations at each pick): ``weights`` are in
    Delta.
    """
    return successive_select(
        X, n_components, _fgm_delta, normalize=normalize, tol=tol, max_iter=max_iter
    )


def spa_select(
    X: NDArray,
    n_components: int | None,
    *,
    normalize: bool = True,
    tol: float = 1e-9,
) -> Selection:
    """Successive Projection Algorithm (Gillis and Vavasis, 2014) on the rows of X.

    :func:`successive_select` with the orthogonal projection on the span of the
    selected frames as its projection step: ``weights`` are unconstrained least
    squares coefficients.
    """
    return successive_select(
        X, n_components, _orthogonal_projection, normalize=normalize, tol=tol
    )


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
    projection: Projection = _fgm_delta,
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
    projection : Projection
        The first pass's projection step (SNPA's by default).

    Returns
    -------
    Selection
        ``weights`` are the projection step's (FGM: in Delta) with
        ``refinement="none"``, otherwise the nonnegative least squares weights
        refitted by HALS.  ``n_iter`` counts first-pass picks and replacements.
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
            weights, _ = projection(UtU, UtM, weights, sq_norm_total, max_iter)
            residual = _residual_sq_norms(sq_norms, UtU, UtM, weights)
        if weights is None:
            weights = np.empty((0, n_samples))
        if weights.shape[0] == 0 or refinement == "none":
            return Selection(np.asarray(indices, dtype=np.intp), weights, len(indices))

        n_replacements = len(indices) if refinement == "full" else 1
        for _ in range(n_replacements):
            indices, UtM = indices[1:], UtM[1:]
            weights, _ = _hals_nnls(UtM[:, indices], UtM, weights[1:], max_iter)
            chosen = best_frame(indices, weights, UtM)
            indices.append(chosen)
            UtM = np.vstack([UtM, gram.rows(chosen)])
            weights = _append_one_hot(weights, chosen)
        weights, _ = _hals_nnls(UtM[:, indices], UtM, weights, max_iter)
        n_iter = len(indices) + n_replacements
        return Selection(np.asarray(indices, dtype=np.intp), weights, n_iter)

    n_threads = _blas_threads()
    if n_threads <= 1:
        return select(None)
    # The score passes are memory-bound numpy work: threads share them, while
    # BLAS (only small products from here on) runs single-threaded beside them.
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
        return select(pool)
