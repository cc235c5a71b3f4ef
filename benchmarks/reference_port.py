"""Literal port of the reference MATLAB code (SNPA v3 and the greedy variants).

This file is deliberately *not* optimized: it follows the reference line by line
in the MATLAB orientation (``M`` is bins x frames), forms the full residual
``R = M - M[:, J] @ H`` at every step, and recomputes ``U.T @ M`` on every call
of the fast gradient method, exactly as the original does.  It serves two
purposes:

* the baseline of ``benchmarks/bench_factorization.py`` (the speed-up of the
  Gram-only kernels of :mod:`skl_sepnmf._selection` is measured against it), and
* an independent cross-check in the test suite: the package's kernels and this
  port are written separately and must select the same indices.

Semantics: ``../shared/DESIGN.md`` section 3.  Indices are 0-based.
"""

from __future__ import annotations

import numpy as np

SIMPLEX_STOP = 1e-6  # relative stopping threshold of FGM and HALS


def simplex_proj(Y):
    """Project every column of ``Y`` onto Delta = {x >= 0, sum(x) <= 1}."""
    X = np.maximum(Y, 0.0)
    if Y.shape[0] == 1:
        # Quirk of the reference: with one row the cap at 1 never applies.
        return X
    over = X.sum(axis=0) > 1
    if np.any(over):
        X[:, over] = _unit_simplex_proj(Y[:, over])
    return X


def _unit_simplex_proj(Y):
    """Projection of the columns of ``Y`` onto {x >= 0, sum(x) = 1}.

    The reference's ``blockSimplexProj``: sort each column, then walk down the
    sorted entries (a loop over rows, vectorized over columns) until the mass
    above the current entry reaches 1.
    """
    r, n = Y.shape
    ys = -np.sort(-Y, axis=0)
    lam = np.zeros(n)
    undecided = np.arange(n)
    S_prev = np.zeros(n)
    for i in range(1, r):
        S_i = np.sum(ys[:i] - ys[i], axis=0)
        done = S_i[undecided] >= 1
        cols = undecided[done]
        lam[cols] = (1 - S_prev[cols]) / i - ys[i - 1, cols]
        undecided = undecided[~done]
        S_prev = S_i
    lam[undecided] = (1 - S_prev[undecided]) / r - ys[r - 1, undecided]
    return np.maximum(Y + lam, 0.0)


def fgm(M, U, V=None, maxiter=100):
    """Fast gradient method for min ||M - U V||_F, columns of V in Delta."""
    UtU = U.T @ U
    UtM = U.T @ M
    nM2 = np.sum(M**2)
    if V is None:
        # one-hot at the nearest column of U (first index on ties)
        dist = np.sum(U**2, axis=0)[:, None] - 2 * UtM
        V = np.zeros_like(UtM)
        V[np.argmin(dist, axis=0), np.arange(M.shape[1])] = 1.0
    V = simplex_proj(V)
    L = np.linalg.norm(UtU, 2)
    Y = V.copy()
    alpha = [0.05]
    errors = []
    eps0 = None
    for i in range(maxiter):
        Vp = V
        alpha.append((np.sqrt(alpha[i] ** 4 + 4 * alpha[i] ** 2) - alpha[i] ** 2) / 2)
        beta = alpha[i] * (1 - alpha[i]) / (alpha[i] ** 2 + alpha[i + 1])
        V = simplex_proj(Y - (UtU @ Y - UtM) / L)
        Y = V + beta * (V - Vp)
        errors.append(nM2 - 2 * np.sum(V * UtM) + np.sum(UtU * (V @ V.T)))
        if i >= 1 and errors[i] > errors[i - 1]:
            Y = V
        step = np.linalg.norm(V - Vp, "fro")
        if i == 0:
            eps0 = step
        elif step < SIMPLEX_STOP * eps0:
            break
    return V


def hals(M, U, V, maxiter):
    """Exact coordinate descent for min_{V >= 0} ||M - U V||_F (warm start V)."""
    UtU = U.T @ U
    UtM = U.T @ M
    V = V.copy()
    eps0 = None
    for it in range(maxiter):
        moved = 0.0
        for k in range(U.shape[1]):
            if UtU[k, k] == 0:
                continue
            delta = np.maximum((UtM[k] - UtU[k] @ V) / UtU[k, k], -V[k])
            V[k] += delta
            moved += delta @ delta
        if it == 0:
            eps0 = moved
        elif moved < SIMPLEX_STOP**2 * eps0:
            break
    return V


def nnls_activations(M, U, maxiter=500):
    """HALS NNLS from the one-hot nearest start, as used for the ``_Hnnls`` goldens."""
    dist = np.sum(U**2, axis=0)[:, None] - 2 * (U.T @ M)
    V = np.zeros((U.shape[1], M.shape[1]))
    V[np.argmin(dist, axis=0), np.arange(M.shape[1])] = 1.0
    return hals(M, U, V, maxiter)


def _normalize_columns(M):
    return M / (M.sum(axis=0) + 1e-16)


def snpa(M, r, normalize=True, tol=1e-9, maxitn=100):
    """SNPA v3, literally: returns (J, H)."""
    M = np.asarray(M, dtype=np.float64)
    if normalize:
        M = _normalize_columns(M)
    normM0 = np.sum(M**2, axis=0)
    nMmax = normM0.max()
    normR = normM0.copy()
    J = []
    H = None
    while len(J) < r and normR.max() / nMmax > tol:
        a = normR.max()
        candidates = np.flatnonzero((a - normR) / a <= 1e-6)
        b = candidates[np.argmax(normM0[candidates])]
        J.append(int(b))
        if H is None:
            H = fgm(M, M[:, J], None, maxitn)
        else:
            H[:, b] = 0
            h = np.zeros((1, M.shape[1]))
            h[0, b] = 1
            H = fgm(M, M[:, J], np.vstack([H, h]), maxitn)
        R = M - M[:, J] @ H
        normR = np.sum(R**2, axis=0)
    return np.array(J, dtype=np.intp), H


def _greedy_pick(R, Mn, exclude):
    score = np.maximum(R.T @ Mn, 0).sum(axis=0)
    if exclude:
        score[list(exclude)] = -np.inf
    return int(np.argmax(score))


def greedy(M, r, normalize=True, refinement="full", exclude_selected=True):
    """The greedy XRAY-like variant with SNPA's projection: returns (J, H)."""
    M = np.asarray(M, dtype=np.float64)
    if normalize:
        M = _normalize_columns(M)
    Mn = M / np.sqrt(np.sum(M**2, axis=0))
    n = M.shape[1]
    R = M
    J = []
    H = None
    for _ in range(r):
        b = _greedy_pick(R, Mn, J if exclude_selected else [])
        J.append(b)
        if H is None:
            H = fgm(M, M[:, J], None, 100)
        else:
            H[:, b] = 0
            h = np.zeros((1, n))
            h[0, b] = 1
            H = fgm(M, M[:, J], np.vstack([H, h]), 100)
        R = M - M[:, J] @ H
    n_replace = {"none": 0, "once": 1, "full": r}[refinement]
    for _ in range(n_replace):
        J = J[1:]
        H = hals(M, M[:, J], H[1:], 100)
        R = M - M[:, J] @ H
        b = _greedy_pick(R, Mn, J if exclude_selected else [])
        J.append(b)
        H[:, b] = 0
        h = np.zeros((1, n))
        h[0, b] = 1
        H = np.vstack([H, h])
    H = hals(M, M[:, J], H, 100)
    return np.array(J, dtype=np.intp), H
