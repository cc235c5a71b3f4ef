"""Reading and writing audio files (soundfile / libsndfile), atomically.

Layout follows librosa: a waveform is ``(n_times,)`` when mono and
``(n_channels, n_times)`` otherwise, float32. Every file this package writes
(audio, JSON summaries) goes through :func:`atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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
        The file cannot be decoded, or it is truncated: fewer frames decode
        than its header declares (WAV, RF64, AIFF, FLAC: the containers that
        declare a count; libsndfile alone would decode what is left). The
        message names the file and the cause.

    Notes
    -----
    File names are passed to libsndfile as bytes (:func:`os.fsencode`), so a
    name that is not valid UTF-8 (a file copied from another system) is read
    like any other.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file.")
    _check_riff_length(path)
    declared = _declared_frames(path)
    try:
        data, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        hint = "" if declared is None else "; the file may be truncated or damaged"
        raise ValueError(f"{path}: cannot be read as audio ({error}){hint}.") from None
    if declared is not None and data.shape[0] < declared[1]:
        kind, count = declared
        raise ValueError(
            f"{path}: truncated {kind} file: its header declares {count} frames, "
            f"only {data.shape[0]} decode. Re-export or re-copy it."
        )
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


# WAVE format tags whose frames are block_align bytes each (PCM, IEEE float,
# extensible): for compressed codings the data size says nothing of the frames
_WAVE_FIXED_FRAME_TAGS = (1, 3, 0xFFFE)


def _declared_frames(path: Path) -> tuple[str, int] | None:
    """(container, frame count its header declares), or None where it declares
    none (OGG, MP3, streamed WAV) or the header is not understood.

    Only headers are read (a few small reads): RIFF/RF64 ``fmt ``, ``ds64`` and
    ``data`` chunks, the AIFF/AIFC ``COMM`` chunk, the FLAC STREAMINFO block.
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12:
            return None
        if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            return _wave_frames(handle, rf64=head[:4] == b"RF64")
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _aiff_frames(handle)
        if head[:4] == b"fLaC":
            handle.seek(4)
            block = handle.read(4 + 34)
            if len(block) < 38 or block[0] & 0x7F != 0:  # STREAMINFO comes first
                return None
            total = int.from_bytes(block[4 + 10 : 4 + 18], "big") & (2**36 - 1)
            return ("FLAC", total) if total else None  # 0: unknown
    return None


def _chunks(handle, byteorder: str):
    """(id, size, offset of its data) of each chunk from the handle's position."""
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:], byteorder)
        start = handle.tell()
        yield header[:4], size, start
        handle.seek(start + size + (size & 1))  # chunks are padded to even sizes


def _wave_frames(handle, rf64: bool) -> tuple[str, int] | None:
    data_size = block_align = format_tag = None
    for chunk, size, start in _chunks(handle, "little"):
        if chunk == b"ds64":
            data_size = int.from_bytes(handle.read(16)[8:16], "little")
        elif chunk == b"fmt ":
            fields = handle.read(14)
            format_tag = int.from_bytes(fields[0:2], "little")
            block_align = int.from_bytes(fields[12:14], "little")
        elif chunk == b"data":
            if not rf64:
                data_size = size
            break
    if (
        format_tag not in _WAVE_FIXED_FRAME_TAGS
        or not block_align
        or not data_size
        or (not rf64 and data_size == 0xFFFFFFFF)  # streamed: length unknown
    ):
        return None
    return ("RF64" if rf64 else "WAV"), data_size // block_align


def _aiff_frames(handle) -> tuple[str, int] | None:
    for chunk, _, _ in _chunks(handle, "big"):
        if chunk == b"COMM":
            fields = handle.read(6)
            return "AIFF", int.from_bytes(fields[2:6], "big")
    return None


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
        libsndfile subtype (e.g. ``"PCM_16"``, ``"FLOAT"``). None is the
        format's default, except that samples beyond full scale (``|y| > 1``)
        are written as ``"FLOAT"`` where the format has it (WAV, AIFF, ...):
        an integer subtype would clip them.

    Returns
    -------
    path : Path

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ValueError
        ``y`` holds nan or inf samples, or samples beyond full scale that the
        subtype (an integer one, e.g. FLAC's) would clip; nothing is written.
        The message names the file.
    OSError
        ``path`` cannot be written (missing or read-only folder, disk full);
        the message names it and says why. No temporary file is left.
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
    file_format = path.suffix[1:].upper()
    if file_format not in sf.available_formats():
        raise ValueError(f"{path}: unknown audio format {path.suffix!r}.")
    peak = _checked_peak(path, y)
    subtype = _subtype(path, file_format, subtype, peak)
    channels = 1 if y.ndim == 1 else y.shape[0]
    try:
        with (
            atomic_write(path, overwrite=overwrite) as temporary,
            sf.SoundFile(
                os.fsencode(temporary), "w", sr, channels, subtype, format=file_format
            ) as handle,
        ):
            # in chunks: libsndfile wants (n_times, n_channels) C-ordered data,
            # and a whole transposed copy of a long source is its size again
            for start in range(0, y.shape[-1], _WRITE_CHUNK):
                chunk = y[..., start : start + _WRITE_CHUNK].T
                handle.write(np.ascontiguousarray(chunk))
    except (sf.LibsndfileError, RuntimeError) as error:
        # libsndfile says "System error." and loses errno: say what we can
        raise _write_error(path, str(error)) from None
    except OSError as error:
        if error.filename is None or os.fsdecode(error.filename) != str(path):
            raise _write_error(path, error.strerror or str(error)) from None
        raise
    return path


def _checked_peak(path: Path, y) -> float:
    """The largest ``|y|``; a ValueError naming the file for nan or inf."""
    peak = 0.0
    for start in range(0, y.shape[-1], _WRITE_CHUNK):
        chunk = y[..., start : start + _WRITE_CHUNK]
        if chunk.size == 0:
            continue
        if not np.isfinite(chunk).all():
            bad = ~np.isfinite(chunk).reshape(-1, chunk.shape[-1])
            first = int(np.flatnonzero(bad.any(axis=0))[0])
            raise ValueError(
                f"{path}: the waveform has nan or inf samples (first at sample "
                f"{start + first}); nothing was written."
            )
        peak = max(peak, float(np.abs(chunk).max()))
    return peak


def _subtype(path: Path, file_format: str, subtype, peak: float):
    """The subtype to write: never one that clips samples beyond full scale."""
    import soundfile as sf

    integer = subtype is None or not any(
        word in str(subtype).upper() for word in ("FLOAT", "DOUBLE", "VORBIS", "OPUS")
    )
    if peak <= 1 or not integer:
        return subtype
    if subtype is None and "FLOAT" in sf.available_subtypes(file_format):
        return "FLOAT"
    raise ValueError(
        f"{path}: samples reach {peak:.3g}, beyond full scale (1.0): "
        f"{subtype or sf.default_subtype(file_format)} would clip them; write a "
        "float format (e.g. WAV) or scale the waveform down first."
    )


def _write_error(path: Path, cause: str) -> OSError:
    """An OSError naming ``path``, saying that the disk is full when it is."""
    import errno
    import shutil

    try:
        full = shutil.disk_usage(path.parent).free < 2**20
    except OSError:
        full = False
    if full:
        return OSError(
            errno.ENOSPC, f"no space left on the device ({cause})", str(path)
        )
    return OSError(errno.EIO, f"cannot be written ({cause})", str(path))


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
        read-only, not a folder), or an error without a file name (a full
        disk) is raised in the block; the message names ``path``. The
        temporary is removed on every failure.

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
    temporary = _new_temporary(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.filename is None:  # e.g. a full disk, from a write or a close
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _new_temporary(path: Path) -> Path:
    """An empty new hidden file beside ``path``, created with mode 0o666 less
    the umask (what ``open`` gives; ``mkstemp``'s 0o600 would keep results
    from other users and web servers)."""
    for _ in range(100):
        temporary = path.with_name(
            f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
        )
        try:
            descriptor = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666
            )
        except FileExistsError:
            continue
        except OSError as error:
            # the error names the temporary; the caller knows the destination
            raise OSError(error.errno, error.strerror, str(path)) from None
        os.close(descriptor)
        return temporary
    raise FileExistsError(f"{path}: no free temporary name beside it.")


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
