"""Separating audio files into output folders: the protocol ``skl-sepnmf`` uses.

One input file gives one folder (:func:`output_folders`): ``out_dir / <file
name without suffix>``, or, when several inputs of a batch have that name,
``out_dir / <parent>-<name>`` with as many parent folders as make the names
unique (``trio/mix.flac`` and ``chorale/mix.flac`` go to ``trio-mix`` and
``chorale-mix``). It holds ``source_<k>.<format>`` (one audio file per source,
with the input's sample rate and channels), ``components.png`` (spectra and
activations, when matplotlib is installed; a placeholder saying so when there
is nothing to draw, as for a silent input) and ``summary.json`` (parameters,
input, selected frames, warnings, timings). The rules that make a batch safe
to interrupt, to rerun and to run twice at once:

* **Done means summary.json, for these settings and this input.** It is
  written last, and records the settings (every separator parameter, the
  format, resampling and down-mixing) and the input's identity (size,
  modification time, SHA-256 of its first MiB). A folder whose summary matches
  is done and skipped; one whose summary records other settings or another
  input is refused (:class:`OutputMismatchError`) unless ``overwrite=True``:
  a rerun never reports stale results as done.
* **One process per folder.** The folder is locked (``fcntl.flock`` on
  ``.skl-sepnmf.lock``, removed afterwards) from the first check to the
  summary; a second process on the same folder is refused at once
  (:class:`FolderBusyError`), never interleaved.
* **In progress means a marker.** Before the first source is written the
  folder gets ``.skl-sepnmf-incomplete``, removed once summary.json exists. A
  folder still marked was left by an interrupted or failed run: its files, and
  leftover ``.*.part`` temporaries, are redone without asking.
* **Redoing retires every old output first.** Once marked, the old
  summary.json goes, then every ``source_<k>.*`` audio file (any format, any
  count) and the figure, before a new source is written: a folder never mixes
  two runs, and an interrupted redo is still marked.
* **Nothing is overwritten without asking.** Source files or a figure in an
  unmarked folder without a summary are someone's results: replaced only with
  ``overwrite=True``, and checked before anything is loaded or marked.
* **Every file is complete or absent**: each is written to a temporary and
  renamed (:func:`skl_sepnmf.io.atomic_write`); a failure removes the
  temporary, and a folder this call created and left empty.

The command line (``skl-sepnmf separate``) and ``examples/separate_collection.py``
both call :func:`separate_file`: a notebook or a cluster job runs exactly what
the command runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, clone

from .io import AUDIO_SUFFIXES, TEMPORARY_SUFFIX, atomic_write, load_audio, write_audio

SUMMARY = "summary.json"
INCOMPLETE = ".skl-sepnmf-incomplete"  # in an output folder until its summary
LOCK = ".skl-sepnmf.lock"  # held (flock) by the process writing the folder
FIGURE = "components.png"
IDENTITY_HEAD_BYTES = 2**20  # the input's first MiB is hashed into its identity
_SOURCE_FILE = re.compile(r"source_\d+")
# written into the folder from its summary by _report (--report, evaluate)
REPORT = "report.html"
SCORES = "scores.json"


class InputError(Exception):
    """One input cannot be processed; the message names it and the cause.

    Raised by :func:`separate_file` when the input cannot be read or its
    outputs cannot be written: a batch reports it and goes on with the next
    file. Other exceptions are bugs or resource exhaustion.
    """


class OutputExistsError(InputError):
    """The output folder holds results of an earlier run (``overwrite=False``).

    Attributes
    ----------
    folder : Path
        The output folder.
    names : list of str
        The files that would have been replaced.
    """

    def __init__(self, folder, names, reason=None):
        self.folder = Path(folder)
        self.names = list(names)
        self.reason = reason or f"{', '.join(self.names)} exist(s)"
        super().__init__(
            f"{self.folder}: {self.reason}; pass overwrite=True to replace"
        )


class OutputMismatchError(OutputExistsError):
    """The folder's summary.json records other settings or another input.

    Attributes
    ----------
    differences : list of str
        What differs, e.g. ``"n_sources: 3 then, 2 now"``.
    """

    def __init__(self, folder, differences):
        self.differences = list(differences)
        reason = (
            "holds a separation made with other settings or from another input ("
            + "; ".join(self.differences)
            + ")"
        )
        super().__init__(folder, [SUMMARY], reason)


class FolderBusyError(InputError):
    """Another process is writing the output folder (it holds the lock)."""

    def __init__(self, folder, holder=""):
        self.folder = Path(folder)
        who = f" (pid {holder})" if holder else ""
        super().__init__(
            f"{self.folder}: another process{who} is writing this folder; "
            "run again when it has finished"
        )


def output_folder(path, out_dir) -> Path:
    """The folder of ``path``'s outputs when it is separated alone.

    Parameters
    ----------
    path : str or path-like
        The input file.
    out_dir : str or path-like
        The folder of all outputs.

    Returns
    -------
    folder : Path
        ``out_dir / <name of path without its suffix>``; in a batch whose
        inputs share names, see :func:`output_folders`.

    Examples
    --------
    >>> from skl_sepnmf.batch import output_folder
    >>> output_folder("recordings/song.flac", "separated").as_posix()
    'separated/song'
    """
    return output_folders([path], out_dir)[0]


def output_folders(paths, out_dir) -> list[Path]:
    """One output folder per input, unique within the batch.

    Each input's folder is named after the input without its suffix. Inputs
    whose names coincide (compared case-insensitively, as on a case-insensitive
    file system) get their parent folders' names prepended, joined by ``-``,
    one more at a time until every name differs; inputs still alike (same
    folder and name, different suffixes) are named with their suffix
    (``song.wav``, ``song.flac``). An input's folder
    thus depends only on the names in its batch: the same command gives the
    same folders.

    Parameters
    ----------
    paths : list of str or path-like
        The inputs, distinct files.
    out_dir : str or path-like

    Returns
    -------
    folders : list of Path
        In the order of ``paths``.

    Raises
    ------
    ValueError
        The same file is listed twice.

    Examples
    --------
    >>> from skl_sepnmf.batch import output_folders
    >>> [
    ...     f.as_posix()
    ...     for f in output_folders(
    ...         ["dev/trio/mix.flac", "dev/duet/mix.flac", "solo.wav"], "out"
    ...     )
    ... ]
    ['out/trio-mix', 'out/duet-mix', 'out/solo']
    """
    paths = [Path(os.path.abspath(p)) for p in paths]
    candidates = []
    for path in paths:
        parents = [p.name for p in path.parents if p.name]
        names = []
        for last in (path.stem, path.name):  # the suffix only if it must
            names += [
                "-".join([*reversed(parents[:depth]), last])
                for depth in range(len(parents) + 1)
            ]
        candidates.append(names)
    level = [0] * len(paths)
    while True:
        keys = [names[i].casefold() for names, i in zip(candidates, level, strict=True)]
        groups = {}
        for index, key in enumerate(keys):
            groups.setdefault(key, []).append(index)
        clashes = [g for g in groups.values() if len(g) > 1]
        if not clashes:
            break
        moved = False
        for group in clashes:
            for index in group:
                if level[index] + 1 < len(candidates[index]):
                    level[index] += 1
                    moved = True
        if not moved:
            same = [str(paths[i]) for i in clashes[0]]
            raise ValueError(f"the same input is listed twice: {', '.join(same)}")
    return [
        Path(out_dir) / names[i] for names, i in zip(candidates, level, strict=True)
    ]


def input_identity(path) -> dict:
    """What identifies an input file: size, modification time, head hash.

    Returns
    -------
    identity : dict
        ``{"size": bytes, "mtime_ns": int, "head_sha256": hex digest of the
        first IDENTITY_HEAD_BYTES}``. Two identities are the same input when
        sizes and hashes agree and, for a file longer than its hashed head,
        the modification times too.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        head = handle.read(IDENTITY_HEAD_BYTES)
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "head_sha256": hashlib.sha256(head).hexdigest(),
    }


def _same_input(old, new) -> bool:
    if not isinstance(old, dict):
        return False
    if (old.get("size"), old.get("head_sha256")) != (new["size"], new["head_sha256"]):
        return False
    return new["size"] <= IDENTITY_HEAD_BYTES or old.get("mtime_ns") == new["mtime_ns"]


def _plain(value):
    """A JSON-able stand-in for a parameter value, stable across runs."""
    if isinstance(value, BaseEstimator):
        return type(value).__name__  # its parameters are listed as name__param
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def _settings(separator, audio_format, sr, mono, parameters) -> dict:
    """Everything that decides a folder's contents, as JSON would return it."""
    separator_parameters = {
        name: _plain(value)
        for name, value in sorted(separator.get_params(deep=True).items())
        if name.rsplit("__", 1)[-1] != "n_jobs"  # speed, not results
    }
    settings = {
        "separator": separator_parameters,
        "audio_format": str(audio_format).lower(),
        "sr": sr,
        "mono": bool(mono),
        "parameters": _plain(dict(parameters or {})),
    }
    return json.loads(json.dumps(settings))


def _flat(settings: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in settings.items():
        # the separator's and the caller's parameters go by their own names
        name = key if prefix in ("", "separator", "parameters") else f"{prefix}.{key}"
        if isinstance(value, dict) and value and key != "solo":
            flat.update(_flat(value, key if not prefix else name))
        else:
            flat[name] = value
    return flat


def _differences(old, new) -> list[str]:
    """``"name: old then, new now"`` for each setting that differs."""
    if not isinstance(old, dict):
        return ["no settings recorded (an older version's summary)"]
    if old == new:
        return []
    flat_old, flat_new = _flat(old), _flat(new)
    found = [
        f"{key}: {flat_old.get(key)!r} then, {flat_new.get(key)!r} now"
        for key in sorted(set(flat_old) | set(flat_new), key=str)
        if flat_old.get(key) != flat_new.get(key)
    ]
    return found or ["the recorded settings differ"]


def separate_file(
    path,
    out_dir,
    separator,
    *,
    overwrite=False,
    audio_format="wav",
    figure=True,
    stage=None,
    sr=None,
    mono=False,
    parameters=None,
    source_names=None,
    folder=None,
) -> dict:
    """Separate one audio file into its output folder; return its summary.

    Loads ``path``, separates it with ``separator.separate`` and writes each
    source as soon as it is resynthesized (one source waveform in memory at a
    time), then the figure, then ``summary.json``, by the protocol of the
    module notes.

    Parameters
    ----------
    path : str or path-like
        Audio file, any format :func:`skl_sepnmf.io.load_audio` reads.
    out_dir : str or path-like
        Folder of all outputs; this file's go to :func:`output_folder`
        ``(path, out_dir)`` (or ``folder``), created if needed.
    separator : SpectrogramSeparator
        Blind, or fitted when ``blind=False``. Its ``separate`` is called on
        the waveform (``n_jobs`` does not apply: parallelize over files).
    overwrite : bool, default=False
        Redo a file whose folder holds a summary.json, and replace source files
        of an earlier run (all of them are removed first). Without it, a folder
        done with the same settings and input is skipped; one done with other
        settings or from another input is an :class:`OutputMismatchError`; one
        with source files or a figure but no summary (and no in-progress
        marker) is an :class:`OutputExistsError`.
    audio_format : str, default="wav"
        Extension of the source files, a format libsndfile writes (``"wav"``,
        ``"flac"``, ...), in its default subtype, except that a float-coded
        input (32- or 64-bit float WAV, AIFF, ...) gives 32-bit float sources
        where the format has them, and a source beyond full scale is written
        as float rather than clipped (:func:`skl_sepnmf.io.write_audio`): the
        sources still sum to the mixture. An input beyond full scale cannot be
        written to an integer-only format (FLAC): an :class:`InputError` says
        so before any work.
    figure : bool, default=True
        Draw components.png (spectra and activations of the first channel) with
        matplotlib's current backend; skipped when matplotlib is not installed.
        With no component or no frame to draw (a silent or very short input)
        the figure is a placeholder saying so. A program without a display may
        select the ``"Agg"`` backend first (the command line does).
    stage : callable, default=None
        ``stage(name)`` is called as each stage starts (``"load"``,
        ``"factorize"``, ``"resynthesize"``, ``"figure"``), e.g. to show
        progress.
    sr : int, default=None
        Resample the input to this rate; None keeps the file's rate.
    mono : bool, default=False
        Mix the input's channels down first.
    parameters : dict, default=None
        Entries recorded in ``summary["parameters"]`` in place of those read
        from the separator (e.g. the command line's names for the method and
        the mask); part of the settings a rerun is compared on.
    source_names : list of str, default=None
        File names (without suffix) of the sources, one per source, e.g. the
        instruments of the solo recordings in trained mode; None names them
        ``source_<k>``.
    folder : str or path-like, default=None
        The output folder itself, e.g. from :func:`output_folders` for a batch
        whose inputs share names; None is :func:`output_folder`.

    Returns
    -------
    summary : dict
        What summary.json holds: ``"input"``, ``"input_identity"``
        (:func:`input_identity`), ``"settings"`` (compared on a rerun),
        ``"sample_rate"``, ``"channels"``, ``"seconds"``, ``"parameters"``
        (``method``: the estimator's class name, ``n_components``,
        ``n_sources``, ``mask``, ``power``, ``n_fft``, ``hop_length``),
        ``"sources"`` (file names), ``"subtype"`` (of the source files),
        ``"selected_frames"`` and ``"selected_times"`` (separable estimators),
        ``"figure"`` (file name or None), ``"warnings"`` (messages, e.g. a
        silent input) and ``"timings_seconds"``. For a skipped file, only
        ``{"input": ..., "skipped": reason}``.

    Raises
    ------
    InputError
        The input cannot be read, or the output folder or a source cannot be
        written (the message names the file and says why: missing, read-only,
        disk full); :class:`OutputExistsError` or :class:`OutputMismatchError`
        when results of an earlier run would be replaced;
        :class:`FolderBusyError` when another process is writing the folder.
    ValueError
        ``audio_format`` is not a format libsndfile writes.

    Warns
    -----
    UserWarning
        The separator's warnings (e.g. fewer components found than asked), and
        a silent input (its sources are silent); each is also recorded in
        ``summary["warnings"]``.

    See Also
    --------
    skl_sepnmf.SpectrogramSeparator.separate : the separation of one waveform.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skl_sepnmf import SNPA, SpectrogramSeparator
    >>> from skl_sepnmf.batch import separate_file
    >>> from skl_sepnmf.datasets import make_mixture
    >>> from skl_sepnmf.io import write_audio
    >>> mixture, _, sr = make_mixture(n_sources=2, duration=2.0, random_state=0)
    >>> separator = SpectrogramSeparator(SNPA(n_components=2), n_fft=512)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     song = write_audio(Path(folder) / "song.wav", mixture, sr)
    ...     summary = separate_file(song, Path(folder) / "out", separator, figure=False)
    ...     again = separate_file(song, Path(folder) / "out", separator, figure=False)
    >>> summary["sources"], again["skipped"]
    (['source_0.wav', 'source_1.wav'], 'already separated (summary.json)')
    """
    import soundfile as sf

    if str(audio_format).upper() not in sf.available_formats():
        raise ValueError(
            f"audio_format must be a format libsndfile writes "
            f"({', '.join(sorted(f.lower() for f in sf.available_formats()))}); "
            f"got {audio_format!r}."
        )
    path = Path(path)
    stage = stage or (lambda name: None)
    out = Path(folder) if folder is not None else output_folder(path, out_dir)
    try:
        identity = input_identity(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such audio file.") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not an audio file.") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror}).") from None
    settings = _settings(separator, audio_format, sr, mono, parameters)
    with _output_folder(out) as lock:
        done = _check_folder(out, identity, settings, overwrite, figure)
        if done is not None:
            return {"input": str(path), "skipped": done}
        return _separate_into(
            path,
            out,
            lock,
            separator,
            identity,
            settings,
            audio_format=audio_format,
            figure=figure,
            stage=stage,
            sr=sr,
            mono=mono,
            parameters=parameters,
            source_names=source_names,
        )


def _separate_into(
    path,
    out,
    lock,
    separator,
    identity,
    settings,
    *,
    audio_format,
    figure,
    stage,
    sr,
    mono,
    parameters,
    source_names,
) -> dict:
    """The work of :func:`separate_file` once the folder is locked and checked."""
    import soundfile as sf

    timings = {}
    stage("load")
    start = time.perf_counter()
    try:
        y, rate = load_audio(path, sr=sr, mono=mono)
        coding = sf.info(os.fsencode(path)).subtype
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        raise InputError(str(error)) from None
    timings["load"] = time.perf_counter() - start
    subtype = _source_subtype(path, y, coding, audio_format)

    stage("factorize")
    start = time.perf_counter()
    if separator.get_params().get("sr", rate) != rate:
        # solo segments in seconds and the timbre features' mel axis need the
        # file's own rate
        separator = clone(separator).set_params(sr=rate)
    messages = []
    if not np.any(y):
        messages.append(f"{path}: the input is silent: every source is silent")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        separation = separator.separate(y)
    for caught_warning in caught:
        messages.append(str(caught_warning.message))
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=3)
    timings["factorize"] = time.perf_counter() - start
    n_channels = 1 if y.ndim == 1 else y.shape[0]
    seconds = y.shape[-1] / rate

    names = _source_names(source_names, separation.n_sources)
    targets = [out / f"{name}.{audio_format}" for name in names]
    lock.keep()  # from here on the folder holds our files
    _mark_and_retire(out)
    stage("resynthesize")
    timings["resynthesize"] = timings["write"] = 0.0
    written = []
    # Each source is resynthesized when asked for and written at once, then
    # dropped before the next is made (no zip: its result tuple would keep the
    # previous source alive): one source waveform in memory at a time.
    for target in targets:
        start = time.perf_counter()
        source = next(separation.sources)
        timings["resynthesize"] += time.perf_counter() - start
        start = time.perf_counter()
        try:
            write_audio(target, source, rate, overwrite=True, subtype=subtype)
        except OSError as error:
            raise InputError(f"{target}: {_cause(error)}") from None
        except ValueError as error:  # beyond full scale for an integer format
            raise InputError(str(error)) from None
        timings["write"] += time.perf_counter() - start
        del source
        written.append(target.name)

    estimator = separation.estimator
    if estimator is None:
        # grouping="recordings": one estimator per solo recording (all alike),
        # their templates pooled; none of them selected frames of this input
        template, components = separator.estimators_[0], separator.components_
    else:
        template, components = estimator, estimator.components_
    hop = separation.stft.hop_length
    # rows of the activations are channel 0's frames, then channel 1's, ...
    activations = separation.activations
    n_frames = activations.shape[0] // n_channels
    summary = {
        "input": str(path),
        "input_identity": identity,
        "settings": settings,
        "sample_rate": rate,
        "channels": n_channels,
        "seconds": seconds,
        "parameters": {
            "method": type(template).__name__,
            "n_components": template.get_params()["n_components"],
            "n_sources": separator.n_sources,
            "mask": "none" if separator.mask is None else separator.mask,
            "power": separator.power,
            "sharing": separator.sharing,
            "n_fft": separation.stft.n_fft,
            "hop_length": hop,
            # the window and hop in time, at this file's rate
            "n_fft_ms": round(separation.stft.n_fft / rate * 1000, 2),
            "hop_length_ms": round(hop / rate * 1000, 2),
        }
        | dict(parameters or {}),
        "sources": written,
        "subtype": subtype or sf.default_subtype(str(audio_format).upper()),
    }
    if estimator is not None and hasattr(estimator, "indices_"):
        # rows of X stack the channels' frames: row i is frame i % n_frames
        frames = (estimator.indices_ % n_frames).tolist()
        summary["selected_frames"] = frames
        summary["selected_times"] = [round(f * hop / rate, 4) for f in frames]
    if separation.solo_frames is not None:
        # guided by solos (named, or found by solo_segments="auto"): how much
        # of each source's solo the separation used, in seconds
        summary["solo_seconds"] = [
            round(np.unique(rows % n_frames).size * hop / rate, 3)
            for rows in separation.solo_frames
        ]
    # whether the sharing parameter applied (components grouped by timbre)
    summary["shared_components"] = separation.memberships is not None
    # what made the groups: what grouping="auto" chose, "solos" when guided
    grouped_by = separation.grouping
    summary["grouped_by"] = (
        grouped_by
        if grouped_by is None or isinstance(grouped_by, str)
        else type(grouped_by).__name__
    )
    summary["figure"] = None
    if figure:
        stage("figure")
        start = time.perf_counter()
        try:
            summary["figure"] = _figure(
                components, activations[:n_frames], rate, hop, out / FIGURE
            )
        except OSError as error:
            raise InputError(f"{out / FIGURE}: {_cause(error)}") from None
        timings["figure"] = time.perf_counter() - start
    summary["warnings"] = messages
    summary["timings_seconds"] = {k: round(v, 4) for k, v in timings.items()}
    try:
        _write_json(out / SUMMARY, summary)
    except OSError as error:
        raise InputError(f"{out / SUMMARY}: {_cause(error)}") from None
    (out / INCOMPLETE).unlink()
    return summary


def _source_names(names, n_sources) -> list:
    """``names`` checked as file names of ``n_sources`` sources (or source_<k>)."""
    if names is None:
        return [f"source_{k}" for k in range(n_sources)]
    names = [str(name) for name in names]
    if len(names) != n_sources:
        raise ValueError(f"{len(names)} source names for {n_sources} sources.")
    for name in names:
        if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
            raise ValueError(
                f"source name {name!r} is not a file name (empty, hidden or "
                "with a path separator)."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be distinct, got {names}.")
    return names


def _cause(error: OSError) -> str:
    """What happened, without the file name the caller gives."""
    if error.errno == 28 or "no space left" in str(error).lower():
        return "cannot be written (no space left on the device)"
    return f"cannot be written ({error.strerror or error})"


def _source_subtype(path: Path, y, coding: str, audio_format: str):
    """The sources' subtype: float for a float-coded input where the format
    has it; an InputError when the input exceeds what the format can hold."""
    import soundfile as sf

    file_format = str(audio_format).upper()
    has_float = "FLOAT" in sf.available_subtypes(file_format)
    if coding in ("FLOAT", "DOUBLE") and has_float:
        return "FLOAT"
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 1 and not has_float:
        raise InputError(
            f"{path}: samples reach {peak:.3g}, beyond full scale (1.0): "
            f"{file_format} stores integers and would clip the sources; "
            "write WAV (float) instead, or scale the input down"
        )
    return None  # the format's default; write_audio turns to float beyond 1.0


def _write_json(path: Path, data) -> None:
    """Atomic: a summary that exists is a complete one."""
    with atomic_write(path, overwrite=True) as temporary:
        temporary.write_text(json.dumps(data, indent=2))


def _old_outputs(out: Path) -> list[Path]:
    """The files a run of ours writes: sources (any format, ``source_<k>`` or
    named in its summary, as trained mode names them), figure, summary, and
    the report and scores made from them."""
    if not out.is_dir():
        return []
    named = set()
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        named = {
            str(name) for name in json.loads((out / SUMMARY).read_text())["sources"]
        }
    ours = {SUMMARY, FIGURE, REPORT, SCORES}
    return sorted(
        p
        for p in out.iterdir()
        if p.name in ours
        or p.name in named
        or (p.suffix.lower() in AUDIO_SUFFIXES and _SOURCE_FILE.fullmatch(p.stem))
    )


def _check_folder(out: Path, identity, settings, overwrite, figure) -> str | None:
    """Decide before any work: the reason to skip a done folder, None to go
    on, or an error for a folder that must not be touched."""
    summary_path = out / SUMMARY
    marked = (out / INCOMPLETE).exists()
    if overwrite or marked:
        return None
    if summary_path.exists():
        try:
            old = json.loads(summary_path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            raise OutputMismatchError(out, ["summary.json cannot be read"]) from None
        differences = []
        if not _same_input(old.get("input_identity"), identity):
            then = old.get("input", "an unrecorded input")
            differences.append(f"input: {then} then, another file or content now")
        differences += _differences(old.get("settings"), settings)
        listed = list(old.get("sources") or []) + [old.get("figure")] * bool(figure)
        differences += [
            f"{name} is missing"
            for name in listed
            if name and not (out / name).exists()
        ]
        if differences:
            raise OutputMismatchError(out, differences)
        return "already separated (summary.json)"
    existing = [p.name for p in _old_outputs(out)]
    if existing:
        raise OutputExistsError(out, existing)
    return None


def _mark_and_retire(out: Path) -> None:
    """Mark the folder in progress, then remove every output of an earlier run
    (the summary first) and leftover temporaries."""
    try:
        old_outputs = _old_outputs(out)  # read the old summary's names first
        (out / INCOMPLETE).touch()
        with contextlib.suppress(FileNotFoundError):
            (out / SUMMARY).unlink()
        for old in old_outputs:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        for leftover in out.glob(f".*{TEMPORARY_SUFFIX}"):
            leftover.unlink()
    except OSError as error:
        raise InputError(
            f"{out}: cannot write the output folder ({error.strerror})"
        ) from None


class _FolderLock:
    """The lock of one output folder, and whether the folder is kept after."""

    def __init__(self):
        self.kept = False

    def keep(self):
        self.kept = True


@contextlib.contextmanager
def _output_folder(out: Path):
    """Create ``out`` if needed and hold its lock; on the way out, release it
    and remove the folders this call created if nothing was kept in them."""
    created = []
    for folder in [out, *out.parents]:
        if folder.exists():
            break
        created.append(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"{out}: cannot create the output folder ({error.strerror})"
        ) from None
    state = _FolderLock()
    try:
        with _locked(out):
            yield state
    finally:
        if not state.kept:
            for folder in created:  # innermost first
                try:
                    folder.rmdir()
                except OSError:  # not empty (someone else's), or gone
                    break


@contextlib.contextmanager
def _locked(out: Path):
    """Hold ``out / LOCK`` (``fcntl.flock``) or raise FolderBusyError.

    Without ``fcntl`` (Windows) folders are not locked: run one process per
    output folder there.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return

    lock = out / LOCK
    while True:
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise InputError(
                f"{out}: cannot write the output folder ({error.strerror})"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 32).decode(errors="replace").strip()
            os.close(descriptor)
            raise FolderBusyError(out, holder) from None
        # the holder before us removes the file on release: if it did so after
        # we opened it, we hold a lock on a file nobody else will see
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(descriptor).st_ino:
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()  # before unlocking: a waiter then sees a new file
        os.close(descriptor)


def _figure(components, activations, sr, hop_length, path: Path) -> str | None:
    """components.png: spectra and activations (of the first channel), or a
    placeholder saying why there is nothing to draw."""
    try:
        import matplotlib.pyplot as plt

        from .plotting import plot_components
    except ImportError:
        return None  # the plot extra is not installed
    if components.shape[0] == 0 or activations.shape[0] == 0:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            "No components to draw: the input is silent or shorter than one frame.",
            ha="center",
            va="center",
        )
    else:
        fig = plot_components(components, activations, sr=sr, hop_length=hop_length)
    try:
        with atomic_write(path, overwrite=True) as temporary:
            fig.savefig(temporary, format="png", dpi=80)
    finally:
        plt.close(fig)
    return path.name
