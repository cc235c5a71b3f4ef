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

from . import __version__
from ._grouping import DEFAULT_GROUPING, GROUPINGS, check_solo_segments
from ._masks import MASKS as _MASKS
from ._masks import mask_parameter
from ._nmf import NMF
from ._separable import SEPARABLE, SNPA
from ._separator import (
    DEFAULT_N_COMPONENTS,
    DEFAULT_RANK,
    SpectrogramSeparator,
    default_nmf,
)
from .batch import (
    InputError,
    OutputExistsError,
    OutputMismatchError,
    output_folders,
    separate_file,
)
from .datasets import load_stems, make_mixture, stem_files
from .io import write_audio
from .metrics import separation_scores

METHODS = {**SEPARABLE, "nmf": NMF}
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
  skl-sepnmf evaluate separated/song data/song_stems --json
"""


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
        f"rank {DEFAULT_RANK} grouped by timbre with --n-sources, SNPA of rank "
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
        help="group the components into this many sources",
    )
    separate.add_argument("--mask", choices=sorted(MASKS), default="soft")
    separate.add_argument(
        "--grouping",
        choices=sorted(GROUPINGS),
        default=DEFAULT_GROUPING,
        help="how --n-sources groups the components",
    )
    separate.add_argument(
        "--solo",
        action="append",
        type=_solo_segment,
        metavar="SOURCE=START-END",
        help="guided mode: SOURCE plays alone from START to END seconds "
        "(repeat for each source and segment; source_<k> follows the order in "
        "which the sources are first named)",
    )
    separate.add_argument(
        "--power",
        type=_positive_float,
        default=SpectrogramSeparator().power,
        help="soft-mask exponent (default %(default)s)",
    )
    separate.add_argument("--n-fft", type=_positive_int, default=2048)
    separate.add_argument(
        "--hop-length", type=_positive_int, help="default: n_fft // 4"
    )
    separate.add_argument(
        "--sr", type=_positive_int, help="resample inputs to this rate"
    )
    separate.add_argument(
        "--mono", action="store_true", help="mix the channels down first"
    )
    separate.add_argument("--format", choices=["wav", "flac"], default="wav")
    separate.add_argument(
        "--jobs", type=_positive_int, default=1, help="files in parallel"
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
            "skipped) and print SNR and SI-SDR per reference."
        ),
        epilog=EVALUATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("estimates", type=Path, metavar="ESTIMATES_DIR")
    evaluate.add_argument("references", type=Path, metavar="REFERENCES_DIR")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
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
    if solo_segments is not None:
        try:
            check_solo_segments(solo_segments, args.n_sources)
        except ValueError as error:
            raise InputError(f"--solo: {error}") from None
    return SpectrogramSeparator(
        estimator,
        solo_segments=solo_segments,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        mask=MASKS[args.mask],
        power=args.power,
        n_sources=n_sources,
        grouping=args.grouping,
        random_state=0,
    )


def _headless_figures() -> None:
    """Draw the figures off screen (the library leaves the backend alone)."""
    try:
        import matplotlib
    except ImportError:  # the plot extra is not installed: no figures
        return
    matplotlib.use("Agg")


def _attempt(path, folder, args, stage=None):
    """Separate one input; never raise: return (path, summary, error)."""
    try:
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
                    "grouping": args.grouping,
                    "solo": _solo_segments(args.solo),
                },
            )
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
    table = separation_scores(references, estimates)
    rows = [
        {
            "reference": reference_paths[i].name,
            "estimate": estimate_paths[j].name if j >= 0 else None,
            "snr_db": round(float(snr), 3),
            "si_sdr_db": round(float(si_sdr), 3),
        }
        for i, j, snr, si_sdr in zip(
            table["reference"],
            table["estimate"],
            table["snr"],
            table["si_sdr"],
            strict=True,
        )
    ]
    mean = {
        "snr_db": round(float(np.mean(table["snr"])), 3),
        "si_sdr_db": round(float(np.mean(table["si_sdr"])), 3),
    }
    if args.json:
        print(json.dumps({"sources": rows, "mean": mean}, indent=2))
        return 0
    width = max(len(r["reference"]) for r in rows) + 2
    print(f"{'reference':{width}s} {'estimate':16s} {'SNR dB':>8s} {'SI-SDR dB':>10s}")
    for r in rows:
        print(
            f"{r['reference']:{width}s} {str(r['estimate']):16s} "
            f"{r['snr_db']:8.2f} {r['si_sdr_db']:10.2f}"
        )
    print(f"{'mean':{width}s} {'':16s} {mean['snr_db']:8.2f} {mean['si_sdr_db']:10.2f}")
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
