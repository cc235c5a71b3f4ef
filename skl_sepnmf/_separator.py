"""SpectrogramSeparator: waveforms in, one waveform per source out."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._grouping import (
    DEFAULT_GROUPING,
    DEFAULT_SHARING,
    GROUPINGS,
    RENAMED,
    SHARINGS,
    VOICES,
    check_solo_segments,
    found_solo_frames,
    grouped_components,
    guided_components,
    note_rivals,
    resolve,
    solo_frame_indices,
)
from ._masks import MASKS, NOTEBOOK_MASK
from ._nmf import NMF, solo_refined
from ._nnls import nnls_activations
from ._separable import SNPA
from ._spectral import (
    InverseSTFT,
    MaskedSources,
    MixtureSTFT,
    STFTConfig,
    default_n_fft,
)
from .metrics import snr_scorer

# Rank of the default estimator when n_sources is not given.
DEFAULT_N_COMPONENTS = 8
# With n_sources, the default estimator: a KL-NMF of rank 50, well above the
# number of sources, whose templates the timbre grouping gathers into sources
# (benchmarks/results/quality.md: the best blind configuration measured).
DEFAULT_RANK = 50


def default_nmf(n_components: int = DEFAULT_RANK) -> NMF:
    """The separator's factorization with ``n_sources``: KL-NMF (multiplicative
    updates, NNDSVDa start, 200 iterations, seeded)."""
    return NMF(
        n_components,
        beta_loss="kullback-leibler",
        solver="mu",
        init="nndsvda",
        max_iter=200,
        random_state=0,
    )


class Separation(NamedTuple):
    """One mixture's separation: :meth:`SpectrogramSeparator.separate`."""

    estimator: object
    activations: np.ndarray
    groups: list
    n_sources: int
    sources: Iterator[np.ndarray]
    stft: STFTConfig
    # each source's solo rows of the activations that guided the separation
    # (named, or found with solo_segments="auto"); None for a blind one
    solo_frames: list | None = None
    # each component's share of each source, (n_components, n_sources), with
    # sharing="soft" or "voices" (the same at every frame: "voices" weighs them
    # frame by frame when it masks); None where each component is given whole
    # to its group
    memberships: np.ndarray | None = None
    # what made the groups: a grouping name (what "auto" chose), a clusterer,
    # "solos" (guided), "recordings" (trained on solo recordings), or None
    grouping: object = None


def _is_auto(solo_segments) -> bool:
    return isinstance(solo_segments, str) and solo_segments == "auto"


def _check_waveforms(X) -> list[np.ndarray]:
    """Mixtures as a list of float arrays (n_times,) or (n_channels, n_times)."""
    if isinstance(X, (list, tuple)) and len({np.shape(x) for x in X}) > 1:
        waveforms = [
            check_array(
                x,
                ensure_2d=False,
                allow_nd=True,
                dtype=[np.float64, np.float32],
                input_name=f"X[{i}]",
            )
            for i, x in enumerate(X)
        ]
        for i, y in enumerate(waveforms):
            if y.ndim not in (1, 2):
                raise ValueError(
                    f"X[{i}] must be a waveform (n_times,) or (n_channels, n_times); "
                    f"got shape {y.shape}."
                )
        return waveforms
    X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32])
    if X.ndim not in (2, 3):
        raise ValueError(
            "X must have shape (n_mixtures, n_times) or (n_mixtures, n_channels, "
            f"n_times), or be a list of waveforms; got shape {X.shape}."
        )
    return list(X)


class SpectrogramSeparator(TransformerMixin, BaseEstimator):
    """Separate mixtures into sources with a nonnegative factorization.

    Waveform -> STFT -> magnitude frames ``X = |STFT|.T`` -> ``estimator``
    (components = spectral templates, activations over time) -> one model
    spectrogram per component (or per group of components) -> masks on the
    mixture STFT -> inverse STFT. Any scikit-learn transformer with
    ``components_`` fits: :class:`SNPA`, :class:`GreedySNPA`, :class:`NMF`.

    Parameters
    ----------
    estimator : estimator, default=None
        The factorization, cloned before use. ``None`` means, with
        ``n_sources`` (or ``solo_segments``), a KL-NMF of rank 50
        (multiplicative updates, NNDSVDa start, 200
        iterations, at most one component per frame), whose templates
        ``grouping`` gathers into the sources: the best blind configuration of
        ``benchmarks/bench_quality.py``, with ``sharing="voices"`` and
        ``power=1`` (mean SNR 6.71 dB over the 11 dev mixtures, 6.65-7.00
        over four k-means seeds: floor 1.32 dB, ideal ratio mask 12.06 dB,
        nussl's TimbreClustering 3.18 dB; 5.89 dB on the 24 held-out
        mixtures of ``bench_heldout.py``, floor 1.58 dB). Without
        ``n_sources``: ``SNPA(n_components=8)``, one output per selected frame.
        Its parameters are searchable as ``estimator__n_components`` and so
        on: setting one while ``estimator`` is None first replaces None by
        that default (:func:`default_nmf` with ``n_sources``, else
        ``SNPA(n_components=8)``), so ``GridSearchCV`` can search them.

    n_fft : int, default=None
        FFT size in samples. Longer windows resolve close partials better and
        smear onsets more. ``None`` keeps librosa's 93 ms (2048 samples at
        22050 Hz) at any rate: the power of two closest to it at ``sr``,
        2048 at 16000-22050 Hz, 4096 at 32000-48000 Hz (on a log scale). A
        window fixed in samples halves in time at 44.1 kHz, and separates
        worse: on the held-out pieces rendered at 44.1 kHz, 4.79 dB mean SNR
        with 2048 samples, 5.84 with 4096 (floor 1.57; 5.77 at 22050 Hz with
        2048; bench_robustness.py).

    hop_length : int, default=None
        Samples between frames, at most ``win_length`` (longer hops leave
        samples in no frame); ``None`` is ``win_length // 4``, at least 1.

    win_length : int, default=None
        Window length; ``None`` is ``n_fft``.

    window : str, tuple, number or array, default="hann"
        Window, as :func:`librosa.stft` takes it.

    center : bool, default=True
        Pad the signal so that frame ``t`` is centered at ``t * hop_length``.
        With ``False`` (or a long hop: from 0.4 ``win_length`` with a Hann
        window) some samples, the first or last ones above all, lie under the
        windows' tails only (their overlap-added window weight is below a
        hundredth of its mean): each source gets an equal share of the mixture
        there, not the inverse STFT, which divides by that weight and would
        amplify a masked spectrum thousands of times (see the troubleshooting
        guide).

    mask : {"soft", "binary"} or None, default="soft"
        How a source is cut out of the mixture. ``"soft"``: ratio (Wiener-like)
        mask ``V_k^p / sum_j V_j^p`` on the mixture STFT, so the sources sum to
        the mixture. ``"binary"``: each time-frequency bin goes to the source
        with the largest model. ``None``: the notebook's method, the model
        magnitude ``V_k`` itself with the mixture's phase. The names are the
        keys of ``skl_sepnmf._masks.MASKS``, whose ``"none"`` is ``None`` here.

    power : float, default=1.0
        Exponent ``p`` of the soft mask: 1 is the ratio of the models, 2 the
        Wiener filter on magnitudes; below 1 the masks are gentler, each bin
        shared more evenly. Shared components (``sharing="soft"`` or
        ``"voices"``) already hedge where the grouping is unsure, and want the
        plain ratio: with them, power 1 beat 0.5 by 1.1 dB on the 11 dev
        mixtures of bench_quality.py (6.94 against 5.81 dB; 6.65 against 5.53
        with the same shares at every frame) and by 0.6 dB on the 24
        held-out mixtures of bench_heldout.py (the factorization fixed);
        whole components (``sharing="hard"``, the defaults before) were
        chosen at 0.5.

    phase : {"mixture", "griffinlim"}, default="mixture"
        Phase of the sources: the mixture's, or Griffin-Lim's estimate from the
        masked magnitude (``n_iter`` iterations, random start from
        ``random_state``).

    n_iter : int, default=32
        Griffin-Lim iterations.

    n_sources : int, default=None
        Group the components into this many sources (``grouping``); ``None``
        gives one source per component.

    grouping : {"auto", "timbre", "patterns", "spectra", "activations", \
"recordings"} or clusterer, default="auto"
        How components are grouped into sources (the names are
        ``skl_sepnmf._grouping.GROUPINGS``, plus ``"recordings"``).
        ``"auto"`` is ``"patterns"`` where ``n_sources`` patterns leave less
        than a quarter of what one pattern leaves unexplained of the
        templates' summed model (each source one sound repeated: the seed
        mixture's pianos and clarinets, 7.25 dB against 4.71 with
        ``"timbre"`` in bench_quality.py), else ``"timbre"``.
        ``"patterns"`` fits that model with a KL-NMF of rank ``n_sources``
        and gives each template, whole, to the pattern that takes most of it
        (``skl_sepnmf._grouping.pattern_fit``).
        ``"timbre"`` clusters the templates by what does not move with pitch:
        k-means over nine (mel bands, coefficients) variants of their spectral
        envelope (cepstral coefficients of the log mel spectrum, MFCC), three
        of a pitch-invariant view of their partials (the Fourier magnitude of
        the log spectrum along log frequency) and three of their harmonic
        amplitude profiles (the first 8, 12, 16 partials relative to the
        strongest, at each template's fundamental); then the consensus of
        those fifteen partitions (average linkage on how often two templates
        are put together, less how often they sound together at two pitches
        within an octave, one voice playing one note at a time, and less how
        far apart their places in the ensemble's pitch order are, voices
        keeping their order; each template weighs the square root of its
        model's magnitude in every k-means and in the linkage, so that faint
        templates neither make a source of their own nor bridge two). These
        views hear the band from 0 to 11025 Hz
        at any rate (``skl_sepnmf._grouping.TIMBRE_BAND_HZ``): above it a
        recording may hold next to nothing (resampled up, lossy-coded), and
        the logarithm of an empty band is noise (on the dev mixtures resampled
        to 44.1 kHz, 6.61 dB against 5.83 with the whole band; floor 1.32).
        ``"spectra"``
        clusters the templates by what they sound like, pitch included
        (k-means on centered, normalized log spectra floored 60 dB below each
        peak),
        ``"activations"`` by when they sound (k-means on normalized activation
        time courses). ``"recordings"`` (only with ``blind=False``): ``fit``
        takes one solo recording per source, factorizes each on its own, and
        the templates of recording k make source k. A scikit-learn clusterer
        (an object with ``fit_predict``, e.g.
        ``AgglomerativeClustering(linkage="average", metric="cosine")``) is
        cloned, its ``n_clusters`` set to ``n_sources`` when it has that
        parameter, and fitted on the ``"timbre"`` features of the templates
        (one variant: 13 coefficients of 128 mel bands, 0-11025 Hz);
        its own ``random_state`` is kept. A clusterer that chooses its number
        of clusters (e.g. DBSCAN) gives one source per cluster found, and
        silent sources up to ``n_sources``.

        .. deprecated:: 0.2
            ``"kmeans"`` is ``"spectra"``; it will be removed in 0.3.

    sharing : {"voices", "soft", "hard"}, default="voices"
        How each component's model goes to the sources, once grouped.
        ``"hard"``: whole to its group. ``"soft"``: shared among the groups by
        its timbre agreement with each (the ``"timbre"`` consensus, whatever
        ``grouping`` made the groups), its own group keeping the largest
        share: a template that holds a chord of two instruments, or partials
        two voices have in common, lends its model to both
        (``skl_sepnmf._grouping.shared_memberships``; the shares are
        ``separate(...).memberships``). ``"voices"``: those shares, weighed
        at each frame by how busy each source is there with other notes
        (each source a voice, one note at a time): a shared template goes
        more to the source that is free (``skl_sepnmf._masks.frame_shares``;
        6.65 -> 6.94 dB on bench_quality.py's 11 mixtures, 5.60 -> 5.77 on
        bench_heldout.py's 24, 7.18 -> 7.26 on bench_recombined.py's 16;
        with the grouping's templates weighed by their magnitude since,
        6.46 -> 6.71, 5.72 -> 5.89 and 7.70 -> 7.75). In
        guided mode (``solo_segments``) the templates heard in a source's
        solos stay whole. Used only where
        components are grouped (``n_sources`` below the number of
        components), and not with ``grouping="recordings"``, whose sources
        are whole recordings, nor with groups of patterns (``"patterns"``, or
        ``"auto"`` choosing them), whose sources timbre cannot tell apart.

    blind : bool, default=True
        ``True``: every mixture is factorized on its own spectrogram, in
        ``transform`` too (blind separation). ``False``: ``fit`` learns the
        components from its training audio (solo recordings, or mixture plus
        solos), and ``transform`` only computes activations against them.

    solo_segments : list of lists of (start, end), "auto" or None, default=None
        Guided mode: for each source, the stretches of the mixture (in seconds)
        where it plays alone, e.g. ``[[(0, 3.3)], [(3.3, 6.7), (20, 21)]]`` for
        two sources. The mixture is factorized as in blind mode; the templates
        heard mostly in one source's solos make that source, and the others
        join the source whose solo templates they most agree with in timbre
        (shared among the sources unless ``sharing="hard"``, the solo
        templates staying whole).
        An NMF estimator is then refined knowing that no other source sounds
        in a solo (50 multiplicative updates with those activations at zero;
        7.31 -> 7.71 dB on the solo-intro pieces of bench_quality.py, before
        the harmonic and voice views of ``"timbre"``; 7.97 with them, 7.77
        blind; 8.28 with its register conflicts, 6.90 blind); a separable
        one keeps its real-frame templates. ``n_sources`` may be left out (it
        is the number of lists). A segment that is empty,
        overlaps another source's, or lies outside the recording is a
        ``ValueError`` naming it.

        ``"auto"`` (blind solo anchoring; needs ``n_sources``) finds the solos
        in the blind separation itself: a frame that one component explains
        (at least 80% of its modelled magnitude) is one voice playing alone,
        and its stretch grows through the neighbouring frames whose top
        component keeps half; each solo frame belongs to its top component's
        group. When every source has at least 0.25 s of solo, the separation
        goes on as if those solos had been given; otherwise the blind groups
        are kept (``separate(...).solo_frames`` is then None). In
        bench_quality.py it changed only the four solo-intro pieces: the mean
        of the 11 mixtures went 4.87 -> 4.90 dB (floor 1.32), and since the
        harmonic and voice views of ``"timbre"`` 5.60 -> 5.45, and since its
        register conflicts 5.47 -> 5.64 (one k-means seed): its sign flips with
        the grouping, and a separation whose solos are found takes up to twice
        as long, so it is not the default.

    sr : float, default=22050
        Sample rate of the waveforms, in Hz: ``solo_segments`` are converted to
        frames with it, and the ``"timbre"`` grouping's mel axis needs it. The
        command line and :func:`skl_sepnmf.batch.separate_file` set it from
        each file.

    random_state : int, RandomState instance or None, default=None
        Seeds the grouping's k-means and Griffin-Lim's start.

    n_jobs : int, default=None
        Mixtures separated in parallel (joblib); ``None`` means 1.

    Attributes
    ----------
    estimators_ : list of estimators
        ``blind=True``: the estimator fitted on each mixture given to ``fit``.

    activations_ : list of ndarray of shape (n_channels * n_frames, n_components)
        After ``fit_transform`` in blind mode: each mixture's activations, the
        frames of channel 0 first, then channel 1's, and so on.

    estimator_ : estimator
        ``blind=False`` (except ``grouping="recordings"``): the estimator fitted
        on all the training audio together.

    components_ : ndarray of shape (n_components, n_bins)
        ``blind=False``: the learned templates (with ``grouping="recordings"``,
        those of every recording, stacked; ``estimators_`` holds one estimator
        per recording).

    groups_ : list of ndarray
        ``blind=False``: the component indices of each output source.

    memberships_ : ndarray of shape (n_components, n_sources) or None
        ``blind=False``: each component's share of each source with
        ``sharing="soft"`` or ``"voices"`` (before the weighing of each frame);
        None where components are given whole.

    grouping_ : str, clusterer or None
        ``blind=False``: what made ``groups_``: a name of
        ``skl_sepnmf._grouping.GROUPINGS`` (with ``grouping="auto"``, the one
        it chose), the clusterer, ``"recordings"``, or None where no grouping
        was needed (no ``n_sources``, or no more components than sources).

    stft_ : STFTConfig
        The resolved STFT parameters.

    See Also
    --------
    SNPA, GreedySNPA, NMF : The factorizations.
    skl_sepnmf.metrics.snr_scorer : The scorer of :meth:`score`.

    Notes
    -----
    X is ``(n_mixtures, n_times)``, ``(n_mixtures, n_channels, n_times)``, or a
    list of such waveforms of different lengths; a mixture shorter than
    ``n_fft`` is zero-padded to ``n_fft`` for the STFT and cut back on output.
    Multichannel mixtures are factorized once, on the frames of all channels
    together, and masked per channel, so each source keeps the stereo image.
    Sources are resynthesized one at a time, block by block of frames, from
    blocks of the mixture's STFT recomputed on demand: no spectrogram but the
    magnitude the factorization needs is ever held whole. :meth:`separate`
    hands the sources out one by one for long recordings.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sepnmf import SNPA, SpectrogramSeparator
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(22050) / 22050
    >>> low, high = np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t)
    >>> mixture = np.concatenate([low, high, low + high])
    >>> separator = SpectrogramSeparator(SNPA(n_components=2), n_fft=1024)
    >>> sources = separator.fit_transform(mixture[None])
    >>> sources.shape
    (1, 2, 66150)
    >>> bool(np.allclose(sources.sum(axis=1), mixture[None], atol=1e-5))
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "transform"]), None],
        "n_fft": [Interval(Integral, 2, None, closed="left"), None],
        "hop_length": [Interval(Integral, 1, None, closed="left"), None],
        "win_length": [Interval(Integral, 1, None, closed="left"), None],
        "window": [str, tuple, Real, np.ndarray, callable],
        "center": ["boolean"],
        "mask": [StrOptions(set(MASKS) - {NOTEBOOK_MASK}), None],
        "power": [Interval(Real, 0, None, closed="neither")],
        "phase": [StrOptions({"mixture", "griffinlim"})],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "n_sources": [Interval(Integral, 1, None, closed="left"), None],
        "grouping": [
            StrOptions(
                set(GROUPINGS) | {"recordings"} | set(RENAMED), deprecated=set(RENAMED)
            ),
            HasMethods(["fit_predict"]),
        ],
        "sharing": [StrOptions(set(SHARINGS))],
        "blind": ["boolean"],
        "solo_segments": ["array-like", StrOptions({"auto"}), None],
        "sr": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        n_fft=None,
        hop_length=None,
        win_length=None,
        window="hann",
        center=True,
        mask="soft",
        power=1.0,
        phase="mixture",
        n_iter=32,
        n_sources=None,
        grouping=DEFAULT_GROUPING,
        sharing=DEFAULT_SHARING,
        blind=True,
        solo_segments=None,
        sr=22050,
        random_state=None,
        n_jobs=None,
    ):
        self.estimator = estimator
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.center = center
        self.mask = mask
        self.power = power
        self.phase = phase
        self.n_iter = n_iter
        self.n_sources = n_sources
        self.grouping = grouping
        self.sharing = sharing
        self.blind = blind
        self.solo_segments = solo_segments
        self.sr = sr
        self.random_state = random_state
        self.n_jobs = n_jobs

    def set_params(self, **params):
        """Set parameters; ``estimator__*`` ones also while ``estimator`` is None.

        With ``estimator=None``, nested parameters (``estimator__n_components``
        ...) apply to the default estimator, which is then stored in
        ``estimator``: the one the parameters given with them (``n_sources``)
        select. Otherwise as :meth:`sklearn.base.BaseEstimator.set_params`.

        Returns
        -------
        self : object
        """
        nested = {k: v for k, v in params.items() if k.startswith("estimator__")}
        if not nested or params.get("estimator", self.estimator) is not None:
            return super().set_params(**params)
        super().set_params(**{k: v for k, v in params.items() if k not in nested})
        if self._n_sources is None:
            self.estimator = SNPA(n_components=DEFAULT_N_COMPONENTS)
        else:
            self.estimator = default_nmf()
        return super().set_params(**nested)

    @property
    def _n_sources(self):
        """n_sources, or the number of sources solo_segments names."""
        if self.n_sources is None and self._guided:
            return len(self.solo_segments)
        return self.n_sources

    def _new_estimator(self, frames_shape=None, silent=False):
        """A fresh factorization; the default's rank is at most the number of
        frames and of bins (NNDSVDa needs that many)."""
        if self.estimator is not None:
            return clone(self.estimator)
        if self._n_sources is None:
            return SNPA(n_components=DEFAULT_N_COMPONENTS)
        if silent:
            # nothing to factorize: SNPA finds no component, every source is
            # silent (KL-NMF would divide by the zero error of its start)
            return SNPA(n_components=self._n_sources)
        return default_nmf(min(DEFAULT_RANK, *(frames_shape or ())))

    def _magnitude_frames(self, waveform, stft_config=None):
        """The mixture's STFT, computed on demand, and ``X``: its magnitude, one
        row per frame of each channel (the complex STFT is never held whole)."""
        stft = MixtureSTFT(stft_config or self.stft_, waveform)
        return stft, stft.whole(np.abs).reshape(-1, stft.shape[-1])

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the factorization.

        Parameters
        ----------
        X : array-like of shape (n_mixtures, [n_channels,] n_times) or list
            Training waveforms. ``blind=True``: the mixtures (each gets its own
            estimator). ``blind=False``: the audio whose frames make the
            components (e.g. solo recordings of each instrument).

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
        """
        waveforms = self._setup(X)
        if self.blind:
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(self._fit_one)(y) for y in waveforms
            )
            return self
        if self.grouping == "recordings":
            # one factorization per recording; its templates make one source
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(self._fit_one)(y) for y in waveforms
            )
            self.components_ = np.vstack([e.components_ for e in self.estimators_])
            sizes = np.cumsum([0] + [e.components_.shape[0] for e in self.estimators_])
            self.groups_ = [
                np.arange(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
            self.memberships_ = None  # each recording's templates are its own
            self.grouping_ = "recordings"
            return self
        frames = np.vstack([self._magnitude_frames(y)[1] for y in waveforms])
        self.estimator_ = self._new_estimator(frames.shape)
        activations = self.estimator_.fit_transform(frames)
        self.components_ = self.estimator_.components_
        self.groups_, self.memberships_, self.grouping_ = grouped_components(
            self.components_,
            activations,
            self._n_sources,
            self._grouping,
            self._seed,
            sr=self.sr,
            sharing=self.sharing,
        )
        return self

    @property
    def _guided(self):
        """Whether the user names the solo segments (not "auto", not None)."""
        return self.solo_segments is not None and not _is_auto(self.solo_segments)

    def _setup(self, X):
        """Validate X and resolve what fitting fixes (see :meth:`_resolved`)."""
        waveforms = _check_waveforms(X)
        self.stft_, self._seed, self._grouping = self._resolved()
        return waveforms

    def _resolved(self):
        """What fitting fixes from the parameters: STFT settings, the seed, and
        the grouping (a registry name, deprecated names replaced, or a
        clusterer)."""
        if self.grouping == "recordings" and self.blind:
            raise ValueError(
                "grouping='recordings' needs blind=False: the sources are the "
                "training recordings given to fit (one solo recording each)."
            )
        n_fft = default_n_fft(self.sr) if self.n_fft is None else self.n_fft
        stft_config = STFTConfig.resolve(
            n_fft, self.hop_length, self.win_length, self.window, self.center
        )
        if self.solo_segments is not None and not self.blind:
            raise ValueError(
                "solo_segments needs blind=True: the solo passages are taken "
                "from each mixture itself."
            )
        if _is_auto(self.solo_segments) and self.n_sources is None:
            raise ValueError(
                "solo_segments='auto' needs n_sources: the solos found are "
                "those of the n_sources groups of the blind separation."
            )
        if self._guided:
            self._solo_segments = check_solo_segments(
                self.solo_segments, self.n_sources
            )
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        return stft_config, seed, resolve(self.grouping)

    def _fit_one(self, waveform):
        frames = self._magnitude_frames(waveform)[1]
        return self._new_estimator(frames.shape).fit(frames)

    def transform(self, X):
        """Separate each mixture into sources.

        Parameters
        ----------
        X : array-like of shape (n_mixtures, [n_channels,] n_times) or list
            Mixtures.

        Returns
        -------
        sources : ndarray of shape (n_mixtures, n_sources, [n_channels,] n_times)
            One waveform per source (per component without ``n_sources``),
            in the dtype of X; a list of such arrays, one per mixture, when
            the mixtures differ in length or in their number of sources.
        """
        check_is_fitted(self, "stft_")
        waveforms = _check_waveforms(X)
        return self._separate_all(waveforms)[0]

    def _separate_all(self, waveforms):
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(self._separate_one)(y) for y in waveforms
        )
        separated, estimators, activations = (
            list(column) for column in zip(*results, strict=True)
        )
        if len(separated) == 1:
            separated = separated[0][None]  # a view: no copy of every source
        elif len({s.shape for s in separated}) == 1:
            separated = np.stack(separated)
        return separated, estimators, activations

    def _separate_one(self, waveform):
        """Sources of one mixture, the estimator and the activations behind them."""
        separation = self._separation(waveform, self.stft_, self._seed, self._grouping)
        sources = np.empty((separation.n_sources,) + waveform.shape, waveform.dtype)
        for k, source in enumerate(separation.sources):
            sources[k] = source
        return sources, separation.estimator, separation.activations

    def separate(self, waveform):
        """Separate one mixture, producing its sources one at a time.

        The memory-bounded way to separate a long recording: the factorization
        runs now, and each source is resynthesized only when the returned
        ``sources`` iterator reaches it, block by block of frames, so that only
        one source waveform exists at a time (write it to disk, then let it
        go). :meth:`transform` is this, collected into one array.

        A blind separator (``blind=True``) needs no fit: each mixture is
        factorized on its own. Otherwise call :meth:`fit` first.

        Parameters
        ----------
        waveform : array-like of shape (n_times,) or (n_channels, n_times)
            One mixture.

        Returns
        -------
        separation : Separation
            Named tuple: ``estimator`` (fitted on this mixture in blind mode,
            the learned one otherwise), ``activations`` of shape
            ``(n_channels * n_frames, n_components)``, ``groups`` (component
            indices of each source), ``n_sources``, ``sources``: an iterator
            over the ``n_sources`` waveforms, each of the shape and dtype of
            ``waveform``, ``stft``, the resolved STFT parameters,
            ``solo_frames`` (each source's rows of the activations where it
            plays alone, when they guided the separation, else None) and
            ``memberships`` (each component's share of each source, shape
            ``(n_components, n_sources)``, with ``sharing="soft"`` or
            ``"voices"``, before ``"voices"`` weighs them at each frame, else
            None) and ``grouping``, what made the groups (as
            ``grouping_``; ``"solos"`` in guided mode).

        Examples
        --------
        >>> from skl_sepnmf import SpectrogramSeparator
        >>> from skl_sepnmf.datasets import make_mixture
        >>> mixture, _, sr = make_mixture(n_sources=3, random_state=0)
        >>> separation = SpectrogramSeparator(n_sources=3).separate(mixture)
        >>> [source.shape == mixture.shape for source in separation.sources]
        [True, True, True]
        """
        if self.blind and not hasattr(self, "stft_"):
            self._validate_params()
            stft_config, seed, grouping = self._resolved()
        else:
            check_is_fitted(self, "stft_")
            stft_config, seed, grouping = self.stft_, self._seed, self._grouping
        waveform = check_array(
            waveform,
            ensure_2d=False,
            allow_nd=True,
            dtype=[np.float64, np.float32],
            input_name="waveform",
        )
        if waveform.ndim not in (1, 2):
            raise ValueError(
                "waveform must have shape (n_times,) or (n_channels, n_times); "
                f"got shape {waveform.shape}."
            )
        return self._separation(waveform, stft_config, seed, grouping)

    def _separation(self, waveform, stft_config, seed, grouping):
        if not waveform.any():
            warnings.warn(
                "SpectrogramSeparator: a mixture is silent (all zeros); its "
                "sources are silent too.",
                UserWarning,
                stacklevel=3,
            )
        stft, frames = self._magnitude_frames(waveform, stft_config)
        if self.blind:
            # the segments are checked against this recording before any work
            solo_frames = self._solo_frames(frames.shape[0], stft_config, waveform)
            estimator = self._new_estimator(frames.shape, silent=not frames.any())
            activations = estimator.fit_transform(frames)
            components = estimator.components_
            memberships = grouped_by = None
            if solo_frames is None:
                groups, memberships, grouped_by = grouped_components(
                    components,
                    activations,
                    self._n_sources,
                    grouping,
                    seed,
                    sr=self.sr,
                    sharing=self.sharing,
                )
                if _is_auto(self.solo_segments) and groups:
                    # blind solo anchoring: the groups' solos, when every
                    # group has one, guide the grouping and refinement below
                    solo_frames = found_solo_frames(
                        components,
                        activations,
                        groups,
                        n_channels=1 if waveform.ndim == 1 else waveform.shape[0],
                        frame_seconds=stft_config.hop_length / self.sr,
                    )
            if solo_frames is not None:
                groups, memberships = guided_components(
                    components,
                    activations,
                    solo_frames,
                    random_state=seed,
                    sr=self.sr,
                    sharing=self.sharing,
                )
                grouped_by = "solos"
                beta_loss = estimator.get_params().get("beta_loss")
                if beta_loss is not None and components.shape[0]:
                    # an NMF (not a separable selection, whose templates stay
                    # real frames): refit it knowing no other source sounds
                    # in a solo
                    activations, components = solo_refined(
                        frames,
                        activations,
                        components,
                        groups,
                        solo_frames,
                        beta_loss=beta_loss,
                    )
                    estimator.components_ = components
        else:
            # activations on the learned templates (pooled over the recordings
            # with grouping="recordings"): nonnegative least squares
            estimator = getattr(self, "estimator_", None)
            components = self.components_
            solo_frames = None
            activations = nnls_activations(frames, components.astype(frames.dtype))[0]
            groups = self.groups_
            # the shares fit found; sharing="hard" set since gives whole ones
            memberships = (
                getattr(self, "memberships_", None) if self.sharing != "hard" else None
            )
            grouped_by = getattr(self, "grouping_", None)
        del frames  # the magnitude is not needed for resynthesis: free it now
        # Silent sources complete the output when the factorization found fewer
        # components than sources asked for (down to none, for silent audio).
        n_out = max(len(groups), self._n_sources or 0)
        if not groups:
            n_out = max(n_out, getattr(estimator, "n_components", None) or 0)
        # sharing="voices": shares weighed frame by frame by the other notes
        # each source plays there
        rivals = (
            note_rivals(components, activations, sr=self.sr)
            if self.sharing == VOICES and memberships is not None
            else None
        )
        masks = MaskedSources(
            stft,
            activations,
            components,
            groups,
            self.mask,
            self.power,
            memberships,
            rivals,
        )
        inverse = InverseSTFT(
            stft_config, masks.shape[-2], waveform.shape[-1], stft.dtype
        )
        # where the windows barely reach (center=False, long hops), each source
        # gets an equal share of the mixture instead of an amplified inverse
        # (WEAK_WEIGHT); a copy of those few samples only
        weak_share = waveform[..., inverse.weak] / max(len(masks), 1)
        # the generator keeps the waveform's shape and dtype, not the waveform:
        # a caller may free it while the sources are made
        sources = self._resynthesized(
            masks,
            waveform.shape,
            waveform.dtype,
            stft_config,
            seed,
            n_out,
            inverse,
            weak_share,
        )
        return Separation(
            estimator,
            activations,
            groups,
            n_out,
            sources,
            stft_config,
            solo_frames,
            memberships,
            grouped_by,
        )

    def _solo_frames(self, n_rows, stft_config, waveform):
        """Rows of the activations in each source's solo segments (None
        without named solo_segments)."""
        if not self._guided:
            return None
        n_channels = 1 if waveform.ndim == 1 else waveform.shape[0]
        n_frames = n_rows // n_channels
        centre = 0 if stft_config.center else stft_config.n_fft // 2
        frame_times = (np.arange(n_frames) * stft_config.hop_length + centre) / self.sr
        duration = waveform.shape[-1] / self.sr
        return solo_frame_indices(
            self._solo_segments, frame_times, n_channels, duration
        )

    def _resynthesized(
        self, masks, shape, dtype, stft_config, seed, n_out, inverse, weak_share
    ):
        """Yield each source's waveform in turn (then silent ones up to n_out)."""
        length = shape[-1]
        for k in range(len(masks)):
            if self.phase == "mixture":
                yield inverse(
                    shape[:-1], masks.starts, partial(masks.block, k), weak_share
                )
            else:
                signal = stft_config.griffinlim(
                    np.abs(masks.spectrogram(k)),
                    stft_config.padded_length(length),
                    self.n_iter,
                    seed + k,
                )
                signal = signal[..., :length].astype(dtype, copy=False)
                inverse.share_weak(signal, weak_share)
                yield signal
        for _ in range(len(masks), n_out):
            yield np.zeros(shape, dtype)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit, then separate the same mixtures (one factorization each).

        Parameters
        ----------
        X : array-like of shape (n_mixtures, [n_channels,] n_times) or list
            Mixtures.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        sources : ndarray or list
            As :meth:`transform`.
        """
        if not self.blind:
            return self.fit(X).transform(X)
        waveforms = self._setup(X)
        sources, self.estimators_, self.activations_ = self._separate_all(waveforms)
        return sources

    def score(self, X, y):
        """Mean SNR (dB) of the best one-to-one matching of sources to references.

        Parameters
        ----------
        X : array-like or list
            Mixtures.
        y : array-like of shape (n_mixtures, n_references, [n_channels,] n_times) \
or list
            The true sources of each mixture.

        Returns
        -------
        score : float
            Mean over mixtures of the mean SNR of the matched references.
        """
        return snr_scorer(self, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
