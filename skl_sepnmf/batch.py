"""Separating audio files into output folders: the protocol ``skl-sepnmf`` uses.

One input file gives one folder, ``out_dir / <file name without suffix>``
(:func:`output_folder`), holding ``source_<k>.<format>`` (one audio file per
source, with the input's sample rate and channels), ``components.png``
(spectra and activations, when matplotlib is installed) and ``summary.json``
(parameters, input, selected frames, timings). The rules that make a batch
safe to interrupt and to rerun:

* **Done means summary.json.** It is written last; a folder with one is done
  and :func:`separate_file` skips it unless ``overwrite=True``.
* **In progress means a marker.** Before the first source is written the
  folder gets ``.skl-sepnmf-incomplete``, removed once summary.json exists. A
  folder still marked was left by an interrupted run: its files, and leftover
  ``.*.part`` temporaries, are redone without asking.
* **Nothing is overwritten without asking.** Source files in an unmarked
  folder are someone's results: replaced only with ``overwrite=True``, and
  checked before the marker is set, so that a refusal leaves no marker.
* **Every file is complete or absent**: each is written to a temporary and
  renamed (:func:`skl_sepnmf.io.atomic_write`).

The command line (``skl-sepnmf separate``) and ``examples/separate_collection.py``
both call :func:`separate_file`: a notebook or a cluster job runs exactly what
the command runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sklearn.base import clone

from .io import TEMPORARY_SUFFIX, atomic_write, load_audio, write_audio

SUMMARY = "summary.json"
INCOMPLETE = ".skl-sepnmf-incomplete"  # in an output folder until its summary
FIGURE = "components.png"


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

    def __init__(self, folder, names):
        self.folder = Path(folder)
        self.names = list(names)
        super().__init__(
            f"{self.folder}: {', '.join(self.names)} exist(s); "
            "pass overwrite=True to replace"
        )


def output_folder(path, out_dir) -> Path:
    """The folder :func:`separate_file` writes ``path``'s outputs to.

    Parameters
    ----------
    path : str or path-like
        The input file.
    out_dir : str or path-like
        The folder of all outputs.

    Returns
    -------
    folder : Path
        ``out_dir / <name of path without its suffix>``.

    Examples
    --------
    >>> from skl_sepnmf.batch import output_folder
    >>> output_folder("recordings/song.flac", "separated").as_posix()
    'separated/song'
    """
    return Path(out_dir) / Path(path).stem


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
        ``(path, out_dir)``, created if needed.
    separator : SpectrogramSeparator
        Blind, or fitted when ``blind=False``. Its ``separate`` is called on
        the waveform (``n_jobs`` does not apply: parallelize over files).
    overwrite : bool, default=False
        Redo a file whose folder holds a summary.json, and replace source files
        of an earlier run. Without it, a done folder is skipped and a folder
        with source files but no summary (and no in-progress marker) is an
        :class:`OutputExistsError`.
    audio_format : str, default="wav"
        Extension of the source files, a format libsndfile writes (``"wav"``,
        ``"flac"``, ...): the sources are written in its default subtype.
    figure : bool, default=True
        Draw components.png (spectra and activations of the first channel) with
        matplotlib's current backend; skipped when matplotlib is not installed.
        A program without a display may select the ``"Agg"`` backend first
        (the command line does).
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
        the mask).
    source_names : list of str, default=None
        File names (without suffix) of the sources, one per source, e.g. the
        instruments of the solo recordings in trained mode; None names them
        ``source_<k>``.

    Returns
    -------
    summary : dict
        What summary.json holds: ``"input"``, ``"sample_rate"``,
        ``"channels"``, ``"seconds"``, ``"parameters"`` (``method``: the
        estimator's class name, ``n_components``, ``n_sources``, ``mask``,
        ``power``, ``n_fft``, ``hop_length``), ``"sources"`` (file names),
        ``"selected_frames"`` and ``"selected_times"`` (separable estimators),
        ``"figure"`` (file name or None) and ``"timings_seconds"``. For a
        skipped file, only ``{"input": ..., "skipped": reason}``.

    Raises
    ------
    InputError
        The input cannot be read, or the output folder or a source cannot be
        written; :class:`OutputExistsError` when results of an earlier run
        would be replaced. The message names the file or folder.
    ValueError
        ``audio_format`` is not a format libsndfile writes.

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
    ...     again = separate_file(song, Path(folder) / "out", separator)
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
    out = output_folder(path, out_dir)
    if (out / SUMMARY).exists() and not overwrite:
        return {"input": str(path), "skipped": "already separated (summary.json)"}
    timings = {}
    stage("load")
    start = time.perf_counter()
    try:
        y, rate = load_audio(path, sr=sr, mono=mono)
    except (FileNotFoundError, ValueError) as error:
        raise InputError(str(error)) from None
    timings["load"] = time.perf_counter() - start

    stage("factorize")
    start = time.perf_counter()
    if separator.get_params().get("sr", rate) != rate:
        # solo segments in seconds and the timbre features' mel axis need the
        # file's own rate
        separator = clone(separator).set_params(sr=rate)
    separation = separator.separate(y)
    timings["factorize"] = time.perf_counter() - start
    n_channels = 1 if y.ndim == 1 else y.shape[0]
    seconds = y.shape[-1] / rate

    names = _source_names(source_names, separation.n_sources)
    targets = [out / f"{name}.{audio_format}" for name in names]
    _claim_output_folder(out, targets, overwrite)
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
            write_audio(target, source, rate, overwrite=True)  # claimed above
        except OSError as error:
            raise InputError(f"{target}: cannot be written ({error})") from None
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
        "sample_rate": rate,
        "channels": n_channels,
        "seconds": seconds,
        "parameters": {
            "method": type(template).__name__,
            "n_components": template.get_params()["n_components"],
            "n_sources": separator.n_sources,
            "mask": "none" if separator.mask is None else separator.mask,
            "power": separator.power,
            "n_fft": separation.stft.n_fft,
            "hop_length": hop,
            # the window and hop in time, at this file's rate
            "n_fft_ms": round(separation.stft.n_fft / rate * 1000, 2),
            "hop_length_ms": round(hop / rate * 1000, 2),
        }
        | dict(parameters or {}),
        "sources": written,
    }
    if estimator is not None and hasattr(estimator, "indices_"):
        # rows of X stack the channels' frames: row i is frame i % n_frames
        frames = (estimator.indices_ % n_frames).tolist()
        summary["selected_frames"] = frames
        summary["selected_times"] = [round(f * hop / rate, 4) for f in frames]
    summary["figure"] = None
    if figure:
        stage("figure")
        start = time.perf_counter()
        summary["figure"] = _figure(
            components, activations[:n_frames], rate, hop, out / FIGURE
        )
        timings["figure"] = time.perf_counter() - start
    summary["timings_seconds"] = {k: round(v, 4) for k, v in timings.items()}
    _write_json(out / SUMMARY, summary)
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


def _write_json(path: Path, data) -> None:
    """Atomic: a summary that exists is a complete one."""
    with atomic_write(path, overwrite=True) as temporary:
        temporary.write_text(json.dumps(data, indent=2))


def _claim_output_folder(out: Path, targets, overwrite: bool) -> None:
    """Check that ``targets`` may be written, then mark ``out`` as in progress.

    The marker stays until summary.json is written. A folder still marked was
    left by an interrupted run: its files (and leftover temporary ``.part``
    files) are ours to redo. Files in an unmarked folder are someone's
    results: replaced only with ``overwrite``, and checked before the marker
    is set, so a refusal leaves no marker behind.
    """
    marker = out / INCOMPLETE
    if not (overwrite or marker.exists()):
        existing = [t.name for t in targets if t.exists()]
        if existing:
            raise OutputExistsError(out, existing)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for leftover in out.glob(f".*{TEMPORARY_SUFFIX}"):
            leftover.unlink()
        marker.touch()
    except OSError as error:
        raise InputError(f"{out}: cannot write the output folder ({error})") from None


def _figure(components, activations, sr, hop_length, path: Path) -> str | None:
    """components.png: spectra and activations (of the first channel)."""
    try:
        import matplotlib.pyplot as plt

        from .plotting import plot_components
    except ImportError:
        return None  # the plot extra is not installed
    fig = plot_components(components, activations, sr=sr, hop_length=hop_length)
    try:
        with atomic_write(path, overwrite=True) as temporary:
            fig.savefig(temporary, format="png", dpi=80)
    finally:
        plt.close(fig)
    return path.name
