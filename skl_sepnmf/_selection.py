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

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import EfficiencyWarning
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
# memory when it fits the budget (by default this fraction of the memory
# available when the fit starts): in float64 up to FLOAT64_GRAM_BYTES, in
# float32 beyond (half the memory, twice the speed of its product and of every
# score pass, with the near-ties re-scored in float64 so that the selection is
# the float64 one).  Past the budget, the rows that do not fit are recomputed
# (in float32) at every pick: time grows with n^3, memory stays bounded.
GRAM_MEMORY_FRACTION = 0.5
FLOAT64_GRAM_BYTES = 512 * 1024**2  # 8,192 frames (3 minutes at 44.1 kHz, hop 1024)
_SCORE_BLOCK_BYTES = 4 * 1024**2  # ~64 rows of 8,000 frames: stays in cache
_RESCORE_BATCH = 64  # candidates re-scored in float64 per product

# SNPA computes in float64 (float32 input then selects the frames its float64
# copy would). Up to this size it converts X once; beyond it, it converts
# cache-sized row blocks at each pick, so that a recording never has a
# float64 copy (0.85 GB for 10 minutes of stereo at n_fft=4096). Blocks are
# the faster way past a few MB too: each pick then reads X in float32 (half
# the bytes) and the copy's page faults are gone (SNPA on 90 s of stereo:
# 2.1-4.1 s against 2.6-8.8 s with the copy, side by side on a busy machine).
FLOAT64_COPY_BYTES = 16 * 1024**2
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


def available_memory_bytes() -> int:
    """Memory available to a new allocation now (``MemAvailable`` on Linux, the
    free physical pages elsewhere; 4 GiB when neither can be read)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return 4 * 1024**3


def gram_budget_bytes(gram_memory: float | None) -> int:
    """Bytes the Gram matrix may use: ``gram_memory`` MiB, or by default
    GRAM_MEMORY_FRACTION of the memory available now."""
    if gram_memory is None:
        return int(GRAM_MEMORY_FRACTION * available_memory_bytes())
    return int(gram_memory * 1024**2)


class GramPlan(NamedTuple):
    """How :func:`greedy_select` will hold the frame Gram matrix."""

    path: Literal["float64", "float32", "blockwise"]
    """``"float64"`` / ``"float32"``: kept whole in memory in that precision;
    ``"blockwise"``: ``cached_rows`` rows kept (float32), the others recomputed
    at every pick."""
    cached_rows: int
    gram_bytes: int
    """Memory of the rows kept."""


def plan_gram(n_samples: int, budget_bytes: int) -> GramPlan:
    """The Gram path :func:`greedy_select` takes for n_samples frames."""
    n = n_samples
    if n * n * 8 <= min(budget_bytes, FLOAT64_GRAM_BYTES):
        return GramPlan("float64", n, n * n * 8)
    rows = min(n, max(0, budget_bytes) // (4 * max(n, 1)))
    return GramPlan("float32" if rows == n else "blockwise", rows, rows * n * 4)


class _FrameGram:
    """The frame Gram matrix ``K = Xs @ Xs.T``, held as :func:`plan_gram` says.

    ``exact_rows`` are float64 products (the weights and the re-scoring use
    them); ``score_rows`` are what the score passes read: the float64 matrix,
    or float32 rows, kept or recomputed, whose error ``error_bound`` bounds.
    """

    def __init__(self, Xs: Float64Array, plan: GramPlan, X32=None):
        self.Xs = Xs
        self.plan = plan
        n, m = Xs.shape
        self.exact = plan.path == "float64"
        if self.exact:
            self.full = Xs @ Xs.T
            self.diag = np.diag(self.full).copy()
            return
        self.diag = np.einsum("ij,ij->i", Xs, Xs)
        self.X32 = Xs.astype(np.float32) if X32 is None else X32
        rows = plan.cached_rows
        # X32 @ X32.T is one symmetric rank-k update (half the products)
        X32 = self.X32
        self.cache = X32 @ X32.T if rows == n else X32[:rows] @ X32.T
        # |fl32(K_ij) - K_ij| <= (m + 2) u sum_k |x_ik| |x_jk| (rounding to
        # float32, then any float32 summation order), and max(0, .) is
        # 1-Lipschitz: sum_i of that bounds the float32 error of frame j's
        # score before its 1 / ||x_j|| (the factor 2 covers the float64
        # arithmetic around it).
        absolute = Xs if Xs.min() >= 0 else np.abs(Xs)  # frames are nonnegative
        unit = np.finfo(np.float32).eps / 2
        self.row_error = 2 * (m + 2) * unit * (absolute @ absolute.sum(axis=0))

    def exact_rows(self, index) -> Float64Array:
        if self.exact:
            return self.full[index]
        return self.Xs[index] @ self.Xs.T

    def score_rows(self, start: int, stop: int) -> NDArray:
        if self.exact:
            return self.full[start:stop]
        cached = self.plan.cached_rows
        if stop <= cached:
            return self.cache[start:stop]
        if start >= cached:
            return self.X32[start:stop] @ self.X32.T
        return np.vstack([self.cache[start:], self.X32[cached:stop] @ self.X32.T])


def _scores_of_rows(rows, UtM_block, weights, with_residual: bool) -> Float64Array:
    """``sum_i max(0, rows_ji - <UtM_j, w_i>)`` for each row j (float64)."""
    if with_residual:
        # out of place: the rows may be a view of the cached Gram matrix
        inner = UtM_block.T @ weights
        np.subtract(rows, inner, out=inner)
    else:
        inner = rows.astype(np.float64)  # a copy, even of float64 rows
    np.maximum(inner, 0.0, out=inner)
    return inner.sum(axis=1)


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
    on the thread, so neither do the scores).  From a float32 Gram matrix,
    each score is within ``gram.row_error * inv_norms`` of the float64 one.
    """
    n = inv_norms.size
    block = max(1, _SCORE_BLOCK_BYTES // (8 * max(n, 1)))
    scores = np.empty(n)

    def score_blocks(starts):
        for start in starts:
            stop = min(start + block, n)
            scores[start:stop] = _scores_of_rows(
                gram.score_rows(start, stop),
                UtM[:, start:stop],
                weights,
                bool(indices),
            )

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
    return int(np.flatnonzero(scores >= _tie_floor(scores.max()))[0])


def _tie_floor(best: float) -> float:
    """Scores at or above this tie with ``best``."""
    return best - _SCORE_TIE_TOL * abs(best)


def _pick_best_rescored(
    scores: Float64Array,
    errors: Float64Array,
    excluded: list[int],
    exact_scores: Callable[[NDArray[np.intp]], Float64Array],
) -> int:
    """:func:`_pick_best` on the float64 scores, given approximate ``scores``
    within ``errors`` of them and ``exact_scores(indices)`` computing them.

    Candidates are re-scored in decreasing order of their upper bound until the
    next upper bound falls below the tie floor of the best exact score found:
    the frames left out can neither be the best nor tie with it, so the pick
    (and the first-index rule on ties) is the float64 one.
    """
    scores = scores.copy()
    scores[excluded] = -np.inf
    upper = scores + errors
    lower = scores - errors
    candidates = np.flatnonzero(upper >= _tie_floor(lower.max()))
    candidates = candidates[np.argsort(-upper[candidates], kind="stable")]
    found, values = [], []
    best = -np.inf
    for start in range(0, candidates.size, _RESCORE_BATCH):
        batch = candidates[start : start + _RESCORE_BATCH]
        if upper[batch[0]] < _tie_floor(best):
            break
        exact = exact_scores(batch)
        found.append(batch)
        values.append(exact)
        best = max(best, exact.max())
    found, values = np.concatenate(found), np.concatenate(values)
    return int(found[values >= _tie_floor(best)].min())


def _size_text(n_bytes: int) -> str:
    return (
        f"{n_bytes / 1024**3:.1f} GiB"
        if n_bytes >= 1024**3
        else f"{n_bytes / 1024**2:.1f} MiB"
    )


def _warn_blockwise(X32, plan: GramPlan, gram_memory, n_passes: int) -> None:
    """Say, before it starts, that a fit will recompute Gram rows at every pick:
    how long that is expected to take here (from the time of one block of
    rows, measured now), and how to avoid it."""
    n = X32.shape[0]
    recomputed = n - plan.cached_rows
    rows = max(1, min(recomputed, _SCORE_BLOCK_BYTES // (4 * n)))
    start = time.perf_counter()
    X32[-rows:] @ X32.T
    seconds = (time.perf_counter() - start) / rows * recomputed * n_passes
    budget = (
        f"{GRAM_MEMORY_FRACTION:.0%} of the available memory"
        if gram_memory is None
        else f"gram_memory={gram_memory:g} MiB"
    )
    warnings.warn(
        f"GreedySNPA on {n} frames: the n x n Gram matrix of the frames "
        f"({_size_text(n * n * 4)} in float32) is larger than {budget} "
        f"({_size_text(plan.gram_bytes)} of it kept), so {recomputed} of its "
        f"{n} rows are recomputed at each of the {n_passes} score passes: about "
        f"{seconds:.3g} s on this machine. To avoid it: a larger hop_length "
        "(fewer frames: the Gram matrix shrinks with their square), SNPA (no "
        "Gram matrix: seconds per minute of audio), a shorter excerpt, or a "
        "larger gram_memory (MiB) if the machine has the memory.",
        EfficiencyWarning,
        # the user's fit: this, greedy_select, _select, separable_fit, _fit,
        # its _fit_context wrapper, fit
        stacklevel=7,
    )


def greedy_select(
    X: NDArray,
    n_components: int | None,
    *,
    normalize: bool = True,
    refinement: Literal["full", "once", "none"] = "full",
    tol: float = 1e-9,
    max_iter: int = 100,
    gram_memory: float | None = None,
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
    gram_memory : float or None
        MiB the n x n frame Gram matrix may use (None: GRAM_MEMORY_FRACTION of
        the memory available now); see :func:`plan_gram` for what it decides.
        Every path selects the frames the float64 Gram matrix selects.
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
    plan = plan_gram(n_samples, gram_budget_bytes(gram_memory))
    n_passes = limit + {"full": limit, "once": 1, "none": 0}[refinement]
    X32 = None if plan.path == "float64" else Xs.astype(np.float32)
    if plan.path == "blockwise":
        _warn_blockwise(X32, plan, gram_memory, n_passes)
    gram = _FrameGram(Xs, plan, X32)
    sq_norms = gram.diag
    norms = np.sqrt(sq_norms)
    # zero frames score 0 instead of the reference's nan
    inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    sq_norm_total = sq_norms.sum()
    max_sq_norm = sq_norms.max() if n_samples else 0.0
    errors = None if gram.exact else gram.row_error * inv_norms

    def select(pool):
        def best_frame(indices, weights, UtM):
            scores = _greedy_scores(gram, inv_norms, indices, weights, UtM, pool)
            excluded = [] if allow_repeats else indices
            if gram.exact:
                return _pick_best(scores, excluded)

            def exact_scores(batch):
                rows = gram.exact_rows(batch)
                exact = _scores_of_rows(rows, UtM[:, batch], weights, bool(indices))
                return exact * inv_norms[batch]

            return _pick_best_rescored(scores, errors, excluded, exact_scores)

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
            UtM = np.vstack([UtM, gram.exact_rows(chosen)])
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
            UtM = np.vstack([UtM, gram.exact_rows(chosen)])
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
