"""Reading and writing audio files (soundfile / libsndfile).

Layout follows librosa: a waveform is ``(n_times,)`` when mono and
``(n_channels, n_times)`` otherwise, float32.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def load_audio(path, *, sr=None, mono=False):
    """Read an audio file.

    Parameters
    ----------
    path : str or path-like
        Any format libsndfile reads (WAV, FLAC, OGG, AIFF, MP3 with libsndfile
        >= 1.1, ...).
    sr : int, default=None
        Resample to this rate (``librosa.resample``, soxr_hq); None keeps the
        file's rate.
    mono : bool, default=False
        Average the channels into one.

    Returns
    -------
    y : ndarray of shape (n_times,) or (n_channels, n_times), float32
    sr : int

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file cannot be decoded; the message names the file and the cause.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file.")
    _check_riff_length(path)
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: cannot be read as audio ({error}).") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the file holds no audio samples.")
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: the audio contains nan or inf samples.")
    y = data.T
    if mono or y.shape[0] == 1:
        y = y.mean(axis=0) if mono else y[0]
    if sr is not None and sr != rate:
        import librosa

        y = librosa.resample(y, orig_sr=rate, target_sr=sr)
        rate = sr
    return np.ascontiguousarray(y, dtype=np.float32), int(rate)


def _check_riff_length(path: Path) -> None:
    """Refuse a truncated WAV: libsndfile would silently decode what is left.

    A RIFF header states the file's size; 0 and 0xFFFFFFFF mark streamed files
    written before their length was known, and are accepted.
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return
    declared = int.from_bytes(header[4:8], "little")
    if declared in (0, 0xFFFFFFFF):
        return
    size = path.stat().st_size
    if declared + 8 > size:
        raise ValueError(
            f"{path}: truncated WAV file: its header declares {declared + 8} bytes, "
            f"the file has {size}. Re-export or re-copy it."
        )


_WRITE_CHUNK = 2**18  # samples per channel written at a time


def write_audio(path, y, sr, *, overwrite=False, subtype=None):
    """Write a waveform atomically: to a temporary file, then renamed.

    An interrupted write never leaves a partial file under ``path``.

    Parameters
    ----------
    path : str or path-like
        Destination; the format follows its extension (``.wav``, ``.flac``, ...).
    y : array-like of shape (n_times,) or (n_channels, n_times)
    sr : int
    overwrite : bool, default=False
        Replace an existing file; otherwise a ``FileExistsError``.
    subtype : str, default=None
        libsndfile subtype (e.g. ``"PCM_16"``, ``"FLOAT"``); None is the
        format's default.

    Returns
    -------
    path : Path
    """
    import soundfile as sf

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"{path}: a waveform is (n_times,) or (n_channels, n_times); "
            f"got shape {y.shape}."
        )
    file_format = sf.available_formats().get(path.suffix[1:].upper())
    if file_format is None:
        raise ValueError(f"{path}: unknown audio format {path.suffix!r}.")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".part", dir=path.parent
    )
    os.close(descriptor)
    try:
        channels = 1 if y.ndim == 1 else y.shape[0]
        with sf.SoundFile(
            temporary, "w", sr, channels, subtype, format=path.suffix[1:].upper()
        ) as handle:
            # in chunks: libsndfile wants (n_times, n_channels) C-ordered data,
            # and a whole transposed copy of a long source is its size again
            for start in range(0, y.shape[-1], _WRITE_CHUNK):
                handle.write(
                    np.ascontiguousarray(y[..., start : start + _WRITE_CHUNK].T)
                )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
