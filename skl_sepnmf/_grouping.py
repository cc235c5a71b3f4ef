"""Grouping the components of a factorization into sources.

A grouping strategy is a function ``(components, activations, n_sources,
random_state, *, sr) -> groups``: ``components`` of shape (n_components,
n_bins), ``activations`` of shape (n_frames, n_components), ``sr`` the sample
rate (features on a perceptual frequency axis need it), and ``groups`` a list
of index arrays, one per source, that partition ``range(n_components)``.
:data:`GROUPINGS` maps each name :class:`SpectrogramSeparator` accepts as
``grouping`` to its strategy.

Most strategies here are a feature function, one row of features per
component, clustered by k-means; ``"patterns"`` (a KL-NMF of rank n_sources of
the components' summed model, :func:`pattern_fit`) and ``"auto"`` (patterns
where they explain that model, else timbre, :func:`auto_groups`) are
registered as strategies directly. Adding a k-means one is registering its
feature function::

    @feature("brightness")
    def centroid_features(components, activations, *, sr=22050):
        bins = np.arange(components.shape[1])
        return (components @ bins / components.sum(axis=1))[:, None]

which puts ``"brightness"`` in :data:`FEATURES` and :data:`GROUPINGS`, hence in
the separator's parameter constraints, the command line's ``--grouping``
choices and the tests' parametrization. A strategy that is more than one
k-means of one feature (``"timbre"``: the consensus of several) registers its
feature function with ``feature(name, strategy=...)``.

Guided separation (the user names where each source plays alone) is
:func:`guided_groups`: components heard in one source's solo frames seed that
source, the others join the source whose seeds they agree with most across the
timbre views (:func:`timbre_agreement`); ``_nmf.solo_refined`` then refits an
NMF knowing no other source sounds in a solo.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
import scipy.fft
import scipy.special
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF as SklearnNMF
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ._spectral import mel_filterbank

FeatureFunction = Callable[[NDArray, NDArray], NDArray]
Grouping = Callable[..., list]

# name -> feature function (components, activations, *, sr) -> (n_components,
# n_features)
FEATURES: dict[str, FeatureFunction] = {}
# name -> strategy (components, activations, n_sources, random_state, *, sr)
# -> groups
GROUPINGS: dict[str, Grouping] = {}
# The separator's default (see :func:`auto_groups`).
DEFAULT_GROUPING = "auto"
# The features a clusterer object clusters, and the agreement soft shares use.
TIMBRE = "timbre"
# Old names, accepted with a FutureWarning until 0.3.
RENAMED = {"kmeans": "spectra"}

# The log spectrum is floored 60 dB below the template's peak: in
# bench_quality.py this beat the first 20 cepstral coefficients (timbre
# envelope only) at every rank on the seed mixture, whose "sources" are three
# pianos and three clarinets: timbre alone cannot tell them apart, pitch
# content can.
_LOG_FLOOR = 1e-3


def kmeans_labels(
    features: NDArray, n_sources: int, random_state, sample_weight=None
) -> NDArray:
    """Cluster labels of the rows of ``features``: k-means, 10 restarts, each
    row weighing ``sample_weight`` (default: all the same)."""
    kmeans = KMeans(n_sources, n_init=10, random_state=random_state)
    return kmeans.fit_predict(features, sample_weight=sample_weight)


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
    *,
    sr: float = 22050,
    labels: Callable = kmeans_labels,
) -> list[NDArray]:
    """Groups of the components from clustering their ``features``.

    With no more components than sources, each component is its own group
    (there is nothing to cluster, and k-means needs n_sources samples).
    """
    n_components = components.shape[0]
    if n_sources is None or n_components <= n_sources:
        return [np.array([k]) for k in range(n_components)]
    rows = features(components, activations, sr=sr)
    return groups_of(labels(rows, n_sources, random_state), n_sources)


def feature(
    name: str, strategy: Callable = clustered
) -> Callable[[FeatureFunction], FeatureFunction]:
    """Register a feature function as the grouping strategy ``name``: k-means
    of the features (``clustered``), or ``strategy(features, ...)``."""

    def register(function: FeatureFunction) -> FeatureFunction:
        FEATURES[name] = function
        GROUPINGS[name] = partial(strategy, function)
        return function

    return register


def _unit_rows(rows: NDArray) -> NDArray:
    # k-means on the unit sphere ~ clustering by cosine similarity
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


@feature("spectra")
def spectral_features(components: NDArray, activations: NDArray, *, sr=22050):
    """Log spectra floored 60 dB below each template's peak, centered,
    L2-normalized: what a template sounds like (pitch and timbre)."""
    peaks = np.maximum(components.max(axis=1, keepdims=True), np.finfo(float).tiny)
    log_spectra = np.log(np.maximum(components, _LOG_FLOOR * peaks))
    log_spectra -= log_spectra.mean(axis=1, keepdims=True)
    return _unit_rows(log_spectra)


@feature("activations")
def activation_features(components: NDArray, activations: NDArray, *, sr=22050):
    """L2-normalized activation time courses: when a template sounds."""
    return _unit_rows(activations.T)


# Timbre: the spectral envelope of a template, as the cepstral coefficients
# c1..c13 of its log mel spectrum (c0, the loudness, left out). The envelope
# (formants, brightness, balance of the partials) moves little with pitch, so
# notes of one instrument at different pitches land close together: MFCC of
# NMF templates, as Spiertz & Gnann (2009) and nussl's TimbreClustering do.
_MEL_FLOOR = 1e-8  # log of silent mel bands: 160 dB below unit magnitude
# One k-means of one (n_mels, n_coefficients) variant is fragile: in
# bench_quality.py one duet scored 13.8 dB with 13 coefficients of 128 bands
# and 1.8 dB with 13 of 40. The consensus of these nine variants (evidence
# accumulation, Fred & Jain 2005) is stable across them.
TIMBRE_VARIANTS = tuple((n_mels, n) for n_mels in (40, 64, 128) for n in (8, 13, 20))
# The consensus also hears three variants (number of coefficients) of the
# pitch-invariant view, :func:`shift_invariant_features`: with them the mean
# over the 11 mixtures of bench_quality.py rose from 4.48-4.57 to 4.72-4.87 dB
# over four k-means seeds, and the mixtures below their floor fell from 1-2 to
# 0-1. On its own that view is weak (2.5 dB: it cannot tell a note from its
# octave), so it votes beside the envelope, not instead of it.
SHIFT_INVARIANT_VARIANTS = (10, 20, 40)


# Templates count by the sound they hold. An NMF gives a faint template (a
# breath, a key click, a partial split off one note) the same vote as one that
# carries a voice's main notes, and unweighted average linkage could make a
# source of a few faint outlying templates and merge two instruments in
# another (duet_solointro_bwv267 delayed by 300 samples: its guitar split in
# two, half of it with the English horn, 6.25 dB against 13.01 undelayed). Each
# template weighs the square root of its model's magnitude in the k-means of
# every view (scikit-learn's sample_weight) and in the average linkage of the
# agreement (:func:`weighted_average_linkage`). Mean SNR over input shifts
# 0 / 300 / 700 and random_state 0 / 1 / 2 (bench_robustness.py, "defaults, 3
# seeds"; floors 1.32 / 1.58 / 2.06): unweighted, dev 6.67, held-out 5.81,
# recombined 6.98 (6 of 459 separations below their floor); weighted, 6.83,
# 5.79 and 7.61 (1 below). Over seeds 0 / 1 only: the model's magnitude
# itself (not its square root) as the k-means weight gained as much on the
# recombined set but lost 0.1 dB on the held-out one (7.55 and 5.71); the
# weights in the linkage only, dev 6.85, held-out 5.83, recombined 6.96; in
# the k-means only, 6.55, 5.73 and 7.64.
_WEIGHT_POWER = 0.5
# a template never heard still weighs a little, so that every cluster's
# weight is positive
_WEIGHT_FLOOR = 1e-6


def template_weights(components: NDArray, activations: NDArray) -> NDArray:
    """Each component's weight in the grouping, shape (n_components,): the
    square root of its model's magnitude (``activations[:, k].sum() *
    components[k].sum()``) relative to the largest, floored at
    ``_WEIGHT_FLOOR``; all ones for a silent model."""
    # absolute values: a user's estimator (``SpectrogramSeparator(estimator=
    # ...)``) need not be nonnegative
    magnitude = np.abs(activations).sum(axis=0, dtype=np.float64) * np.abs(
        components
    ).sum(axis=1, dtype=np.float64)
    if not np.isfinite(magnitude).all():
        raise ValueError(
            "The factorization's activations or components are not finite "
            "(nan or inf): its templates cannot be grouped."
        )
    largest = magnitude.max(initial=0.0)
    if not largest > 0:
        return np.ones(components.shape[0])
    return np.maximum((magnitude / largest) ** _WEIGHT_POWER, _WEIGHT_FLOOR)


def weighted_average_linkage(
    distances: NDArray, weights: NDArray, n_clusters: int
) -> NDArray:
    """Labels (0 ... n_clusters - 1) of average-linkage clustering (UPGMA) in
    which item i weighs ``weights[i]``: the distance between two clusters is
    the weighted mean of the distances between their items, pairs weighing
    ``weights[i] * weights[j]``. With equal weights it is plain average
    linkage (scikit-learn's ``linkage="average"``, up to ties).

    Written here because neither scikit-learn's nor SciPy's hierarchical
    clustering takes item weights; the merges are a loop of n_items -
    n_clusters steps over a matrix of ~50 templates (under a millisecond on
    this project's machine), each step vectorized (the Lance-Williams
    update).
    """
    n_items = distances.shape[0]
    weights = np.asarray(weights, dtype=np.float64)
    if not (np.isfinite(distances).all() and np.isfinite(weights).all()):
        raise ValueError(
            "weighted_average_linkage: distances and weights must be finite."
        )
    if not (weights > 0).all() or n_clusters < 1:
        raise ValueError(
            "weighted_average_linkage: weights must be positive and n_clusters "
            f"at least 1; got a smallest weight of {weights.min(initial=1.0)} "
            f"and n_clusters={n_clusters}."
        )
    between = np.array(distances, dtype=np.float64)  # a copy, updated in place
    np.fill_diagonal(between, np.inf)
    cluster_weight = weights.copy()
    cluster_of = np.arange(n_items)
    for _ in range(n_items - n_clusters):
        kept, merged = sorted(np.unravel_index(np.argmin(between), between.shape))
        total = cluster_weight[kept] + cluster_weight[merged]
        joined = (
            cluster_weight[kept] * between[kept]
            + cluster_weight[merged] * between[merged]
        ) / total
        between[kept] = joined
        between[:, kept] = joined
        between[kept, kept] = np.inf
        between[merged] = np.inf
        between[:, merged] = np.inf
        cluster_weight[kept] = total
        cluster_of[cluster_of == merged] = kept
    return np.unique(cluster_of, return_inverse=True)[1]


def coassociation(partitions: NDArray) -> NDArray:
    """Fraction of the partitions (rows of labels) that put each pair of items
    in the same cluster."""
    partitions = np.asarray(partitions)
    return (partitions[:, :, None] == partitions[:, None, :]).mean(axis=0)


# Evidence for, beside the conflicts against: NMF often splits one sound into
# several templates (a note's fundamental and its upper partials, its attack
# and its sustain), which then start and stop together all through the piece,
# where two voices' notes coincide only now and then. Two templates whose
# activations have a cosine similarity above one half gain up to 2 in
# agreement (linearly, 2 at cosine 1). In the grouping alone (the rank-50
# factorization fixed, shared templates, power 1, four k-means seeds) the mean
# rose from 6.46 / 6.45 / 6.48 / 6.55 to 6.59 / 6.60 / 6.57 / 6.68 dB on the
# 10 dev mixtures other than the seed one, from 5.60 / 5.41 / 5.53 / 5.56 to
# 5.60 / 5.63 / 5.55 / 5.61 on the 24 held-out ones (bench_heldout.py) and
# from 6.91 / 7.00 to 7.18 / 6.96 on the 16 recombined ones (two seeds; one
# below its floor before, none after); solointro_bwv108.6 4.22 -> 4.56,
# whose clarinet's upper partials were a template of their own. A weight of
# 1 gained less (dev 6.48, held-out 5.57, two seeds), 3 was unstable across
# seeds (dev 6.61 / 6.29), and starting at 0.4 or 0.6 was no better
# (6.41 / 5.64 and 6.59 / 5.56).
_SAME_SOUND_FROM = 0.5
_SAME_SOUND_WEIGHT = 2.0


def same_sound_evidence(activations: NDArray) -> NDArray:
    """Evidence that two components are parts of one sound, shape
    (n_components, n_components): ``_SAME_SOUND_WEIGHT`` times how far the
    cosine similarity of their activations lies above ``_SAME_SOUND_FROM``,
    as a share of the way to 1; 0 on the diagonal."""
    time_courses = _unit_rows(activations.T)
    cosine = time_courses @ time_courses.T
    evidence = _SAME_SOUND_WEIGHT * np.clip(
        (cosine - _SAME_SOUND_FROM) / (1.0 - _SAME_SOUND_FROM), 0.0, 1.0
    )
    np.fill_diagonal(evidence, 0.0)
    return evidence


# The timbre views listen up to 11025 Hz at any rate: the band of the 22050 Hz
# recordings they were measured on. Above it a recording may hold next to
# nothing (audio resampled up from 22.05 kHz, lossy-coded with a 16 kHz
# low-pass, or instruments with little energy there), and the logarithm of a
# nearly empty band is noise that outvotes the envelope. On the dev mixtures
# resampled to 44.1 kHz (bench_robustness.py, mean over three input shifts)
# the whole band scored 5.83 dB (floor 1.32; 6.52 at their own rate), the duet
# with solo bars 2.43 (floor 2.41); up to 11025 Hz, 6.61 and 10.87.
TIMBRE_BAND_HZ = 11025.0


def timbre_band(components: NDArray, sr: float) -> tuple[NDArray, float]:
    """The components' bins from 0 to :data:`TIMBRE_BAND_HZ`, and the rate
    whose Nyquist frequency is the last of them: ``(components[:, :n], rate)``
    (the components and ``sr`` themselves up to 22050 Hz, and where no bin
    above 0 Hz lies in the band)."""
    n_bins = components.shape[1]
    if sr / 2 <= TIMBRE_BAND_HZ:
        return components, sr
    # the 1e-9 keeps a bin at exactly 11025 Hz that float division puts a hair
    # below an integer
    last = int((n_bins - 1) * 2 * TIMBRE_BAND_HZ / sr + 1e-9)
    if last < 1:
        return components, sr
    return components[:, : last + 1], sr * last / (n_bins - 1)


def timbre_band_features(components: NDArray, activations: NDArray, *, sr=22050):
    """The :data:`TIMBRE` features of the components' :func:`timbre_band`:
    what a clusterer object clusters."""
    components, sr = timbre_band(components, sr)
    return FEATURES[TIMBRE](components, activations, sr=sr)


def timbre_agreement(
    components: NDArray,
    activations: NDArray,
    n_sources: int,
    random_state,
    *,
    sr=22050,
    envelope: FeatureFunction | None = None,
) -> NDArray:
    """How often two components go together, shape (n_components,
    n_components): the :func:`coassociation` of the k-means partitions of
    every timbre view (:data:`TIMBRE_VARIANTS` of ``envelope``, by default
    :func:`cepstral_features`, :data:`SHIFT_INVARIANT_VARIANTS` of
    :func:`shift_invariant_features` and :data:`HARMONIC_VARIANTS` of
    :func:`harmonic_profiles`), plus their :func:`same_sound_evidence` (two
    templates heard at the same moments all through are parts of one sound),
    less their :func:`voice_conflicts` (two
    templates sounding together at two pitches at most an octave apart agree
    less the more they sound together) and their :func:`register_conflicts`
    (two templates heard at different places in the ensemble's pitch order,
    one under the others and one over them, agree less). Every view hears
    the components' :func:`timbre_band` only; in each k-means a component
    weighs its :func:`template_weights`."""
    envelope = cepstral_features if envelope is None else envelope
    weights = template_weights(components, activations)  # the whole band's sound
    components, sr = timbre_band(components, sr)
    views = [
        envelope(components, activations, sr=sr, n_mels=n_mels, n_coefficients=n)
        for n_mels, n in TIMBRE_VARIANTS
    ]
    views += [
        shift_invariant_features(components, activations, sr=sr, n_coefficients=n)
        for n in SHIFT_INVARIANT_VARIANTS
    ]
    views += [
        harmonic_profiles(components, activations, sr=sr, n_harmonics=n)
        for n in HARMONIC_VARIANTS
    ]
    # One thread: k-means of ~50 templates is too small to share, and its
    # OpenMP threads cost more than they give (65 ms a k-means with the two
    # cores' threads, 11 ms with one, on this project's machine).
    with threadpool_limits(1):
        partitions = [
            kmeans_labels(view, n_sources, random_state, sample_weight=weights)
            for view in views
        ]
    return (
        coassociation(partitions)
        + same_sound_evidence(activations)
        - voice_conflicts(components, activations, sr=sr)
        - register_conflicts(components, activations, sr=sr)
    )


def timbre_consensus(
    features: FeatureFunction,
    components: NDArray,
    activations: NDArray,
    n_sources,
    random_state,
    *,
    sr=22050,
) -> list[NDArray]:
    """Consensus of the k-means partitions of every timbre view.

    Each view's k-means gives a partition; two components go together as
    often as the partitions agree on it (:func:`timbre_agreement`, with
    ``features`` as the envelope view), and average-linkage clustering of that
    agreement, each component weighing its :func:`template_weights`, gives
    the groups (:func:`consensus_groups`).
    """
    n_components = components.shape[0]
    if n_sources is None or n_components <= n_sources:
        return [np.array([k]) for k in range(n_components)]
    agreement = timbre_agreement(
        components, activations, n_sources, random_state, sr=sr, envelope=features
    )
    return consensus_groups(
        agreement, n_sources, template_weights(components, activations)
    )


def consensus_groups(
    agreement: NDArray, n_sources: int, weights: NDArray | None = None
) -> list[NDArray]:
    """Groups of an agreement matrix: average-linkage clustering of
    ``1 - agreement`` into ``n_sources`` clusters, each component weighing
    ``weights`` (:func:`template_weights`; default: all the same)."""
    if weights is None:
        weights = np.ones(agreement.shape[0])
    labels = weighted_average_linkage(1.0 - agreement, weights, n_sources)
    return groups_of(labels, n_sources)


@feature("timbre", strategy=timbre_consensus)
def cepstral_features(
    components: NDArray,
    activations: NDArray,
    *,
    sr=22050,
    n_mels: int = 128,
    n_coefficients: int = 13,
) -> NDArray:
    """Cepstral coefficients 1 to ``n_coefficients`` of each template's log mel
    spectrum: its spectral envelope, what an instrument sounds like at any
    pitch."""
    filters = mel_filterbank(sr, components.shape[1], n_mels)
    log_mel = np.log(components @ filters.T + _MEL_FLOOR)
    cepstra = scipy.fft.dct(log_mel, axis=1, norm="ortho")
    return cepstra[:, 1 : n_coefficients + 1]


# The pitch-invariant view: log-frequency axis from A1 (55 Hz), 24 bands per
# octave (a quarter tone: a partial moves by whole bands when the pitch moves
# by semitones), log magnitudes floored 60 dB below the peak as in "spectra".
_LOG_FREQUENCY_MIN = 55.0
_BANDS_PER_OCTAVE = 24


def log_frequency_matrix(
    sr: float,
    n_bins: int,
    *,
    fmin: float = _LOG_FREQUENCY_MIN,
    bands_per_octave: int = _BANDS_PER_OCTAVE,
) -> NDArray:
    """Linear interpolation of a spectrum (``n_bins`` bins from 0 to sr/2) at
    log-spaced frequencies from ``fmin`` to sr/2, shape (n_bands, n_bins).

    Interpolation rather than triangular filters: below about 300 Hz a quarter
    tone is narrower than an STFT bin, and a filter narrower than a bin would
    see nothing.
    """
    nyquist = sr / 2
    n_bands = max(int(np.floor(bands_per_octave * np.log2(nyquist / fmin))), 1)
    frequencies = fmin * 2.0 ** (np.arange(n_bands) / bands_per_octave)
    position = np.minimum(frequencies / nyquist, 1.0) * (n_bins - 1)
    below = np.minimum(np.floor(position).astype(np.intp), n_bins - 1)
    above = np.minimum(below + 1, n_bins - 1)
    fraction = position - below
    matrix = np.zeros((n_bands, n_bins))
    bands = np.arange(n_bands)
    matrix[bands, below] = 1.0 - fraction
    matrix[bands, above] += fraction
    return matrix


def shift_invariant_features(
    components: NDArray,
    activations: NDArray,
    *,
    sr=22050,
    n_coefficients: int = 20,
) -> NDArray:
    """Magnitudes of the Fourier transform, along a log-frequency axis, of each
    template's log spectrum (coefficients 1 to ``n_coefficients``),
    L2-normalized.

    On a log-frequency axis a change of pitch is a translation of the whole
    pattern of partials, and the magnitude of a Fourier transform does not
    see translations: two notes of one instrument with the same balance of
    partials (a clarinet's weak even harmonics) get the same features at any
    pitch. The idea of shift-invariant NMF (FitzGerald, Cranitch & Coyle
    2005), applied to the grouping instead of the factorization.
    """
    log_frequency = components @ log_frequency_matrix(sr, components.shape[1]).T
    peaks = np.maximum(log_frequency.max(axis=1, keepdims=True), np.finfo(float).tiny)
    log_spectra = np.log(np.maximum(log_frequency, _LOG_FLOOR * peaks))
    log_spectra -= log_spectra.mean(axis=1, keepdims=True)
    # zero padding to twice the length: a linear, not circular, translation
    spectrum = np.abs(scipy.fft.rfft(log_spectra, n=2 * log_spectra.shape[1], axis=1))
    return _unit_rows(spectrum[:, 1 : n_coefficients + 1])


# The third view: each template's harmonic amplitude profile, the strengths of
# its first partials relative to the strongest, read at multiples of its
# fundamental (the descriptor the literature on instrument timbre starts from:
# a clarinet's weak even partials, a bassoon's weak fundamental). The
# fundamental is the candidate, from 40 Hz in eighth tones up to 2000 Hz
# (1974 Hz, the last step below it), whose first 20 multiples hold the most
# magnitude, the h-th weighted 0.8**(h - 1) (without that decay, 4.81 dB in
# the measurement below: a subharmonic collects as much as the true
# fundamental). With three variants (8, 12, 16
# partials) voting beside the others, the mean over the 11 mixtures of
# bench_quality.py rose over four k-means seeds from 4.87 / 4.72 / 4.77 / 4.84
# to 5.17 / 4.72 / 5.10 / 5.07 dB, none below its floor in any (one or two
# were before); guided mode went from 7.71 to 7.92. Alone it is weak (2.29).
HARMONIC_VARIANTS = (8, 12, 16)
_FUNDAMENTAL_RANGE = (40.0, 2000.0)
_FUNDAMENTAL_STEPS_PER_OCTAVE = 48
_SALIENCE_PARTIALS = 20
_SALIENCE_DECAY = 0.8
# The decay favours the octave above a note whose fundamental is weak (a
# bassoon's, a tuba's), or whose odd partials are its strong ones (a
# clarinet's): its even partials, the upper octave's own, then hold the most
# weighted magnitude. The odd multiples of half the estimate are the partials
# the upper octave cannot have, so where they hold more than this share of the
# estimate's salience (same decay), the note is the octave below. Measured with
# shared templates and power-1 masks (the factorization fixed): the mean SNR
# rose from 5.98 to 6.10 dB over three k-means seeds on bench_quality.py's 11
# dev mixtures, from 5.41 to 5.51 on bench_heldout.py's 24 and from 6.95 to
# 7.36 on 64 recombined mixtures (bench_recombined.py's draw at seeds 12-15);
# a share of 0.2 / 0.4 gave 6.08 / 5.86 (seeds 1 and 2) on the 11 against 6.06
# at 0.3.
_OCTAVE_DOWN_SHARE = 0.3


def _partial_peaks(components: NDArray) -> NDArray:
    """Each bin's magnitude or its neighbours', whichever is largest: a partial
    that falls between two bins is read at its full height."""
    peaks = components.copy()
    np.maximum(peaks[:, 1:], components[:, :-1], out=peaks[:, 1:])
    np.maximum(peaks[:, :-1], components[:, 1:], out=peaks[:, :-1])
    return peaks


def fundamental_frequencies(components: NDArray, *, sr=22050) -> NDArray:
    """Each template's fundamental (Hz): the candidate whose first
    :data:`_SALIENCE_PARTIALS` multiples hold the most magnitude, the h-th
    weighted ``0.8 ** (h - 1)`` (weighted harmonic summation); an octave
    lower where the odd multiples of half of it hold more than
    :data:`_OCTAVE_DOWN_SHARE` of that (weighted the same way) and half of it
    is still in the range."""
    n_bins = components.shape[1]
    bin_hz = sr / (2 * max(n_bins - 1, 1))
    low, high = _FUNDAMENTAL_RANGE
    steps = int(np.log2(high / low) * _FUNDAMENTAL_STEPS_PER_OCTAVE) + 1
    candidates = low * 2.0 ** (np.arange(steps) / _FUNDAMENTAL_STEPS_PER_OCTAVE)
    partials = np.arange(1, _SALIENCE_PARTIALS + 1)
    bins = np.rint(candidates[:, None] * partials / bin_hz).astype(np.intp)
    weights = _SALIENCE_DECAY ** (partials - 1) * (bins < n_bins)
    peaks = _partial_peaks(components)
    # (n_components, n_candidates, n_partials) gathered, then weighted
    salience = (peaks[:, np.minimum(bins, n_bins - 1)] * weights).sum(axis=-1)
    fundamentals = candidates[salience.argmax(axis=1)]
    # the partials of the octave below that the estimate cannot have
    half = fundamentals / 2
    odd_bins = np.rint(half[:, None] * (2 * partials - 1) / bin_hz).astype(np.intp)
    odd_weights = _SALIENCE_DECAY ** (partials - 1) * (odd_bins < n_bins)
    odd = np.take_along_axis(peaks, np.minimum(odd_bins, n_bins - 1), axis=1)
    odd_salience = (odd * odd_weights).sum(axis=1)
    lower = (half >= low) & (odd_salience > _OCTAVE_DOWN_SHARE * salience.max(axis=1))
    return np.where(lower, half, fundamentals)


def harmonic_profiles(
    components: NDArray,
    activations: NDArray,
    *,
    sr=22050,
    n_harmonics: int = 12,
) -> NDArray:
    """Log magnitudes of each template's first ``n_harmonics`` partials (at
    multiples of :func:`fundamental_frequencies`), relative to the strongest
    and floored 60 dB below it; partials past sr/2 are at the floor.

    The balance of partials is what tells instruments apart at any pitch
    (a clarinet's weak even harmonics at every note), and reading it at the
    template's own fundamental makes it independent of pitch.
    """
    n_bins = components.shape[1]
    bin_hz = sr / (2 * max(n_bins - 1, 1))
    fundamentals = fundamental_frequencies(components, sr=sr)
    bins = np.rint(fundamentals[:, None] * np.arange(1, n_harmonics + 1) / bin_hz)
    bins = bins.astype(np.intp)
    amplitudes = np.take_along_axis(
        _partial_peaks(components), np.minimum(bins, n_bins - 1), axis=1
    ) * (bins < n_bins)
    peaks = np.maximum(amplitudes.max(axis=1, keepdims=True), np.finfo(float).tiny)
    return np.log(np.maximum(amplitudes, _LOG_FLOOR * peaks) / peaks)


# A constraint of ensembles of monophonic instruments (voices): one voice
# plays one pitch at a time, so two templates that sound at the same moments at
# two pitches in the same range are two voices. The evidence is the cosine
# similarity of their activations, where their fundamentals differ by more
# than half a semitone (two notes, not two parts of one note) and at most an
# octave (the range of one voice's neighbours; further apart, timbre tells the
# voices apart already). Subtracted from the agreement at full weight (a pair
# always heard together never agrees), it raised the mean over the 11
# mixtures of bench_quality.py over four k-means seeds from 5.17 / 4.72 /
# 5.10 / 5.07 to 5.60 / 5.06 / 5.07 / 5.42 dB, none below its floor: the
# chorales and trio_solointro_bwv270 gain most, and the piano of the trio
# (polyphonic) does not lose (3.9-4.4 dB). Without the octave bound it gave
# 5.24 / 5.06 / 5.32 / 5.26, and there half weight 5.34 / 4.94 / 5.10 / 5.27,
# the frames' overlap instead of the cosine 5.29 / 4.89 / 5.06 / 4.96. With
# the bound: the octave itself left out (an octave error of the fundamental
# is no second note) 5.34 / 4.82 / 5.15 / 5.42; the correlation (centered)
# 5.16 / 5.21 / 5.12 / 5.34, but a duet below 10 dB. Distances are counted in
# fundamental_frequencies' grid steps (eighth tones), so that a gap of exactly
# half a semitone or an octave is on the same side of the bound every time.
_SAME_NOTE_STEPS = _FUNDAMENTAL_STEPS_PER_OCTAVE // 24  # half a semitone
_VOICE_RANGE_STEPS = _FUNDAMENTAL_STEPS_PER_OCTAVE  # an octave


def voice_conflicts(components: NDArray, activations: NDArray, *, sr=22050) -> NDArray:
    """Evidence that two components are two voices, shape (n_components,
    n_components): the cosine similarity of their activations where their
    :func:`fundamental_frequencies` differ by more than half a semitone and at
    most an octave, 0 elsewhere (the diagonal included)."""
    fundamentals = fundamental_frequencies(components, sr=sr)
    steps = np.abs(
        np.rint(
            _FUNDAMENTAL_STEPS_PER_OCTAVE
            * np.log2(fundamentals[:, None] / fundamentals[None])
        )
    )
    two_notes = (steps > _SAME_NOTE_STEPS) & (steps <= _VOICE_RANGE_STEPS)
    time_courses = _unit_rows(activations.T)
    return (time_courses @ time_courses.T) * two_notes


# A second constraint of ensembles of voices: voices keep their order in
# pitch (the bass sounds under the tenor, the tenor under the soprano,
# whatever notes they play), so a template's place among the templates
# sounding at the same moments tells its voice where its pitch alone does not
# (a tenor's high note is above the soprano's low one). The place is the share
# of the other templates' magnitude, in the frames where it sounds, that comes
# from templates whose fundamental is more than half a semitone below its
# own. Two templates' places differ by at most 1, and that difference is
# subtracted from the agreement at full weight, as the voice conflicts are.
# Over four k-means seeds, the mean rose from 5.60 / 5.06 / 5.07 / 5.42 to
# 5.47 / 5.26 / 5.41 / 5.50 dB on the 11 mixtures of bench_quality.py (none
# below its floor; the chorales gain, solointro_bwv108.6 loses 1.2 dB, its
# bassoon's fundamental being too weak for fundamental_frequencies) and from
# 5.54 / 5.20 / 5.31 / 5.41 to 5.95 / 5.88 / 5.94 / 5.99 on the 16 of
# bench_recombined.py. Ordering by the centre of mass of each template's
# spectrum on a log-frequency axis instead of its fundamental gave 5.86 /
# 5.79 / 5.68 / 5.81 on the 11 but no gain on the 16 (5.53 / 5.38 / 5.34 /
# 5.17), and a duet of piccolo and bassoon fell from 7.10 to 2.71 dB, below
# its floor: brightness is not pitch. As k-means views instead (the places
# clustered, their partition voting beside the others) the centre of mass
# gave 5.46 dB mean on the 11 with 3 votes, 5.59 with 5, 5.14 with 8.


def register_places(components: NDArray, activations: NDArray, *, sr=22050) -> NDArray:
    """Each template's place in the ensemble, in [0, 1]: the share of the
    magnitude of the templates sounding with it that comes from templates
    more than half a semitone below it (:func:`fundamental_frequencies`),
    averaged over the frames weighted by how much of it and of the others
    sounds there (0: always the lowest, 1: always the highest; 0 when it
    never sounds with another)."""
    fundamentals = fundamental_frequencies(components, sr=sr)
    steps = np.rint(
        _FUNDAMENTAL_STEPS_PER_OCTAVE
        * np.log2(fundamentals[:, None] / fundamentals[None])
    )
    below = (steps > _SAME_NOTE_STEPS).astype(float)  # below[i, j]: j under i
    above = (steps < -_SAME_NOTE_STEPS).astype(float)
    contribution = activations * components.sum(axis=1)  # (n_frames, n_comp.)
    under = contribution @ below.T
    over = contribution @ above.T
    others = under + over
    weight = contribution * others
    share_under = under / np.maximum(others, np.finfo(float).tiny)
    return (weight * share_under).sum(axis=0) / np.maximum(
        weight.sum(axis=0), np.finfo(float).tiny
    )


def register_conflicts(
    components: NDArray, activations: NDArray, *, sr=22050
) -> NDArray:
    """Evidence that two components are two voices from their places in the
    ensemble's pitch order, shape (n_components, n_components): the absolute
    difference of their :func:`register_places` (0 on the diagonal, at most
    1)."""
    places = register_places(components, activations, sr=sr)
    return np.abs(places[:, None] - places[None])


# Guided grouping: a component is a seed of source k when most of the
# activation it has inside the solo passages lies in source k's (more than
# half), and that is a notable part of all its activation (5%): a template
# heard in one source's solo is that source's sound.
_SEED_MAJORITY = 0.5
_SEED_MIN_SHARE = 0.05


def guided_groups(
    components: NDArray,
    activations: NDArray,
    solo_frames: list,
    *,
    random_state=0,
    sr=22050,
) -> list[NDArray]:
    """Groups of the components given where each source plays alone.

    Components heard in source k's solo frames seed source k; every other
    component joins the source whose seeds it sounds most like: the highest
    mean :func:`timbre_agreement` with them (average linkage to the seeds).
    The seeds stay put: the user's segments outrank timbre. In
    bench_quality.py, on the four solo-intro pieces given their true solo
    bars, this scored 7.07-7.31 dB mean SNR over four k-means seeds, where the
    nearest centroid of one cepstral view scored 6.17 (before the harmonic
    and voice views of the agreement; with them 7.97, blind 7.77; with the
    register conflicts 8.28, blind 6.90).

    Parameters
    ----------
    components : ndarray of shape (n_components, n_bins)
    activations : ndarray of shape (n_frames, n_components)
    solo_frames : list of ndarray of int
        For each source, the rows of ``activations`` where it plays alone.
    random_state : int, default=0
        Seed of the k-means restarts behind the agreement.
    sr : float, default=22050
        Sample rate.

    Returns
    -------
    groups : list of ndarray
        One index array per source, a partition of the components.
    """
    return guided_components(
        components, activations, solo_frames, random_state=random_state, sr=sr
    )[0]


def guided_components(
    components: NDArray,
    activations: NDArray,
    solo_frames: list,
    *,
    random_state=0,
    sr=22050,
    sharing: str = "soft",
) -> tuple[list[NDArray], NDArray | None]:
    """The groups of :func:`guided_groups`, and unless ``sharing="hard"`` each
    component's share of each source: a component heard in the solos (at
    least 5% of its activation there) whole to its source, the others shared
    by their timbre agreement with each group (:func:`shared_memberships`).
    The shares are None with ``"hard"``, or when every component is a seed.
    Those shared components can still sound a little in a solo (less than 5%
    of their activation lies in the solos), and lend that to other sources.

    Given their true solo bars, the ten solo-intro pieces of
    bench_heldout.py score 5.61 dB with shares and 5.25 without, below their
    blind separation's 5.47; the four of bench_quality.py 9.07 with shares,
    9.22 without (blind 7.67). With the shares weighed at each frame
    (``sharing="voices"``): 5.72 against blind 5.65, and 9.27 against 7.93.
    """
    n_sources = len(solo_frames)
    n_components = components.shape[0]
    if n_components == 0:  # a silent mixture: every source is silent
        return [np.array([], dtype=np.intp) for _ in range(n_sources)], None
    total = np.maximum(activations.sum(axis=0), np.finfo(np.float64).tiny)
    share = np.stack([activations[frames].sum(axis=0) for frames in solo_frames])
    share /= total  # (n_sources, n_components): part of each one's activation
    in_solos = share.sum(axis=0)
    owner = share.argmax(axis=0)
    seeded = (share.max(axis=0) > _SEED_MAJORITY * in_solos) & (
        in_solos > _SEED_MIN_SHARE
    )
    for k in set(range(n_sources)) - set(owner[seeded].tolist()):
        # a source without a seed takes the free component most heard in its solo
        free = np.flatnonzero(~seeded)
        if free.size:
            best = free[share[k, free].argmax()]
            owner[best], seeded[best] = k, True
    if seeded.all() or n_components <= n_sources:
        return [np.flatnonzero(owner == k) for k in range(n_sources)], None
    agreement = timbre_agreement(
        components, activations, n_sources, random_state, sr=sr
    )
    seeds = owner[None, :] == np.arange(n_sources)[:, None]
    seeds &= seeded[None, :]  # (n_sources, n_components)
    # mean agreement of every component with each source's seeds; a source
    # left without seeds takes no one (not reached today: every source gets a
    # seed above, or all components are seeds; -inf, as the agreement less its
    # voice and register conflicts goes down to -2)
    likeness = (seeds @ agreement) / np.maximum(seeds.sum(axis=1, keepdims=True), 1)
    likeness[~seeds.any(axis=1)] = -np.inf
    labels = np.where(seeded, owner, likeness.argmax(axis=0))
    groups = [np.flatnonzero(labels == k) for k in range(n_sources)]
    if sharing == "hard":
        return groups, None
    memberships = shared_memberships(agreement, groups)
    heard = seeded | (in_solos > _SEED_MIN_SHARE)
    memberships[heard] = np.eye(n_sources)[labels[heard]]  # the solos decide
    return groups, memberships


# Blind solo anchoring (solo_segments="auto"): a frame one component explains
# on its own is a frame where one monophonic voice plays one note, i.e. where
# that voice plays alone. In bench_quality.py, a top component's share of at
# least 0.8 of a frame's modelled magnitude picked 120-231 frames of the true
# solo bars of each solo-intro piece and 0-5 frames outside them (0-3 frames
# on the pieces without solos). Low voices, whose notes the NMF splits between
# components, rarely reach 0.8 (0 frames of the bassoon in
# solointro_bwv108.6), so a stretch grows from such a frame through its
# neighbours while the top share stays above 0.5 (29 bassoon frames). The mean
# SNR was the same with a minimum solo per source of 0.25 or 0.5 s and with
# 0.5 or 0.6 as the growing share.
SOLO_SEED_SHARE = 0.8
SOLO_GROW_SHARE = 0.5
# Every source needs this much solo (seconds) for the anchoring to be used;
# otherwise the blind groups are kept.
SOLO_MIN_SECONDS = 0.25
# Frames quieter than this fraction of the loud ones (95th percentile of the
# modelled magnitude) are never solos: a decaying tail is one component alone.
_SOLO_AUDIBLE = 0.05


def found_solo_frames(
    components: NDArray,
    activations: NDArray,
    groups: list,
    *,
    n_channels: int = 1,
    frame_seconds: float,
) -> list[NDArray] | None:
    """Where each source plays alone, found in a blind factorization.

    A frame whose modelled magnitude comes for at least
    :data:`SOLO_SEED_SHARE` from one component is a solo; the stretch around
    it grows through the neighbouring frames whose top component keeps at
    least :data:`SOLO_GROW_SHARE`. Each solo frame belongs to the group of its
    top component.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_bins)
    activations : ndarray of shape (n_channels * n_frames, n_components)
        Every channel's frames stacked, as the separator factorizes them.
    groups : list of ndarray
        The blind grouping of the components into sources.
    n_channels : int, default=1
        Channels stacked in ``activations``: stretches never cross from one
        channel into the next.
    frame_seconds : float
        Time between frames (the hop), in seconds.

    Returns
    -------
    solo_frames : list of ndarray of int, or None
        For each group, the rows of ``activations`` where it plays alone;
        None when a group has less than :data:`SOLO_MIN_SECONDS` of solo (then
        the anchoring is not used).
    """
    contribution = activations * components.sum(axis=1)
    total = contribution.sum(axis=1)
    top = contribution.argmax(axis=1)
    share = contribution.max(axis=1) / np.maximum(total, np.finfo(total.dtype).tiny)
    loud = np.percentile(total, 95) if total.size else 0.0
    audible = (total > _SOLO_AUDIBLE * loud) & (total > 0)
    seeds = ((share >= SOLO_SEED_SHARE) & audible).reshape(n_channels, -1)
    grown = ((share >= SOLO_GROW_SHARE) & audible).reshape(n_channels, -1)
    # number the stretches (runs of grown frames) along time, one channel at a
    # time, and keep those that hold a seed
    starts = grown.copy()
    starts[:, 1:] &= ~grown[:, :-1]
    stretches = np.where(grown, np.cumsum(starts).reshape(grown.shape), 0)
    kept = np.unique(stretches[seeds])
    solo = np.isin(stretches, kept[kept > 0]).ravel()
    owner = np.full(components.shape[0], -1)
    for k, group in enumerate(groups):
        owner[group] = k
    n_frames = seeds.shape[1]
    needed = SOLO_MIN_SECONDS / frame_seconds
    solo_frames = []
    for k in range(len(groups)):
        rows = np.flatnonzero(solo & (owner[top] == k))
        if np.unique(rows % max(n_frames, 1)).size < needed:
            return None
        solo_frames.append(rows)
    return solo_frames


# Shared components. A template of an NMF of music is often not one
# instrument's alone: where voices move together (a chorale) it holds a chord,
# or the common partials of two voices an octave apart, and given whole to one
# source it takes those partials from the others. So each template's model is
# shared among the sources, in proportion to exp(SHARING_SHARPNESS x its mean
# timbre agreement with the templates of each group); its own group counts at
# its best agreement with any group, so the group the consensus chose keeps
# the largest share and another gets a notable one only where the template
# agrees with it nearly as much (0.2 less agreement, three of the fifteen
# timbre views, is a factor e ** -1). With soft masks of power 1, shared
# templates raise the mean SNR of bench_quality.py's 11 dev mixtures from
# 5.68 to 6.13 dB (5.44 with whole templates and power 0.5, the defaults
# before), of bench_heldout.py's 24 held-out mixtures from 5.19 to 5.62 (4.98;
# mixtures below their floor from 2 to 0) and of bench_recombined.py's 16 from
# 6.20 (power 0.5) to 6.91. In the grouping alone (the factorization fixed),
# sharpness 4 / 5 / 7 gave 5.95 / 6.09 / 6.17 dB on the 11 (two k-means seeds)
# and 5.50 / 5.51 / 5.45 on the 24 (3 and 10, before the octave check of
# fundamental_frequencies, 5.48 and 6.06 on the 11, 5.31 and 5.20 on the 24);
# the plain softmax (the own group not raised), at 10, gave 6.15 on the 11
# but lost 0.4 dB to whole templates on 64 recombined mixtures: the mean
# agreement then overrules the consensus for 4% of the energy, wrongly for 70%
# of it there.
SHARING_SHARPNESS = 5.0


def shared_memberships(
    agreement: NDArray, groups: list, *, sharpness: float = SHARING_SHARPNESS
) -> NDArray:
    """Each component's share of each source, shape (n_components,
    n_sources), rows summing to one.

    A component's share of source k is proportional to ``exp(sharpness *
    likeness_k)``, ``likeness_k`` its mean ``agreement`` with the other
    components of group k (alone in its group, its agreement with itself).
    Its own group's likeness is raised to its largest, so that its group keeps
    the largest share: tied with any group it agrees with more, which shares
    evenly with it at any sharpness. An empty group (a silent source) gets
    none.

    Parameters
    ----------
    agreement : ndarray of shape (n_components, n_components)
        How much two components belong together (:func:`timbre_agreement`).
    groups : list of ndarray
        The partition of the components into sources.
    sharpness : float, default=SHARING_SHARPNESS
        How fast a share falls with the likeness; ``inf`` gives each component
        whole to its group (but for those ties).
    """
    n_components = agreement.shape[0]
    own = np.zeros((n_components, len(groups)))
    for k, group in enumerate(groups):
        own[group, k] = 1.0
    others = agreement - np.diag(np.diag(agreement))  # itself says nothing
    sizes = own.sum(axis=0) - own  # the group's members other than itself
    with np.errstate(invalid="ignore", divide="ignore"):
        likeness = np.where(sizes > 0, (others @ own) / sizes, -np.inf)
    alone = (own > 0) & (sizes == 0)
    likeness[alone] = np.diag(agreement)[np.flatnonzero(alone.any(axis=1))]
    best = likeness.max(axis=1, keepdims=True)
    gap = np.where(own > 0, 0.0, likeness - best)  # -inf for an empty group
    with np.errstate(invalid="ignore"):  # inf * 0 and 0 * -inf, both replaced
        shares = np.exp(np.where(gap == 0, 0.0, sharpness * gap))
    shares[np.isneginf(gap)] = 0.0
    return shares / shares.sum(axis=1, keepdims=True)


# Shares that follow the music (sharing="voices", the default): each source
# is a voice, one note at a time, so a component shared between sources (one
# note's template that two instruments both play, a chord of two voices)
# belongs, at a given frame, less to a source busy there with another note.
# How busy is what ``_masks.frame_shares`` weighs, frame by frame; which
# components are another note is :func:`note_rivals`.


def note_rivals(components: NDArray, activations: NDArray, *, sr=22050) -> NDArray:
    """Which components are other notes than each other, shape
    (n_components, n_components): 1.0 where their
    :func:`fundamental_frequencies` lie more than half a semitone apart and
    they are not parts of one sound (no :func:`same_sound_evidence`: a note's
    upper partials, a template whose fundamental is misread, start and stop
    with the note and are no rival of it); 0.0 elsewhere, the diagonal
    included."""
    fundamentals = fundamental_frequencies(components, sr=sr)
    steps = np.abs(
        np.rint(
            _FUNDAMENTAL_STEPS_PER_OCTAVE
            * np.log2(fundamentals[:, None] / fundamentals[None])
        )
    )
    two_notes = steps > _SAME_NOTE_STEPS
    return (two_notes & (same_sound_evidence(activations) == 0)).astype(float)


# The "patterns" grouping fits the components' summed model (activations @
# components) with a KL-NMF of rank n_sources (scikit-learn's, multiplicative
# updates, NNDSVDa start) and gives each component to the pattern that takes
# most of its model. The fit runs on bands: each STFT bin below 1 kHz alone,
# quarter-tone bands (sums of bins) above. That keeps the low partials that
# tell notes apart and cuts the fit's cost about six-fold (1025 bins -> 177
# bands at n_fft=2048, 22050 Hz); on the seed mixture the groups score 7.25
# dB against 7.20 on every bin (a log-frequency resampling that drops bins
# instead of summing them scored 4.70).
_PATTERN_BANDS_FROM_HZ = 1000.0
_PATTERN_BANDS_PER_OCTAVE = 24
# "auto" uses the patterns when n_sources of them leave less than a quarter of
# what one pattern leaves unexplained (KL divergence; the best single pattern
# of a KL fit is the product of the model's frame and band sums): each source
# is then one sound repeated (one note, one chord, one drum), and telling
# sources apart by timbre would merge those of one instrument. Measured on the
# rank-50 models: the seed mixture, whose seven sources are three pianos,
# three clarinets and strings each repeating one pattern, leaves 0.14 (its
# patterns grouping 7.25 dB against 4.71 for "timbre"); the 10 other dev
# mixtures, 24 held-out (bench_heldout.py) and 16 recombined
# (bench_recombined.py), whose voices play melodies, leave 0.36 to 0.78, and
# their patterns grouping scores below the floor.
PATTERN_UNEXPLAINED = 0.25


def _band_sums(sr: float, n_bins: int) -> NDArray:
    """Bins summed into bands (``_PATTERN_BANDS_FROM_HZ``), shape (n_bands,
    n_bins): each bin in exactly one band."""
    frequencies = np.linspace(0.0, sr / 2, n_bins)
    low = frequencies < _PATTERN_BANDS_FROM_HZ
    octaves = np.log2(
        np.maximum(frequencies, _PATTERN_BANDS_FROM_HZ) / _PATTERN_BANDS_FROM_HZ
    )
    band = np.where(
        low,
        np.arange(n_bins),
        low.sum() + np.floor(_PATTERN_BANDS_PER_OCTAVE * octaves),
    )
    band = np.unique(band, return_inverse=True)[1]
    sums = np.zeros((band.max() + 1, n_bins))
    sums[band, np.arange(n_bins)] = 1.0
    return sums


def pattern_fit(
    components: NDArray, activations: NDArray, n_sources: int, *, sr=22050
) -> tuple[list[NDArray], float]:
    """Groups of the components by a KL-NMF of rank ``n_sources`` of their
    summed model, and the share of the rank-one misfit that fit leaves.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_bins)
    activations : ndarray of shape (n_frames, n_components)
    n_sources : int
        The rank of the fit: one pattern per source.
    sr : float, default=22050
        Sample rate of the audio behind ``components``.

    Returns
    -------
    groups : list of ndarray
        Each component in the group of the pattern whose Wiener share of its
        model is the largest (a group may be empty).
    unexplained : float
        The KL divergence of the rank-``n_sources`` fit over that of the best
        rank-one fit, in [0, 1]: 0 where the patterns explain the model
        exactly, 1 where they do no better than one pattern (and for a model
        that one pattern already explains to rounding, or an empty one).
    """
    n_components = components.shape[0]
    # float64: the fit is small (frames x ~180 bands), and its Wiener shares
    # divide by models that float32 would round to zero
    activations = activations.astype(np.float64)
    band_components = (
        components.astype(np.float64) @ _band_sums(sr, components.shape[1]).T
    )
    model = activations @ band_components
    total = model.sum()
    if total == 0:  # nothing to explain: one group, no better than one pattern
        return groups_of(np.zeros(n_components, int), n_sources), 1.0
    # unit mean: scikit-learn's updates clip the model at an absolute epsilon,
    # which would make the fit depend on the recording's level; the ratio and
    # the shares do not change with the scale
    scale = total / model.size
    model /= scale
    band_components /= scale
    nmf = SklearnNMF(
        n_sources,
        beta_loss="kullback-leibler",
        solver="mu",
        # NNDSVDa needs n_sources <= min(frames, bands): a few frames only
        init="nndsvda" if n_sources <= min(model.shape) else "random",
        max_iter=200,
        random_state=0,
    )
    # One thread, as for the k-means of timbre_agreement: on this project's
    # machine 0.11-0.16 s a fit against 0.15-0.22 s with the two cores' threads
    with warnings.catch_warnings(), threadpool_limits(1):
        # a criterion, not a result: 200 updates are enough to rank the fits
        warnings.simplefilter("ignore", ConvergenceWarning)
        pattern_activations = nmf.fit_transform(model)
    patterns = nmf.components_
    # each pattern's Wiener share of each component's model, summed over the
    # frames and bands: a loop over the few patterns, each step vectorized
    fitted = pattern_activations @ patterns
    inverse = np.divide(1.0, fitted, out=np.zeros_like(fitted), where=fitted > 0)
    shares = np.stack(
        [
            (
                pattern_activations[:, k, None]
                * activations
                * ((patterns[k] * inverse) @ band_components.T)
            ).sum(axis=0)
            for k in range(n_sources)
        ],
        axis=1,
    )
    groups = groups_of(shares.argmax(axis=1), n_sources)
    one_pattern = np.outer(model.sum(axis=1), model.sum(axis=0)) / model.sum()
    one_misfit = scipy.special.kl_div(model, one_pattern).sum()
    if one_misfit <= 1e-9 * model.sum():
        # one pattern explains it to rounding: the ratio would be noise
        return groups, 1.0
    misfit = scipy.special.kl_div(model, fitted).sum()
    return groups, float(min(misfit / one_misfit, 1.0))


def pattern_groups(
    components: NDArray, activations: NDArray, n_sources, random_state, *, sr=22050
) -> list[NDArray]:
    """The ``"patterns"`` grouping: :func:`pattern_fit`'s groups (the
    ``random_state`` is not used: the fit starts from NNDSVDa, or from a fixed
    random start where there are fewer frames than sources)."""
    n_components = components.shape[0]
    if n_sources is None or n_components <= n_sources:
        return [np.array([k]) for k in range(n_components)]
    if n_sources == 1:
        return [np.arange(n_components)]
    return pattern_fit(components, activations, n_sources, sr=sr)[0]


def explained_by_patterns(
    components: NDArray, activations: NDArray, n_sources, *, sr=22050
) -> list[NDArray] | None:
    """:func:`pattern_fit`'s groups where its patterns leave less than
    :data:`PATTERN_UNEXPLAINED` and none of them is empty (an empty group is
    a source that is not one sound repeated, but none), else None."""
    n_components = components.shape[0]
    if n_sources in (None, 1) or n_components <= n_sources:
        return None
    groups, unexplained = pattern_fit(components, activations, n_sources, sr=sr)
    if unexplained >= PATTERN_UNEXPLAINED or any(g.size == 0 for g in groups):
        return None
    return groups


def auto_groups(
    components: NDArray, activations: NDArray, n_sources, random_state, *, sr=22050
) -> list[NDArray]:
    """The ``"auto"`` grouping: ``"patterns"`` where n_sources patterns explain
    the components' model (:func:`explained_by_patterns`), else
    ``"timbre"``."""
    groups = explained_by_patterns(components, activations, n_sources, sr=sr)
    if groups is not None:
        return groups
    return GROUPINGS[TIMBRE](components, activations, n_sources, random_state, sr=sr)


GROUPINGS["patterns"] = pattern_groups
GROUPINGS["auto"] = auto_groups


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
    components: NDArray,
    activations: NDArray,
    n_sources,
    grouping,
    random_state,
    *,
    sr: float = 22050,
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
        features of :data:`TIMBRE` in the :func:`timbre_band` (see
        :func:`clusterer_labels`).
    random_state : int
        Seed of the k-means restarts.
    sr : float, default=22050
        Sample rate of the audio behind ``components`` (``n_bins`` bins from 0
        to ``sr / 2``).
    """
    if isinstance(grouping, str):
        strategy = GROUPINGS[grouping]
    else:
        strategy = partial(
            clustered,
            timbre_band_features,
            labels=partial(clusterer_labels, grouping),
        )
    return strategy(components, activations, n_sources, random_state, sr=sr)


# How the separator gives component models to sources: ``"soft"`` shares them
# (:func:`shared_memberships`), ``"voices"`` shares them too and weighs each
# share, frame by frame, by how busy the source is with other notes there
# (:func:`note_rivals`, ``_masks.frame_shares``), ``"hard"`` gives each whole
# to its group.
VOICES = "voices"
SHARINGS = (VOICES, "soft", "hard")
DEFAULT_SHARING = VOICES


class Grouped(NamedTuple):
    """What :func:`grouped_components` found."""

    groups: list[NDArray]
    # each component's share of each source, or None (whole components)
    memberships: NDArray | None
    # the strategy that made the groups: a name of GROUPINGS ("patterns" or
    # "timbre" where "auto" was asked) or the clusterer; None where no
    # grouping was needed (no n_sources, or no more components than sources)
    grouping: object


def grouped_components(
    components: NDArray,
    activations: NDArray,
    n_sources,
    grouping,
    random_state,
    *,
    sr: float = 22050,
    sharing: str = "soft",
) -> Grouped:
    """The groups of :func:`group_components`, and unless ``sharing="hard"``
    each component's share of each source (:func:`shared_memberships` of the
    :func:`timbre_agreement`, whatever ``grouping`` made the groups); the
    shares are None with ``"hard"``, for a single source, with no more
    components than sources (each is its own source), and for groups of
    patterns (``"patterns"``, or ``"auto"`` choosing them: their sources are
    told apart by pitch, not timbre, and timbre shares would mix them)."""
    n_components = components.shape[0]
    if n_sources is None or n_components <= n_sources:
        groups = [np.array([k]) for k in range(n_components)]
        return Grouped(groups, None, None)
    if isinstance(grouping, str) and grouping == "auto":
        groups = explained_by_patterns(components, activations, n_sources, sr=sr)
        if groups is not None:
            return Grouped(groups, None, "patterns")
        grouping = TIMBRE
    if (
        sharing == "hard"
        or n_sources == 1
        or (isinstance(grouping, str) and grouping == "patterns")
    ):
        groups = group_components(
            components, activations, n_sources, grouping, random_state, sr=sr
        )
        return Grouped(groups, None, grouping)
    agreement = timbre_agreement(
        components, activations, n_sources, random_state, sr=sr
    )
    if isinstance(grouping, str) and grouping == TIMBRE:
        # the same agreement
        groups = consensus_groups(
            agreement, n_sources, template_weights(components, activations)
        )
    else:
        groups = group_components(
            components, activations, n_sources, grouping, random_state, sr=sr
        )
    return Grouped(groups, shared_memberships(agreement, groups), grouping)


def check_solo_segments(solo_segments, n_sources) -> list[list[tuple]]:
    """``solo_segments`` as lists of (start, end) float pairs, one list per
    source; a ValueError naming the segment for anything else.

    Checked here, before any audio is seen: the shape, each segment's order
    (start >= 0, end > start), one list per source (``n_sources``, if given),
    and that no two sources play alone at the same time.
    """
    try:
        lists = [list(segments) for segments in solo_segments]
    except TypeError:
        raise ValueError(
            "solo_segments must be a list with one list of (start, end) "
            f"segments in seconds per source; got {solo_segments!r}."
        ) from None
    if n_sources is not None and len(lists) != n_sources:
        raise ValueError(
            f"solo_segments names {len(lists)} sources but n_sources is "
            f"{n_sources}: give one list of solo segments per source."
        )
    checked = []
    for k, segments in enumerate(lists):
        if not segments:
            raise ValueError(
                f"solo_segments[{k}] is empty: source {k} needs at least one "
                "(start, end) segment where it plays alone."
            )
        pairs = []
        for i, segment in enumerate(segments):
            where = f"solo_segments[{k}][{i}] = {segment!r}"
            try:
                start, end = (float(t) for t in segment)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where} is not a (start, end) pair of seconds."
                ) from None
            if not (np.isfinite(start) and np.isfinite(end)):
                raise ValueError(f"{where} is not finite.")
            if start < 0 or end <= start:
                raise ValueError(
                    f"{where} must satisfy 0 <= start < end (seconds): it is "
                    "empty or starts before the recording."
                )
            pairs.append((start, end))
        checked.append(pairs)
    # sweep in order of start, against the segment reaching furthest so far:
    # if a segment overlaps an earlier one of another source, it overlaps that
    # one (or an earlier overlap was found already)
    ordered = sorted(
        (start, end, k, i)
        for k, pairs in enumerate(checked)
        for i, (start, end) in enumerate(pairs)
    )
    furthest = ordered[0]
    for current in ordered[1:]:
        if current[0] < furthest[1] and current[2] != furthest[2]:
            (s1, e1, k1, i1), (s2, e2, k2, i2) = furthest, current
            raise ValueError(
                f"solo_segments[{k1}][{i1}] = {(s1, e1)} and solo_segments[{k2}]"
                f"[{i2}] = {(s2, e2)} overlap: two sources cannot both play alone "
                "at the same time."
            )
        if current[1] > furthest[1]:
            furthest = current
    return checked


def solo_frame_indices(segments, frame_times, n_channels, duration) -> list[NDArray]:
    """Rows of the activations (every channel's frames stacked) whose frame
    centres lie in each source's segments; a ValueError naming a segment that
    ends after the recording or holds no frame."""
    n_frames = frame_times.size
    indices = []
    for k, pairs in enumerate(segments):
        inside = np.zeros(n_frames, dtype=bool)
        for i, (start, end) in enumerate(pairs):
            where = f"solo_segments[{k}][{i}] = {(start, end)}"
            if end > duration:
                raise ValueError(
                    f"{where} ends after the recording ({duration:.3f} s)."
                )
            frames = (frame_times >= start) & (frame_times <= end)
            if not frames.any():
                raise ValueError(
                    f"{where} holds no STFT frame (frames are "
                    f"{frame_times[1] - frame_times[0] if n_frames > 1 else 0:.3f} s "
                    "apart): make it longer."
                )
            inside |= frames
        rows = np.flatnonzero(inside)
        indices.append(
            (rows[None, :] + n_frames * np.arange(n_channels)[:, None]).ravel()
        )
    return indices
