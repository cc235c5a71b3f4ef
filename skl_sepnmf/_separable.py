"""Separable NMF estimators: SPA, SNPA and the greedy XRAY-like variant, and the
SEPARABLE registry naming them."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from ._nnls import nnls_activations
from ._selection import greedy_select, snpa_select, spa_select


def check_n_components(n_components, n_samples: int, estimator_name: str) -> None:
    """Refuse to select more frames than the data has."""
    if n_components is not None and n_components > n_samples:
        raise ValueError(
            f"{estimator_name}: n_components={n_components} is larger than the "
            f"number of samples (frames) in X, {n_samples}; a separable "
            "factorization selects its components among the rows of X. Use "
            f"n_components <= {n_samples}, or a longer recording / a smaller "
            "hop_length."
        )


def separable_fit(estimator, X, stacklevel=2):
    """Select frames with ``estimator._select`` and warn if fewer than asked.

    Shared by the separable estimators and by ``NMF(init=...)`` with a key of
    ``SEPARABLE``.
    ``stacklevel`` is passed to :func:`warnings.warn`, so that the warning
    points at the user's line. Returns the :class:`~skl_sepnmf._selection.Selection`.
    """
    name = type(estimator).__name__
    check_n_components(estimator.n_components, X.shape[0], name)
    selection = estimator._select(X)
    indices = selection.indices
    requested = estimator.n_components
    if requested is not None and len(indices) < requested:
        warnings.warn(
            f"{name} selected only {len(indices)} of the n_components={requested} "
            f"frames requested: every frame is already represented within "
            f"tol={estimator.tol} (relative squared residual). n_components_ is set "
            f"to {len(indices)}.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return selection


class _BaseSeparableNMF(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, ABC
):
    """Base class of the separable NMF estimators (components are rows of X)."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "normalize": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_components=None, *, normalize=True, tol=1e-9):
        self.n_components = n_components
        self.normalize = normalize
        self.tol = tol

    @abstractmethod
    def _select(self, X):
        """Run the selection kernel on X (float32 or float64; the kernels compute
        in float64): return its Selection."""

    def fit(self, X, y=None):
        """Select the frames that span the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Nonnegative data, one frame per row (``|STFT|.T`` for audio).

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Select the frames, then return the activations of X on them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Nonnegative data, one frame per row.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Nonnegative activations, in the dtype of X.
        """
        return self._fit(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X):
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        check_non_negative(X, f"{type(self).__name__} (input X)")
        # The kernels compute in float64 (float32 input selects the frames its
        # float64 copy would) without a float64 copy of a large float32 X.
        # the user's frame: separable_fit < _fit < _fit_context < fit(_transform)
        selection = separable_fit(self, X, stacklevel=5)
        indices = selection.indices
        self.indices_ = indices
        self.components_ = X[indices].copy()
        self.n_components_ = indices.size
        # the same computation as transform, so that fit_transform(X) equals
        # fit(X).transform(X) even where the activations are not unique
        activations, _, self.reconstruction_err_ = nnls_activations(X, self.components_)
        self.n_iter_ = selection.n_iter
        return activations.astype(X.dtype, copy=False)

    def transform(self, X):
        """Nonnegative least squares activations of X on the selected frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Nonnegative data, one frame per row.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            ``argmin_{W >= 0} ||X - W @ components_||_F``, solved exactly.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        activations = nnls_activations(X, self.components_)[0]
        return activations.astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Map activations back to the data space: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Activations.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = check_array(X, dtype=[np.float64, np.float32])
        if X.shape[1] != self.n_components_:
            raise ValueError(
                f"{type(self).__name__}.inverse_transform expects activations with "
                f"{self.n_components_} columns (n_components_), got shape {X.shape}."
            )
        return X @ self.components_

    @property
    def _n_features_out(self):
        """Number of transformed output features."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SPA(_BaseSeparableNMF):
    """Successive Projection Algorithm (separable NMF).

    Selects, one at a time, the frame whose residual is largest, then projects
    every frame orthogonally on the span of the selected frames:

    .. math::

        \\min_{H} \\|M - M_{:, J} H\\|_F^2 \\quad \\text{(unconstrained)}

    where ``M = X.T`` and ``J`` is the set of selected frames; the next residual
    is each frame's component orthogonal to that span. This is the base of the
    family: :class:`SNPA` is SPA with each column of ``H`` restricted to
    ``{h >= 0, sum(h) <= 1}``. Computed from Gram products only, with the
    candidate and tie rules of :class:`SNPA` (Gillis' ``FastSepNMF``), so
    both make the same first pick.

    Orientation: scikit-learn's, ``X`` of shape (n_samples, n_features). For audio
    pass ``X = |STFT|.T`` (one row per frame, one column per frequency bin), as
    :func:`librosa.decompose.decompose` does. The reference works on ``M = X.T``;
    its selected columns are the selected rows ``indices_`` here, and
    ``components_ = X[indices_]`` (unnormalized, as given to ``fit``).

    Parameters
    ----------
    n_components : int, default=None
        Number of frames to select. None selects until the ``tol`` test stops
        the algorithm. If the test stops it before ``n_components``, a warning
        is issued and ``n_components_`` holds the number found.

    normalize : bool, default=True
        Scale each frame to sum 1 before selecting (divide by its sum + 1e-16),
        so that loud frames do not win by loudness alone.

    tol : float, default=1e-9
        Stop when the largest squared residual of a frame falls to ``tol``
        times the largest squared frame norm.

    Attributes
    ----------
    indices_ : ndarray of shape (n_components,)
        Rows of X (frames) selected, in extraction order.

    components_ : ndarray of shape (n_components, n_features)
        The selected frames, ``X[indices_]``: the spectral templates.

    n_components_ : int
        Number of frames selected.

    reconstruction_err_ : float
        ``||X - W @ components_||_F`` with ``W`` the activations of ``fit_transform``.

    n_iter_ : int
        Selection steps performed (one per selected frame).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    SNPA : The same selection with nonnegative projections (more robust).
    GreedySNPA : Greedy XRAY-like selection with SNPA's projection.
    NMF : Classic NMF, optionally started from a separable selection.

    Notes
    -----
    The orthogonal projection ignores nonnegativity: SPA is exact on separable
    data whose templates are linearly independent, and selects at most as many
    frames as the rank of X (at most ``n_features``). ``transform`` is the
    nonnegative least squares of :class:`SNPA`: the activations are
    nonnegative whatever the selection step. Selection runs in float64 whatever
    the input dtype; outputs keep the input dtype.

    References
    ----------
    N. Gillis and S. A. Vavasis, "Fast and robust recursive algorithms for
    separable nonnegative matrix factorization", IEEE Trans. Pattern Anal.
    Mach. Intell. 36(4), 2014, :doi:`10.1109/TPAMI.2013.226`.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sepnmf import SPA
    >>> rng = np.random.default_rng(0)
    >>> templates = rng.random((3, 20))
    >>> weights = rng.dirichlet(np.ones(3), size=30) * 0.9
    >>> X = np.vstack([templates, weights @ templates])
    >>> spa = SPA(n_components=3).fit(X)
    >>> sorted(spa.indices_.tolist())
    [0, 1, 2]
    >>> spa.transform(X).shape
    (33, 3)
    """

    def _select(self, X):
        return spa_select(X, self.n_components, normalize=self.normalize, tol=self.tol)


class SNPA(_BaseSeparableNMF):
    """Successive Nonnegative Projection Algorithm (separable NMF).

    Selects, one at a time, the frame whose residual is largest, then projects
    every frame onto the convex hull of the selected frames and the origin:

    .. math::

        \\min_{H} \\|M - M_{:, J} H\\|_F^2 \\quad \\text{s.t.} \\quad
        H_{:, i} \\in \\Delta = \\{h \\ge 0, \\textstyle\\sum_k h_k \\le 1\\}

    where ``M = X.T`` and ``J`` is the set of selected frames. Selection
    follows N. Gillis' SNPA v3 exactly (same indices as the reference on every
    golden case), computed from Gram products only.

    Orientation: scikit-learn's, ``X`` of shape (n_samples, n_features). For audio
    pass ``X = |STFT|.T`` (one row per frame, one column per frequency bin), as
    :func:`librosa.decompose.decompose` does. The reference works on ``M = X.T``;
    its selected columns are the selected rows ``indices_`` here, and
    ``components_ = X[indices_]`` (unnormalized, as given to ``fit``).

    Parameters
    ----------
    n_components : int, default=None
        Number of frames to select. None selects until the ``tol`` test stops
        the algorithm. If the test stops it before ``n_components``, a warning
        is issued and ``n_components_`` holds the number found.

    normalize : bool, default=True
        Scale each frame to sum 1 before selecting (divide by its sum + 1e-16),
        so that loud frames do not win by loudness alone.

    tol : float, default=1e-9
        Stop when the largest squared residual of a frame falls to ``tol``
        times the largest squared frame norm.

    max_iter : int, default=100
        Iterations of the fast gradient method solving the projection at each
        step (the reference's value).

    Attributes
    ----------
    indices_ : ndarray of shape (n_components,)
        Rows of X (frames) selected, in extraction order.

    components_ : ndarray of shape (n_components, n_features)
        The selected frames, ``X[indices_]``: the spectral templates.

    n_components_ : int
        Number of frames selected.

    reconstruction_err_ : float
        ``||X - W @ components_||_F`` with ``W`` the activations of ``fit_transform``.

    n_iter_ : int
        Selection steps performed (one per selected frame).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    GreedySNPA : Greedy XRAY-like selection with SNPA's projection.
    NMF : Classic NMF, optionally started from a separable selection.

    Notes
    -----
    ``transform`` solves an unconstrained-sum nonnegative least squares problem
    per frame exactly (block principal pivoting), which reaches at least the
    accuracy of the reference's 500 HALS sweeps. Selection runs in float64
    whatever the input dtype, so float32 input selects the same frames; outputs
    keep the input dtype.

    References
    ----------
    N. Gillis, "Successive nonnegative projection algorithm for robust
    nonnegative blind source separation", SIAM J. Imaging Sci. 7(2), 2014,
    :doi:`10.1137/130946782`.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sepnmf import SNPA
    >>> rng = np.random.default_rng(0)
    >>> templates = rng.random((3, 20))
    >>> weights = rng.dirichlet(np.ones(3), size=30) * 0.9
    >>> X = np.vstack([templates, weights @ templates])
    >>> snpa = SNPA(n_components=3).fit(X)
    >>> sorted(snpa.indices_.tolist())
    [0, 1, 2]
    >>> snpa.transform(X).shape
    (33, 3)
    """

    _parameter_constraints: dict = {
        **_BaseSeparableNMF._parameter_constraints,
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components=None, *, normalize=True, tol=1e-9, max_iter=100):
        super().__init__(n_components, normalize=normalize, tol=tol)
        self.max_iter = max_iter

    def _select(self, X):
        return snpa_select(
            X,
            self.n_components,
            normalize=self.normalize,
            tol=self.tol,
            max_iter=self.max_iter,
        )


class GreedySNPA(_BaseSeparableNMF):
    """Greedy conical-hull selection (XRAY-like) with SNPA's projection.

    At each step the frame ``j`` maximizing

    .. math::

        \\operatorname{score}_j = \\sum_i \\max(0, \\langle r_i, m_j \\rangle)
        / \\|m_j\\|_2

    is selected (``r_i`` the residual of frame ``i``), then every frame is
    projected onto the convex hull of the selected frames and the origin, as in
    :class:`SNPA`. A refinement pass then replaces the oldest selections one by
    one. This is the notebook's variant; it selects the same frames as the
    reference on every golden case.

    Orientation: scikit-learn's, ``X`` of shape (n_samples, n_features). For audio
    pass ``X = |STFT|.T`` (one row per frame, one column per frequency bin), as
    :func:`librosa.decompose.decompose` does. The reference works on ``M = X.T``;
    its selected columns are the selected rows ``indices_`` here, and
    ``components_ = X[indices_]`` (unnormalized, as given to ``fit``).

    Parameters
    ----------
    n_components : int, default=None
        Number of frames to select. None selects until the ``tol`` test stops
        the first pass (a warning when it stops before ``n_components``).

    normalize : bool, default=True
        Scale each frame to sum 1 before selecting.

    refinement : {"full", "once", "none"}, default="full"
        After the first pass: ``"full"`` replaces each selected frame once,
        oldest first (drop it, refit the others by nonnegative least squares,
        pick the best-scoring frame); ``"once"`` does one such replacement;
        ``"none"`` keeps the first pass.

    tol : float, default=1e-9
        Stop the first pass when the largest squared residual of a frame falls
        to ``tol`` times the largest squared frame norm.

    max_iter : int, default=100
        Iterations of the fast gradient method (first pass) and HALS sweeps
        (refinement), the reference's values.

    gram_memory : float, default=None
        Memory (MiB) the n x n Gram matrix of the frames may take, as
        :class:`~sklearn.svm.SVC`'s ``cache_size``. None: half the memory
        available when ``fit`` starts. Within it the matrix is held whole
        (float64 up to 8,192 frames, float32 beyond); past it, the rows that
        do not fit are recomputed at every pick, much slower (an
        :class:`~sklearn.exceptions.EfficiencyWarning` says how much before
        the fit starts). The frames selected are the same on every path.

    Attributes
    ----------
    indices_ : ndarray of shape (n_components,)
        Rows of X (frames) selected, in the order the refinement leaves them.

    components_ : ndarray of shape (n_components, n_features)
        The selected frames, ``X[indices_]``.

    n_components_ : int
        Number of frames selected.

    reconstruction_err_ : float
        ``||X - W @ components_||_F`` with ``W`` the activations of ``fit_transform``.

    n_iter_ : int
        Selection steps performed: first-pass picks plus replacements.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    SNPA : Successive nonnegative projection (largest residual first).
    NMF : Classic NMF, optionally started from a separable selection.

    Notes
    -----
    The reference can select a frame it already selected (it never excludes
    them); here selected frames are excluded, which changes the result only
    where the reference repeats itself (one golden case). Scores within 1e-10
    (relative) of the best are ties, won by the first index. The score needs
    the n x n Gram matrix of the frames (10 minutes of 44.1 kHz audio at hop
    1024: 25,840 frames, 2.5 GiB in float32): in float32, the scores within
    the rounding error of the best (bounded per frame) are re-scored in
    float64 before picking, so the float64 pick and its tie rule hold exactly.

    References
    ----------
    A. Kumar, V. Sindhwani and P. Kambadur, "Fast conical hull algorithms for
    near-separable non-negative matrix factorization", ICML 2013,
    :doi:`10.48550/arXiv.1210.1190`.

    N. Gillis, "Successive nonnegative projection algorithm for robust
    nonnegative blind source separation", SIAM J. Imaging Sci. 7(2), 2014,
    :doi:`10.1137/130946782`.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sepnmf import GreedySNPA
    >>> rng = np.random.default_rng(0)
    >>> templates = rng.random((3, 20))
    >>> weights = rng.dirichlet(np.ones(3), size=30) * 0.9
    >>> X = np.vstack([templates, weights @ templates])
    >>> greedy = GreedySNPA(n_components=3).fit(X)
    >>> sorted(greedy.indices_.tolist())
    [0, 1, 2]
    >>> greedy.components_.shape
    (3, 20)
    """

    _parameter_constraints: dict = {
        **_BaseSeparableNMF._parameter_constraints,
        "refinement": [StrOptions({"full", "once", "none"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "gram_memory": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        n_components=None,
        *,
        normalize=True,
        refinement="full",
        tol=1e-9,
        max_iter=100,
        gram_memory=None,
    ):
        super().__init__(n_components, normalize=normalize, tol=tol)
        self.refinement = refinement
        self.max_iter = max_iter
        self.gram_memory = gram_memory

    def _select(self, X):
        return greedy_select(
            X,
            self.n_components,
            normalize=self.normalize,
            refinement=self.refinement,
            tol=self.tol,
            max_iter=self.max_iter,
            gram_memory=self.gram_memory,
        )


# Separable algorithms by name, the one list of them: NMF's separable ``init``
# options, the CLI's --method choices and the tests' parametrization read it.
SEPARABLE: dict[str, type[_BaseSeparableNMF]] = {
    "spa": SPA,
    "snpa": SNPA,
    "greedy": GreedySNPA,
}
