"""Grouping the components of a factorization into sources.

A grouping strategy is a function ``(components, activations, n_sources,
random_state) -> groups``: ``components`` of shape (n_components, n_bins),
``activations`` of shape (n_frames, n_components), and ``groups`` a list of
index arrays, one per source, that partition ``range(n_components)``.
:data:`GROUPINGS` maps each name :class:`SpectrogramSeparator` accepts as
``grouping`` to its strategy.

Every strategy here is a feature function, one row of features per component,
clustered by k-means. Adding one is registering its feature function::

    @feature("timbre")
    def cepstral_features(components, activations):
        return scipy.fft.dct(np.log(components + 1e-10), norm="ortho")[:, :20]

which puts ``"timbre"`` in :data:`FEATURES` and :data:`GROUPINGS`, hence in the
separator's parameter constraints, the command line's ``--grouping`` choices
and the tests' parametrization.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.cluster import KMeans

FeatureFunction = Callable[[NDArray, NDArray], NDArray]
Grouping = Callable[..., list]

# name -> feature function (components, activations) -> (n_components, n_features)
FEATURES: dict[str, FeatureFunction] = {}
# name -> strategy (components, activations, n_sources, random_state) -> groups
GROUPINGS: dict[str, Grouping] = {}
# The separator's default, and the features a clusterer object clusters.
DEFAULT_GROUPING = "spectra"
# Old names, accepted with a FutureWarning until 0.3.
RENAMED = {"kmeans": "spectra"}

# The log spectrum is floored 60 dB below the template's peak: in
# bench_quality.py this beat the first 20 cepstral coefficients (timbre
# envelope only) at every rank on the seed mixture, whose "sources" are three
# pianos and three clarinets: timbre alone cannot tell them apart, pitch
# content can.
_LOG_FLOOR = 1e-3


def kmeans_labels(features: NDArray, n_sources: int, random_state) -> NDArray:
    """Cluster labels of the rows of ``features``: k-means, 10 restarts."""
    kmeans = KMeans(n_sources, n_init=10, random_state=random_state)
    return kmeans.fit_predict(features)


def groups_of(labels: NDArray, n_sources: int) -> list[NDArray]:
    """The index arrays of each cluster label, in label order.

    Labels ``0 ... n_sources - 1`` give exactly ``n_sources`` groups, an empty
    cluster an empty group (a silent source) in its place. Other labels (a
    clusterer choosing its number of clusters, DBSCAN's noise label -1) give
    one group per distinct label.
    """
    labels = np.asarray(labels)
    names = np.unique(labels)
    if names.size and names.min() >= 0 and names.max() < n_sources:
        names = np.arange(n_sources)
    return [np.flatnonzero(labels == name) for name in names]


def clustered(
    features: FeatureFunction,
    components: NDArray,
    activations: NDArray,
    n_sources: int,
    random_state,
    labels: Callable = kmeans_labels,
) -> list[NDArray]:
    """Groups of the components from clustering their ``features``.

    With no more components than sources, each component is its own group
    (there is nothing to cluster, and k-means needs n_sources samples).
    """
    n_components = components.shape[0]
    if n_sources is None or n_components <= n_sources:
        return [np.array([k]) for k in range(n_components)]
    rows = features(components, activations)
    return groups_of(labels(rows, n_sources, random_state), n_sources)


def feature(name: str) -> Callable[[FeatureFunction], FeatureFunction]:
    """Register a feature function as the k-means grouping strategy ``name``."""

    def register(function: FeatureFunction) -> FeatureFunction:
        FEATURES[name] = function
        GROUPINGS[name] = partial(clustered, function)
        return function

    return register


def _unit_rows(rows: NDArray) -> NDArray:
    # k-means on the unit sphere ~ clustering by cosine similarity
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


@feature("spectra")
def spectral_features(components: NDArray, activations: NDArray) -> NDArray:
    """Log spectra floored 60 dB below each template's peak, centered,
    L2-normalized: what a template sounds like (pitch and timbre)."""
    peaks = np.maximum(components.max(axis=1, keepdims=True), np.finfo(float).tiny)
    log_spectra = np.log(np.maximum(components, _LOG_FLOOR * peaks))
    log_spectra -= log_spectra.mean(axis=1, keepdims=True)
    return _unit_rows(log_spectra)


@feature("activations")
def activation_features(components: NDArray, activations: NDArray) -> NDArray:
    """L2-normalized activation time courses: when a template sounds."""
    return _unit_rows(activations.T)


def clusterer_labels(clusterer, features: NDArray, n_sources: int, random_state):
    """Labels from a clone of a scikit-learn clusterer, its ``n_clusters`` (when
    it has that parameter) set to ``n_sources``; its own ``random_state`` is
    kept."""
    clusterer = clone(clusterer)
    if "n_clusters" in clusterer.get_params():
        clusterer.set_params(n_clusters=n_sources)
    return clusterer.fit_predict(features)


def resolve(grouping):
    """The registry name or clusterer that ``grouping`` stands for.

    An old name (:data:`RENAMED`) warns and gives its new name.
    """
    if isinstance(grouping, str) and grouping in RENAMED:
        warnings.warn(
            f"grouping={grouping!r} is deprecated and will be removed in 0.3: "
            f"use grouping={RENAMED[grouping]!r} (same behaviour).",
            FutureWarning,
            stacklevel=2,
        )
        return RENAMED[grouping]
    return grouping


def group_components(
    components: NDArray, activations: NDArray, n_sources, grouping, random_state
) -> list[NDArray]:
    """Assign each component to a source (list of index arrays).

    Parameters
    ----------
    components : ndarray of shape (n_components, n_bins)
    activations : ndarray of shape (n_frames, n_components)
    n_sources : int or None
        ``None``: one group per component.
    grouping : str or clusterer
        A key of :data:`GROUPINGS` (old names already replaced by
        :func:`resolve`), or an object with ``fit_predict`` that clusters the
        features of :data:`DEFAULT_GROUPING` (see :func:`clusterer_labels`).
    random_state : int
        Seed of the k-means restarts.
    """
    if isinstance(grouping, str):
        strategy = GROUPINGS[grouping]
    else:
        strategy = partial(
            clustered,
            FEATURES[DEFAULT_GROUPING],
            labels=partial(clusterer_labels, grouping),
        )
    return strategy(components, activations, n_sources, random_state)
