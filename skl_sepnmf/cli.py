"""The ``skl-sepnmf`` command: separate audio files, evaluate separations.

Argument parsing, progress and error reporting only: the work is done by
:func:`skl_sepnmf.batch.separate_file` (one input into its output folder),
:func:`skl_sepnmf.datasets.load_stems` and :mod:`skl_sepnmf.metrics`.

Exit codes: 0 every input done, 1 some input failed (the others are still
done), 2 usage error: every option is checked once, before any file is read.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
from soundfile import available_formats

from . import __version__
from ._grouping import DEFAULT_GROUPING, GROUPINGS, SHARINGS, check_solo_segments
from ._masks import MASKS as _MASKS
from ._masks import mask_parameter
from ._nmf import NMF
from ._report import write_report
from ._separable import SEPARABLE, SNPA
from ._separator import (
    DEFAULT_N_COMPONENTS,
    DEFAULT_RANK,
    SpectrogramSeparator,
    default_nmf,
)
from ._spectral import default_n_fft
from .batch import (
    InputError,
    OutputExistsError,
    OutputMismatchError,
    output_folders,
    separate_file,
)
from .datasets import load_stems, make_mixture, stem_files
from .io import load_audio, write_audio
from .metrics import separation_scores

METHODS = {**SEPARABLE, "nmf": NMF}
# the output formats offered: those of these that this libsndfile writes
AUDIO_FORMATS = [f for f in ("wav", "flac", "ogg") if f.upper() in available_formats()]
RATES = (16000, 22050, 44100)  # for the help's milliseconds
MASKS = {name: mask_parameter(name) for name in _MASKS}
DEFAULT_METHOD = "default"
DEMO_NAME = "demo"

SEPARATE_EXAMPLES = """examples:
  skl-sepnmf separate --demo -o separated
  skl-sepnmf separate song.flac -o separated --n-sources 4
  skl-sepnmf separate *.wav -o out --method nmf --n-components 12 --n-sources 3 --jobs 2
  skl-sepnmf separate live.wav -o out --mask binary --n-fft 4096 --hop-length 1024
  skl-sepnmf separate duet.wav -o out --solo viola=0-3.3 --solo tuba=3.3-6.6
"""
EVALUATE_EXAMPLES = """examples:
  skl-sepnmf evaluate separated/song data/song_stems
  skl-sepnmf evaluate separated/song data/song_stems --metric sdr --json
"""
# the table's columns, in order, and their names
EVALUATE_COLUMNS = {
    "snr": "SNR",
    "si_sdr": "SI-SDR",
    "sdr": "SDR",
    "sir": "SIR",
    "sar": "SAR",
}


# glibc's malloc: keep freed blocks up to 32 MiB in the heap instead of
# unmapping them, and trim the heap only beyond 128 MiB of free space.
MALLOC_SETTINGS = {"MMAP_THRESHOLD": 32 * 2**20, "TRIM_THRESHOLD": 128 * 2**20}
_MALLOPT_CODES = {"TRIM_THRESHOLD": -1, "MMAP_THRESHOLD": -3}  # from malloc.h


def _keep_freed_blocks_mapped() -> None:
    """On glibc, stop returning every freed block of a few MB to the system.

    Resynthesis allocates and frees arrays of a few MB for every block of
    frames. With glibc's adaptive defaults these are often unmapped (or
    trimmed) at each free and faulted back in at the next allocation: on 10
    minutes of stereo, 8.5 s of resynthesis instead of 5.4 s, for the same
    peak memory (measured with the MALLOC_*_ environment variables). Only the
    command does this, for itself and (through the environment) for its
    worker processes: a library must not change its host's allocator.
    """
    for name, value in MALLOC_SETTINGS.items():
        os.environ.setdefault(f"MALLOC_{name}_", str(value))
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): leave it
        return
    for name, value in MALLOC_SETTINGS.items():
        mallopt(_MALLOPT_CODES[name], value)


def _parser():
    parser = argparse.ArgumentParser(
        prog="skl-sepnmf",
        description="Blind music source separation with separable NMF.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    separate = commands.add_parser(
        "separate",
        help="separate audio files into sources",
        description=(
            "Separate each input into sources. For each input: "
            "DIR/<input name>/source_<k>.<format>, components.png (spectra and "
            "activations) and summary.json; inputs of the same name get their "
            "parent folders' names too (DIR/<parent>-<name>). Inputs whose "
            "summary.json records the same options and input are skipped; other "
            "options or another input are refused (use --overwrite to redo them: "
            "the old outputs are removed first)."
        ),
        epilog=SEPARATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    separate.add_argument("files", nargs="*", type=Path, help="audio files to separate")
    separate.add_argument(
        "-o", "--output", type=Path, required=True, help="output folder"
    )
    separate.add_argument(
        "--demo",
        action="store_true",
        help="separate a synthetic demo mixture (3 instruments, one pitch each: "
        "--method snpa unless --method is given)",
    )
    separate.add_argument(
        "--method",
        choices=[DEFAULT_METHOD, *sorted(METHODS)],
        default=DEFAULT_METHOD,
        help=f"factorization ({DEFAULT_METHOD}: the separator's default, KL-NMF of "
        f"rank {DEFAULT_RANK} grouped by --grouping with --n-sources, SNPA of rank "
        f"{DEFAULT_N_COMPONENTS} without)",
    )
    separate.add_argument(
        "--n-components",
        type=_positive_int,
        help=f"rank (default: {DEFAULT_RANK} for --method {DEFAULT_METHOD} with "
        f"--n-sources, else --n-sources, else {DEFAULT_N_COMPONENTS})",
    )
    separate.add_argument(
        "--n-sources",
        type=_positive_int,
        help="group the components into this many sources (default: one source "
        "per component)",
    )
    separate.add_argument(
        "--mask",
        choices=sorted(MASKS),
        default="soft",
        help="how the sources are made from the mixture's STFT: soft (ratio mask "
        "of the source models to the power --power; the sources sum to the "
        "mixture), binary (each time-frequency bin to its strongest source) or "
        "none (the notebook's method: each source's model magnitude with the "
        "mixture's phase) (default %(default)s)",
    )
    separate.add_argument(
        "--grouping",
        choices=sorted(GROUPINGS),
        default=DEFAULT_GROUPING,
        help="how --n-sources groups the components into sources: auto "
        "(patterns where each source is one sound repeated, else timbre), timbre "
        "(what the templates sound like at any pitch, and which voices sound "
        "together), patterns (a rank --n-sources NMF of their model), spectra or "
        "activations (default %(default)s)",
    )
    separate.add_argument(
        "--sharing",
        choices=list(SHARINGS),
        default=SpectrogramSeparator().sharing,
        help="how each grouped component goes to the sources: soft (shared by its "
        "timbre agreement with each group, its own group the largest share), "
        "voices (those shares weighed at each frame by the other notes each "
        "source plays there) or hard (whole to its group) (default %(default)s)",
    )
    separate.add_argument(
        "--solo",
        action="append",
        type=_solo_segment,
        metavar="SOURCE=START-END",
        help="guided mode: SOURCE plays alone from START to END, in seconds "
        "(repeat for each source and segment; source_<k> follows the order in "
        "which the sources are first named)",
    )
    separate.add_argument(
        "--find-solos",
        action="store_true",
        help="blind solo anchoring (needs --n-sources): find the stretches where "
        "each source plays alone and separate as if they were given with --solo; "
        "when some source never plays alone, the blind separation is kept",
    )
    separate.add_argument(
        "--solo-recording",
        action="append",
        type=_solo_recording,
        metavar="SOURCE=PATH",
        help="trained mode: PATH is a solo recording of SOURCE (repeat, one per "
        "source); the templates are learned from the recordings (at rank "
        "--n-components each, default "
        f"{DEFAULT_N_COMPONENTS}) and the output files are named after the "
        "sources (SOURCE.<format>)",
    )
    separate.add_argument(
        "--power",
        type=_positive_float,
        default=SpectrogramSeparator().power,
        help="exponent (unitless) of the source models in the soft mask: 1 is "
        "the magnitude ratio, 2 the Wiener (power) ratio, larger is closer to "
        "binary (default %(default)s)",
    )
    separate.add_argument(
        "--phase",
        choices=["mixture", "griffinlim"],
        default="mixture",
        help="phase of the sources: the mixture's (default) or estimated by "
        "Griffin-Lim from each source's magnitude (--n-iter iterations)",
    )
    separate.add_argument(
        "--n-iter",
        type=_positive_int,
        default=SpectrogramSeparator().n_iter,
        help="Griffin-Lim iterations with --phase griffinlim (default %(default)s)",
    )
    separate.add_argument(
        "--n-fft",
        type=_positive_int,
        help="STFT window length, in samples (default: the power of two closest "
        "to 93 ms at the file's rate: "
        + ", ".join(
            f"{n_fft} at {rate} Hz ({n_fft / rate * 1000:.0f} ms)"
            for rate, n_fft in ((rate, default_n_fft(rate)) for rate in RATES)
        )
        + "); longer resolves close pitches, shorter sharp onsets (the window "
        "in ms at the file's rate is recorded in summary.json)",
    )
    separate.add_argument(
        "--hop-length",
        type=_positive_int,
        help="samples between STFT frames (default: n_fft // 4, e.g. 512 samples "
        "= 23 ms at 22050 Hz)",
    )
    separate.add_argument(
        "--sr",
        type=_positive_int,
        help="resample inputs to this rate, in Hz (default: each file's own)",
    )
    separate.add_argument(
        "--mono", action="store_true", help="mix the channels down first"
    )
    separate.add_argument(
        "--format",
        choices=AUDIO_FORMATS,
        default="wav",
        help="audio format of the sources: wav (the input's channels, 16-bit "
        "PCM), flac (lossless, 16-bit)"
        + (", ogg (Ogg Vorbis, lossy)" if "ogg" in AUDIO_FORMATS else "")
        + " (default %(default)s)",
    )
    separate.add_argument(
        "--report",
        action="store_true",
        help="also write report.html in each output folder: the mixture and "
        "each source as players, the components figure, the parameters and "
        "timings (viewable offline in a browser)",
    )
    separate.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="input files separated in parallel (processes)",
    )
    separate.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs"
    )
    separate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    separate.add_argument("--debug", action="store_true", help="tracebacks on errors")

    evaluate = commands.add_parser(
        "evaluate",
        help="score separated files against reference stems",
        description=(
            "Match the audio files of ESTIMATES_DIR (e.g. source_*.wav) one-to-one "
            "to the reference stems of REFERENCES_DIR (a file named mix.* is "
            "skipped) and print SNR and SI-SDR per reference (and BSS Eval's "
            "SDR, SIR and SAR with --metric sdr)."
        ),
        epilog=EVALUATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("estimates", type=Path, metavar="ESTIMATES_DIR")
    evaluate.add_argument("references", type=Path, metavar="REFERENCES_DIR")
    evaluate.add_argument(
        "--metric",
        choices=["snr", "si_sdr", "sdr"],
        default="snr",
        help="the metric (dB) the one-to-one matching maximizes; the others are "
        "reported for the same pairs. snr (default): 10 log10 of signal over error "
        "energy, the 'global SDR' of the MDX challenges; si_sdr: scale-invariant "
        "SDR; sdr: BSS Eval v3 (mir_eval's bss_eval_sources, matched on SIR), "
        "adding the SDR, SIR and SAR columns (needs fast_bss_eval, about 0.1 s "
        "per pair of sources and 10 s of audio)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the table as JSON")
    evaluate.add_argument(
        "--report",
        action="store_true",
        help="add the score table to ESTIMATES_DIR/report.html (written from its "
        "summary.json; scores.json keeps the table)",
    )
    evaluate.add_argument("--debug", action="store_true", help="tracebacks on errors")
    return parser


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _solo_segment(text):
    """``NAME=START-END`` (seconds) -> (NAME, (START, END))."""
    name, equals, span = text.partition("=")
    start, dash, end = span.partition("-")
    try:
        if not (name and equals and dash):
            raise ValueError
        return name, (float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SOURCE=START-END in seconds (e.g. violin=0-3.3), got {text!r}"
        ) from None


def _solo_recording(text):
    """``NAME=PATH`` -> (NAME, PATH)."""
    name, equals, path = text.partition("=")
    if not (name and equals and path):
        raise argparse.ArgumentTypeError(
            f"expected SOURCE=PATH (e.g. violin=solos/violin.wav), got {text!r}"
        )
    return name, Path(path)


def _solo_segments(pairs) -> dict:
    """The --solo pairs as {source name: its segments}, the sources in the
    order they are first named (empty without --solo)."""
    segments = {}
    for name, segment in pairs or ():
        segments.setdefault(name, []).append(segment)
    return segments


def _positive_float(text):
    value = float(text)
    if not 0 < value < np.inf:
        raise argparse.ArgumentTypeError(
            f"must be a finite positive number, got {text}"
        )
    return value


def _solo_recordings(pairs) -> dict:
    """The --solo-recording pairs as {source name: path}, in the given order."""
    recordings = {}
    for name, path in pairs or ():
        if name in recordings:
            raise InputError(f"--solo-recording: source {name!r} is given twice")
        recordings[name] = path
    return recordings


def _trained_separator(args, path) -> SpectrogramSeparator:
    """Trained mode: the separator fitted on the solo recordings, at the rate
    of ``path`` (or --sr): one fit per rate and process."""
    import soundfile as sf

    recordings = _solo_recordings(args.solo_recording)
    if args.solo:
        raise InputError("--solo-recording and --solo are two modes: give one")
    if args.n_sources and args.n_sources != len(recordings):
        raise InputError(
            f"--n-sources {args.n_sources} but {len(recordings)} --solo-recording"
        )
    try:
        rate = args.sr or sf.info(str(path)).samplerate
    except (OSError, RuntimeError, sf.LibsndfileError):
        rate = None  # unreadable: separate_file reports it, naming the file
    key = (rate, tuple(recordings.items()))
    if key not in _TRAINED:
        solos = []
        for name, solo in recordings.items():
            try:
                # the templates are spectra: the channels are mixed down
                solos.append(load_audio(solo, sr=rate, mono=True)[0])
            except (FileNotFoundError, ValueError) as error:
                raise InputError(f"--solo-recording {name}: {error}") from None
        if args.method == DEFAULT_METHOD:
            estimator = SNPA(n_components=args.n_components or DEFAULT_N_COMPONENTS)
        else:
            estimator = METHODS[args.method](
                n_components=args.n_components or DEFAULT_N_COMPONENTS
            )
        separator = _configured(
            SpectrogramSeparator(estimator, blind=False, grouping="recordings"), args
        ).set_params(sr=rate or SpectrogramSeparator().sr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rank found below asked
            _TRAINED[key] = separator.fit(solos)
    return _TRAINED[key]


_TRAINED = {}  # fitted trained-mode separators of this process, by rate


def _configured(separator, args) -> SpectrogramSeparator:
    """The STFT, mask and phase options set on ``separator``."""
    return separator.set_params(
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        mask=MASKS[args.mask],
        power=args.power,
        phase=args.phase,
        n_iter=args.n_iter,
        random_state=0,
    )


class UsageError(Exception):
    """A bad option, found before any file is read: exit 2."""


def _checked_separator(args) -> SpectrogramSeparator:
    """The separator of the options, every one checked once, before any file
    is read (what does not depend on a file must not fail per file)."""
    try:
        separator = _separator(args)
        separator._validate_params()
        separator._resolved()  # STFT sizes, solo segments, grouping
    except (InputError, ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: exists and is not a folder")
    return separator


def _separator(args) -> SpectrogramSeparator:
    solo_segments = list(_solo_segments(args.solo).values()) or None
    n_sources = args.n_sources or (len(solo_segments) if solo_segments else None)
    if args.find_solos:
        if solo_segments is not None:
            raise InputError("--find-solos and --solo are two modes: give one")
        if args.solo_recording:
            raise InputError(
                "--solo-recording and --find-solos are two modes: give one"
            )
        if not args.n_sources:
            raise InputError(
                "--find-solos needs --n-sources: the solos found are those of "
                "the blind separation's sources"
            )
        solo_segments = "auto"
    if args.method == DEFAULT_METHOD and n_sources:
        n_components = args.n_components or DEFAULT_RANK
        estimator = default_nmf(n_components) if args.n_components else None
    else:
        n_components = args.n_components or n_sources or DEFAULT_N_COMPONENTS
        method = SNPA if args.method == DEFAULT_METHOD else METHODS[args.method]
        estimator = method(n_components=n_components)
    if n_sources and n_sources > n_components:
        raise InputError(
            f"--n-sources {n_sources} is more than --n-components {n_components}"
        )
    if solo_segments not in (None, "auto"):
        try:
            check_solo_segments(solo_segments, args.n_sources)
        except ValueError as error:
            raise InputError(f"--solo: {error}") from None
    return _configured(
        SpectrogramSeparator(
            estimator,
            solo_segments=solo_segments,
            n_sources=n_sources,
            grouping=args.grouping,
            sharing=args.sharing,
        ),
        args,
    )


def _headless_figures() -> None:
    """Draw the figures off screen (the library leaves the backend alone).

    Through matplotlib's environment variable, read when it is first imported,
    so that matplotlib is imported by the figure stage only (0.5 s otherwise
    spent before every separation); ``matplotlib.use`` when it already is.
    """
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    else:
        os.environ["MPLBACKEND"] = "Agg"


def _attempt(path, folder, args, stage=None):
    """Separate one input; never raise: return (path, summary, error)."""
    try:
        recordings = _solo_recordings(args.solo_recording)
        if recordings:
            separator = _trained_separator(args, path)
        else:
            separator = _separator(args)
        _headless_figures()
        with warnings.catch_warnings():
            # NMF convergence, rank found below asked: the summary records them
            warnings.simplefilter("ignore")
            summary = separate_file(
                path,
                args.output,
                separator,
                folder=folder,
                overwrite=args.overwrite,
                audio_format=args.format,
                stage=stage,
                sr=args.sr,
                mono=args.mono,
                parameters={
                    "method": args.method,
                    "mask": args.mask,
                    "grouping": "recordings" if recordings else args.grouping,
                    "solo": _solo_segments(args.solo),
                    "find_solos": args.find_solos,
                    "solo_recordings": {k: str(v) for k, v in recordings.items()},
                    "phase": args.phase,
                    "n_iter": args.n_iter if args.phase == "griffinlim" else None,
                }
                # trained mode: one source per recording (the separator's
                # n_sources stays None, its groups are the recordings)
                | ({"n_sources": len(recordings)} if recordings else {}),
                source_names=list(recordings) or None,
            )
        if args.report:
            write_report(folder, mixture=path)
        return path, summary, None
    except OutputMismatchError as error:
        message = f"{error.reason}; use --overwrite to redo it, or another -o"
        return path, None, f"{error.folder}: {message}"
    except OutputExistsError as error:
        message = f"{error.reason}; use --overwrite to replace"
        return path, None, f"{error.folder}: {message}"
    except InputError as error:
        return path, None, str(error)
    except Exception as error:  # any other failure of one input: report, go on
        if args.debug:
            return path, None, traceback.format_exc()
        return path, None, f"{type(error).__name__}: {error}"


def _demo_input(output: Path) -> Path:
    """Write (or find) DIR/demo.wav; never over a file the demo did not make."""
    import io

    import soundfile as sf

    mixture, _, sr = make_mixture(n_sources=3, random_state=0)
    wanted = io.BytesIO()
    sf.write(wanted, mixture, sr, format="WAV")
    demo = output / f"{DEMO_NAME}.wav"
    if demo.exists():
        if demo.is_file() and demo.read_bytes() == wanted.getvalue():
            return demo  # the demo's own, from an earlier run
        raise InputError(
            f"{demo} exists and is not the demo's mixture: it is left alone; "
            "remove it or choose another -o"
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
        write_audio(demo, mixture, sr)
    except OSError as error:
        raise InputError(f"{demo}: cannot be written ({error.strerror})") from None
    return demo


def _run_separate(args) -> int:
    files = list(args.files)
    if args.demo:
        if args.n_sources is None:
            args.n_sources = 3
        if args.method == DEFAULT_METHOD:
            # one pitch per instrument, each heard alone: separable at rank 3,
            # where SNPA picks one solo frame per instrument (14 dB) and the
            # many-note default does not (2 dB, benchmarks/results/quality.md)
            args.method = "snpa"
    _checked_separator(args)
    if not files and not args.demo:
        raise UsageError("no input files (give FILES or --demo)")
    # the same file named twice is separated once
    unique = {}
    for path in files:
        unique.setdefault(os.path.realpath(path), path)
    files = list(unique.values())
    if args.demo:
        files.insert(0, _demo_input(args.output))
    folders = dict(zip(files, output_folders(files, args.output), strict=True))
    from joblib import Parallel, delayed
    from tqdm import tqdm

    _keep_freed_blocks_mapped()

    bar = tqdm(total=len(files), unit="file", disable=args.quiet, file=sys.stderr)

    def show_stage(path):
        # one job runs in this process: its stages can go on the bar (worker
        # processes get no callback; the bar cannot be sent to them)
        return lambda name: bar.set_postfix_str(f"{path.name}: {name}")

    failures = 0
    results = Parallel(n_jobs=args.jobs, return_as="generator_unordered")(
        delayed(_attempt)(
            path, folders[path], args, show_stage(path) if args.jobs == 1 else None
        )
        for path in files
    )
    with bar:
        for path, summary, error in results:
            bar.update()
            if error is not None:
                failures += 1
                tqdm.write(f"skl-sepnmf: {path}: {error}", file=sys.stderr)
                continue
            for message in summary.get("warnings", ()):
                tqdm.write(f"skl-sepnmf: warning: {message}", file=sys.stderr)
            if not args.quiet:
                state = summary.get("skipped") or f"{len(summary['sources'])} sources"
                tqdm.write(f"{path} -> {folders[path]}: {state}", file=sys.stderr)
    return 1 if failures else 0


def _load_folder(folder: Path, mixture_name):
    """The audio files of ``folder`` (but the mixture), all of one shape."""
    try:
        paths = stem_files(folder, mixture_name=mixture_name)
        _, signals, sr, _ = load_stems(paths, truncate=False)
    except (OSError, ValueError) as error:
        raise InputError(str(error)) from None
    return paths, signals, sr


def _run_evaluate(args) -> int:
    estimate_paths, estimates, est_sr = _load_folder(args.estimates, None)
    reference_paths, references, ref_sr = _load_folder(args.references, "mix")
    if est_sr != ref_sr or estimates.shape[1:] != references.shape[1:]:
        raise InputError(
            f"estimates {estimates.shape[1:]} at {est_sr} Hz and references "
            f"{references.shape[1:]} at {ref_sr} Hz differ in rate, channels or length"
        )
    table = separation_scores(references, estimates, metric=args.metric)
    columns = [c for c in EVALUATE_COLUMNS if c in table]
    rows = [
        {
            "reference": reference_paths[i].name,
            "estimate": estimate_paths[j].name if j >= 0 else None,
        }
        | {f"{c}_db": round(float(table[c][i]), 3) for c in columns}
        for i, j in zip(table["reference"], table["estimate"], strict=True)
    ]
    mean = {f"{c}_db": round(float(np.mean(table[c])), 3) for c in columns}
    result = {"metric": args.metric, "sources": rows, "mean": mean}
    if args.report:
        try:
            write_report(args.estimates, scores=result)
        except (FileNotFoundError, OSError) as error:
            raise InputError(f"--report: {error}") from None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    width = max(len(r["reference"]) for r in rows) + 2
    heads = "".join(f" {EVALUATE_COLUMNS[c] + ' dB':>10s}" for c in columns)
    print(f"{'reference':{width}s} {'estimate':16s}{heads}")
    for r in rows:
        values = "".join(f" {r[c + '_db']:10.2f}" for c in columns)
        print(f"{r['reference']:{width}s} {str(r['estimate']):16s}{values}")
    values = "".join(f" {mean[c + '_db']:10.2f}" for c in columns)
    print(f"{'mean':{width}s} {'':16s}{values}")
    basis = (
        "SIR, as BSS Eval" if args.metric == "sdr" else EVALUATE_COLUMNS[args.metric]
    )
    print(f"(matched one-to-one on {basis})")
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # file names that are not valid UTF-8 reach the messages as surrogates
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        if args.command == "separate":
            return _run_separate(args)
        return _run_evaluate(args)
    except UsageError as error:
        print(f"skl-sepnmf {args.command}: error: {error}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"skl-sepnmf {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skl-sepnmf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
