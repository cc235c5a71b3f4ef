"""Reading and writing audio files (soundfile / libsndfile), atomically.

Layout follows librosa: a waveform is ``(n_times,)`` when mono and
``(n_channels, n_times)`` otherwise, float32. Every file this package writes
(audio, JSON summaries) goes through :func:`atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# The file suffixes taken for audio when a folder is listed (stems, estimates):
# the formats libsndfile reads; the order is the preference when one name has
# several (``datasets.load_seed_mixture``).
AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".aiff", ".aif", ".mp3")
TEMPORARY_SUFFIX = ".part"


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

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    OSError
        ``path`` cannot be written; the message names it.
    """
    import soundfile as sf

    path = Path(path)
    _refuse_existing(path, overwrite)
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"{path}: a waveform is (n_times,) or (n_channels, n_times); "
            f"got shape {y.shape}."
        )
    file_format = sf.available_formats().get(path.suffix[1:].upper())
    if file_format is None:
        raise ValueError(f"{path}: unknown audio format {path.suffix!r}.")
    channels = 1 if y.ndim == 1 else y.shape[0]
    with (
        atomic_write(path, overwrite=overwrite) as temporary,
        sf.SoundFile(
            temporary, "w", sr, channels, subtype, format=path.suffix[1:].upper()
        ) as handle,
    ):
        # in chunks: libsndfile wants (n_times, n_channels) C-ordered data,
        # and a whole transposed copy of a long source is its size again
        for start in range(0, y.shape[-1], _WRITE_CHUNK):
            handle.write(np.ascontiguousarray(y[..., start : start + _WRITE_CHUNK].T))
    return path


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")


@contextlib.contextmanager
def atomic_write(path, *, overwrite=False) -> Iterator[Path]:
    """Write a file atomically: yield a temporary path, rename it on success.

    The temporary file is created empty in the destination's folder (so that
    the rename stays on one file system), hidden, and named
    ``.<name>.<random>.part``. When the ``with`` block ends normally it
    replaces ``path`` in one rename; when it raises (any exception, including
    ``KeyboardInterrupt``) the temporary is removed and ``path`` is left as it
    was. So a file that exists under ``path`` is always a complete one.

    Parameters
    ----------
    path : str or path-like
        Destination.
    overwrite : bool, default=False
        Replace an existing file; otherwise a ``FileExistsError``, raised
        before anything is created.

    Yields
    ------
    temporary : Path
        The file to write, by name (it may be opened and reopened).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    OSError
        The temporary cannot be created in ``path``'s folder (missing,
        read-only, not a folder); the message names ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skl_sepnmf.io import atomic_write
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_write(Path(folder) / "summary.json") as temporary:
    ...         _ = temporary.write_text('{"sources": 3}')
    ...     print(sorted(p.name for p in Path(folder).iterdir()))
    ['summary.json']
    """
    path = Path(path)
    _refuse_existing(path, overwrite)
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent
        )
    except OSError as error:
        # mkstemp's message names the temporary; the caller knows the destination
        raise OSError(error.errno, error.strerror, str(path)) from None
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
