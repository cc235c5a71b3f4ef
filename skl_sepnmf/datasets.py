"""Mixtures with known sources: the notebook's seed protocol and stem folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import AUDIO_SUFFIXES, load_audio

SEED_SOURCES = (
    "piano1",
    "piano2",
    "piano3",
    "clarinet1",
    "clarinet2",
    "clarinet3",
    "strings-staccato",
)
SEED_SR = 22050

# Synthetic instruments: (harmonic roll-off exponent, odd-harmonic weight,
# attack seconds, decay seconds). Different roll-offs and odd/even balances give
# distinct timbres; attack and decay distinguish plucked from blown notes.
_TIMBRES = (
    (1.0, 1.0, 0.005, 0.35),  # plucked, bright: piano-like
    (1.6, 0.15, 0.04, 2.0),  # odd harmonics, sustained: clarinet-like
    (0.7, 1.0, 0.08, 3.0),  # rich, slow attack: bowed-string-like
    (2.5, 1.0, 0.02, 1.0),  # nearly pure: flute-like
    (1.2, 0.5, 0.01, 0.6),  # hollow, short: mallet-like
)
_N_HARMONICS = 12


def _find_audio(directory: Path, stem: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        path = directory / f"{stem}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"load_seed_mixture: no audio file named {stem!r} "
        f"({'/'.join(AUDIO_SUFFIXES)}) in {directory}; the seed folder holds "
        f"{', '.join(SEED_SOURCES)}."
    )


def make_mixture(n_sources=3, duration=4.0, sr=16000, random_state=None):
    """Synthesize a mixture of harmonic instruments with known sources.

    Each source has its own timbre (harmonic roll-off, odd/even balance, attack
    and decay) and its own pitch (distinct notes of a pentatonic scale, drawn
    from ``random_state``), repeated at random onsets. The first ``n_sources``
    slices of ``duration / (n_sources + 1)`` seconds are solos, one source
    each, so every source is heard alone somewhere; after that all play
    together. One pitch per source makes the spectrogram exactly separable at
    rank ``n_sources``: a test bed where the method must succeed.

    Parameters
    ----------
    n_sources : int, default=3
        Number of instruments, 1 to 5.
    duration : float, default=4.0
        Seconds.
    sr : int, default=16000
        Sample rate.
    random_state : int, RandomState instance or None, default=None
        Seeds the notes and onsets; an int gives the same mixture every time.

    Returns
    -------
    mixture : ndarray of shape (n_times,)
        Exactly ``sources.sum(axis=0)``, float32, peak 0.9.
    sources : ndarray of shape (n_sources, n_times)
    sr : int

    Examples
    --------
    >>> from skl_sepnmf.datasets import make_mixture
    >>> mixture, sources, sr = make_mixture(n_sources=3, duration=2.0, random_state=0)
    >>> mixture.shape, sources.shape, sr
    ((32000,), (3, 32000), 16000)
    """
    from sklearn.utils import check_random_state

    if not 1 <= n_sources <= len(_TIMBRES):
        raise ValueError(f"n_sources must be 1 to {len(_TIMBRES)}, got {n_sources}.")
    if duration <= 0 or sr <= 0:
        raise ValueError(f"duration and sr must be positive, got {duration}, {sr}.")
    rng = check_random_state(random_state)
    n_times = int(round(duration * sr))
    t = np.arange(n_times) / sr
    slot = duration / (n_sources + 1)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    harmonics = np.arange(1, _N_HARMONICS + 1)
    pitches = scale[rng.permutation(len(scale))[:n_sources]]
    sources = np.zeros((n_sources, n_times))
    for i in range(n_sources):
        rolloff, odd_weight, attack, decay = _TIMBRES[i]
        weights = harmonics**-rolloff * np.where(harmonics % 2, 1.0, odd_weight)
        # one solo note in slot i, then notes at random onsets in the tutti
        onsets = [i * slot] + list(
            np.sort(rng.uniform(n_sources * slot, duration, size=3))
        )
        lengths = [slot] + list(rng.uniform(0.3, 1.0, size=3) * slot * 2)
        for onset, length in zip(onsets, lengths, strict=True):
            f0 = pitches[i]
            local = t - onset
            active = (local >= 0) & (local < length)
            tau = local[active]
            envelope = np.minimum(tau / attack, 1.0) * np.exp(-tau / decay)
            envelope *= np.minimum((length - tau) / 0.01, 1.0)  # no click at the end
            partials = harmonics[:, None] * f0 < sr / 2  # below Nyquist only
            phases = 2 * np.pi * f0 * harmonics[:, None] * tau
            tone = ((weights[:, None] * partials) * np.sin(phases)).sum(axis=0)
            sources[i, active] += envelope * tone
    sources /= np.maximum(np.abs(sources).max(axis=1, keepdims=True), 1e-12)
    sources = (sources * (0.9 / n_sources)).astype(np.float32)
    return sources.sum(axis=0), sources, sr


def load_seed_mixture(directory):
    """Load the notebook's seven sources and mix them by its protocol.

    Each source is loaded mono at 22050 Hz (``librosa.load`` defaults),
    min-max scaled into ``[-1/7, 1/7]`` (``s = s - min(s)``, then
    ``s = (2/7) * s / max(s) - 1/7``), and the seven are summed. With
    ``n_fft=4096, hop_length=1024`` the mixture's magnitude spectrogram is
    2049 x 345, the notebook's ``M``.

    Parameters
    ----------
    directory : str or path-like
        Folder holding ``piano1..3``, ``clarinet1..3`` and ``strings-staccato``
        (FLAC or WAV), e.g. ``../shared/data/seed``.

    Returns
    -------
    mixture : ndarray of shape (n_times,)
        The sum of the sources, float32.
    sources : ndarray of shape (7, n_times)
        The scaled sources, in the order above.
    sr : int
        22050.

    Examples
    --------
    >>> from skl_sepnmf.datasets import load_seed_mixture
    >>> mixture, sources, sr = load_seed_mixture(
    ...     "../shared/data/seed"
    ... )  # doctest: +SKIP
    >>> mixture.shape, sources.shape, sr  # doctest: +SKIP
    ((352800,), (7, 352800), 22050)
    """
    import librosa
    import soundfile as sf

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"load_seed_mixture: {directory} is not a folder.")
    n_sources = len(SEED_SOURCES)
    sources = []
    for name in SEED_SOURCES:
        # what librosa.load(path) does: mono by channel mean, soxr_hq resampling
        data, rate = sf.read(
            _find_audio(directory, name), dtype="float32", always_2d=True
        )
        signal = librosa.resample(data.mean(axis=1), orig_sr=rate, target_sr=SEED_SR)
        signal = signal - signal.min()
        sources.append((2 / n_sources) * signal / signal.max() - 1 / n_sources)
    length = min(len(s) for s in sources)
    sources = np.stack([s[:length] for s in sources])
    return sources.sum(axis=0), sources, SEED_SR


def stem_files(directory, *, mixture_name="mix"):
    """The audio files of a folder of stems: every one but the mixture.

    This is the one rule for which file of a folder is the mixture, used by
    :func:`load_stems` and by ``skl-sepnmf evaluate``: the file whose name
    without its suffix is ``mixture_name``, compared case-insensitively
    (``mix.flac``, ``Mix.WAV``; not ``mixture.wav`` nor ``mix_2.wav``). Audio
    files are those with a suffix in ``skl_sepnmf.io.AUDIO_SUFFIXES`` (any
    case); other files (``summary.json``, figures) are ignored.

    Parameters
    ----------
    directory : str or path-like
        The folder.
    mixture_name : str or None, default="mix"
        Name of the mixture file to leave out; None keeps every audio file (a
        folder of separated sources).

    Returns
    -------
    paths : list of Path
        In alphabetical order of their names.

    Raises
    ------
    NotADirectoryError
        ``directory`` is not a folder.
    FileNotFoundError
        It holds no audio file (besides the mixture).

    Examples
    --------
    >>> from skl_sepnmf.datasets import stem_files
    >>> [p.name for p in stem_files("../shared/data/dev/trio")]  # doctest: +SKIP
    ['clarinet.flac', 'piano.flac', 'strings.flac']
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory}: not a folder")
    mixture = None if mixture_name is None else mixture_name.lower()
    paths = sorted(
        p
        for p in directory.iterdir()
        if p.suffix.lower() in AUDIO_SUFFIXES and p.stem.lower() != mixture
    )
    if not paths:
        raise FileNotFoundError(f"{directory}: no audio files")
    return paths


def load_stems(directory, *, mixture_name="mix", truncate=True):
    """Load a folder of stems; the mixture is their exact sum.

    Parameters
    ----------
    directory : str, path-like or list of path-like
        Folder of audio files at one sample rate, one per source (e.g. a folder
        of ``../shared/data/dev``), whose files are :func:`stem_files`; or the
        list of files itself.
    mixture_name : str or None, default="mix"
        Name (without suffix, any case) of the mixture file to leave out; None
        keeps every audio file. Ignored when ``directory`` is a list.
    truncate : bool, default=True
        Cut the stems to the shortest one. False: stems of different lengths
        are a ``ValueError``.

    Returns
    -------
    mixture : ndarray of shape (n_times,) or (n_channels, n_times)
        Sum of the stems.
    sources : ndarray of shape (n_sources, n_times) or (n_sources, n_channels, n_times)
        The stems, in alphabetical order of their file names, float32
        (:func:`skl_sepnmf.io.load_audio`).
    sr : int
        Their sample rate.
    names : list of str
        The stems' file stems, in the order of ``sources``.

    Raises
    ------
    NotADirectoryError, FileNotFoundError
        As :func:`stem_files`; or a listed file is missing.
    ValueError
        A file cannot be read as audio (the message names it), or the stems
        differ in sample rate, in channel count, or (``truncate=False``) in
        length.

    Examples
    --------
    >>> from skl_sepnmf.datasets import load_stems
    >>> mixture, sources, sr, names = load_stems(
    ...     "../shared/data/dev/trio"
    ... )  # doctest: +SKIP
    >>> sources.shape, sr, names  # doctest: +SKIP
    ((3, 160000), 16000, ['clarinet', 'piano', 'strings'])
    """
    if isinstance(directory, (list, tuple)):
        paths = [Path(p) for p in directory]
        if not paths:
            raise ValueError("load_stems: an empty list of files.")
    else:
        paths = stem_files(directory, mixture_name=mixture_name)
    stems, rates = [], set()
    for path in paths:
        y, sr = load_audio(path)
        stems.append(y)
        rates.add(sr)
    if len(rates) > 1:
        raise ValueError(f"files at different sample rates {sorted(rates)}: {paths}")
    channels = {s.shape[:-1] for s in stems}
    lengths = {s.shape[-1] for s in stems}
    if len(channels) > 1 or (len(lengths) > 1 and not truncate):
        kind = "lengths or channel counts" if not truncate else "channel counts"
        shapes = (f"{p.name} {s.shape}" for p, s in zip(paths, stems, strict=True))
        raise ValueError(f"files of different {kind} " + ", ".join(shapes))
    length = min(lengths)
    sources = np.stack([s[..., :length] for s in stems])
    return sources.sum(axis=0), sources, rates.pop(), [p.stem for p in paths]
