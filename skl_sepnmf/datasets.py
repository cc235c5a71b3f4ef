"""Mixtures with known sources: the notebook's seed protocol and stem folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
_AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".aiff", ".aif", ".mp3")


def _find_audio(directory: Path, stem: str) -> Path:
    for suffix in _AUDIO_SUFFIXES:
        path = directory / f"{stem}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"load_seed_mixture: no audio file named {stem!r} "
        f"({'/'.join(_AUDIO_SUFFIXES)}) in {directory}; the seed folder holds "
        f"{', '.join(SEED_SOURCES)}."
    )


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


def load_stems(directory, *, mixture_name="mix"):
    """Load a folder of stems; the mixture is their exact sum.

    Parameters
    ----------
    directory : str or path-like
        Folder of audio files at one sample rate, one per source (e.g. a folder
        of ``../shared/data/dev``). A file named ``mixture_name`` is skipped.
    mixture_name : str, default="mix"
        Stem of the mixture file to leave out.

    Returns
    -------
    mixture : ndarray of shape (n_times,) or (n_channels, n_times)
        Sum of the stems.
    sources : ndarray of shape (n_sources, n_times) or (n_sources, n_channels, n_times)
        The stems, in alphabetical order of their file names.
    sr : int
        Their sample rate.
    names : list of str
        The stems' file stems, in the order of ``sources``.
    """
    import soundfile as sf

    directory = Path(directory)
    paths = sorted(
        p
        for p in directory.iterdir()
        if p.suffix.lower() in _AUDIO_SUFFIXES and p.stem != mixture_name
    )
    if not paths:
        raise FileNotFoundError(f"load_stems: no audio stems in {directory}.")
    stems, rates = [], set()
    for path in paths:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        stems.append(data.T if data.shape[1] > 1 else data[:, 0])
        rates.add(sr)
    if len(rates) > 1:
        raise ValueError(
            f"load_stems: stems in {directory} have several rates {rates}."
        )
    length = min(s.shape[-1] for s in stems)
    sources = np.stack([s[..., :length] for s in stems])
    return sources.sum(axis=0), sources, rates.pop(), [p.stem for p in paths]
