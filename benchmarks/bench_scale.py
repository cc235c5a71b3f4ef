"""Scale: end-to-end speed, the CLI's memory from 1 to 10 minutes, GreedySNPA.

Three tables, saved with the machine's description under benchmarks/results/:

1. **End to end**, a 3-minute 44.1 kHz stereo track, 7 sources, SNPA, soft
   masks, n_fft=4096: ``SpectrogramSeparator.fit_transform`` side by side, in
   the same run, with the straightforward pipeline of the notebook written with
   librosa and scikit-learn (``librosa.stft``, ``librosa.decompose.decompose``
   with the same SNPA estimator, the seven soft masks as whole arrays, a loop
   of ``librosa.istft``). Real-time factor = audio seconds / wall seconds.
2. **The CLI** (``skl-sepnmf separate --n-sources 7 --method snpa --power 1
   --n-fft 4096``: the configuration these figures were first measured with,
   before the defaults became KL-NMF(50) with power 0.5; one fresh
   process per run, figure included) on 1, 2, 5 and 10-minute stereo WAV files:
   time and peak resident memory (``VmHWM`` of that process), and a
   least-squares line through them (growth per minute, largest deviation).
3. **GreedySNPA** (rank 7, defaults) on the magnitude frames of 1, 3, 10 and
   30 minutes of 44.1 kHz mono audio (n_fft=4096, hop 1024), one process each:
   fit time, peak resident memory and the path its n x n frame Gram matrix
   took (:func:`skl_sepnmf._selection.plan_gram`: float64 or float32 in
   memory within the default budget, blockwise beyond).

Audio: the seven seed recordings (44.1 kHz stereo, 16 s each), each circularly
shifted by its own random offset on every 16-second repeat, summed and scaled
by 1/7, so that no frame repeats exactly.

Run: ``python benchmarks/bench_scale.py [--repeats 3] [--quick] [--parts ...]``
(``--quick``: 20 s of audio, 1 minute of CLI, nothing saved, a smoke test;
``--parts end_to_end,cli``: rerun those tables, keep the saved greedy one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import scipy.fft
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine, timed  # noqa: E402

from skl_sepnmf import SNPA, SpectrogramSeparator  # noqa: E402
from skl_sepnmf.datasets import SEED_SOURCES  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
SR, N_FFT, HOP, RANK = 44100, 4096, 1024, 7

# Run in a fresh interpreter: print a result, wall seconds (after imports) and
# the process's peak resident set size in KiB. The peak is VmHWM, not
# ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by
# this (large) process would report at least this process's own peak.
_PEAK = """
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
_CLI_PROBE = (
    _PEAK
    + """
import sys, time
from skl_sepnmf.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
print("PROBE", code, seconds, peak_kib())
"""
)
_IMPORT_PROBE = (
    _PEAK
    + """
import matplotlib.pyplot
from skl_sepnmf.cli import main
print("PROBE", 0, 0.0, peak_kib())
"""
)
_GREEDY_PROBE = (
    _PEAK
    + """
import json, sys, time, warnings
import numpy as np
from skl_sepnmf import GreedySNPA
from skl_sepnmf._selection import gram_budget_bytes, plan_gram
frames = np.load(sys.argv[1])
plan = plan_gram(frames.shape[0], gram_budget_bytes(None))
start = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    estimator = GreedySNPA(n_components=int(sys.argv[2])).fit(frames)
seconds = time.perf_counter() - start
notes = [str(w.message) for w in caught if "Gram matrix" in str(w.message)]
print("PLAN", json.dumps({"path": plan.path, "gram_bytes": plan.gram_bytes,
                          "cached_rows": plan.cached_rows, "warning": notes}))
print("PROBE", estimator.n_components_, seconds, peak_kib())
"""
)


def seed_track(seconds: float, seed: int = 0) -> np.ndarray:
    """``(2, seconds * 44100)`` float32: the seed recordings, shifted and summed."""
    stems = [
        sf.read(DATA / "seed" / f"{name}.flac", dtype="float32", always_2d=True)[0].T
        for name in SEED_SOURCES
    ]
    period = min(s.shape[1] for s in stems)
    stems = np.stack([s[:, :period] for s in stems])
    rng = np.random.default_rng(seed)
    n_times = int(seconds * SR)
    repeats = -(-n_times // period)
    track = np.empty((2, repeats * period), dtype=np.float32)
    for r in range(repeats):
        shifts = rng.integers(period, size=len(stems))
        segment = sum(
            np.roll(s, k, axis=-1) for s, k in zip(stems, shifts, strict=True)
        )
        track[:, r * period : (r + 1) * period] = segment / len(stems)
    return track[:, :n_times]


def notebook_pipeline(y: np.ndarray) -> np.ndarray:
    """The notebook's method, straightforwardly: every array whole."""
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP)
    components, activations = librosa.decompose.decompose(
        np.abs(stft), transformer=SNPA(n_components=RANK)
    )
    models = [components[..., k, None] * activations[k] for k in range(RANK)]
    total = np.maximum(np.sum(models, axis=0), np.finfo(np.float32).tiny)
    return np.stack(
        [
            librosa.istft(
                stft * (model / total), n_fft=N_FFT, hop_length=HOP, length=y.shape[-1]
            )
            for model in models
        ]
    )


def fft_floor(y: np.ndarray, n_sources: int, stft_config) -> float:
    """Seconds of the FFTs any STFT-masking separation of y must compute: one
    forward STFT of every channel, one inverse FFT per source and channel, with
    scipy.fft on every core, and nothing else (no factorization, no masks, no
    overlap-add)."""
    n_fft, hop = stft_config.n_fft, stft_config.hop_length
    window = stft_config.fft_window.astype(y.dtype)
    start = time.perf_counter()
    for channel in y:
        padded = np.pad(channel, n_fft // 2)
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
        spectra = scipy.fft.rfft(frames * window, axis=-1, workers=-1)
        for _ in range(n_sources):
            scipy.fft.irfft(spectra, n=n_fft, axis=-1, workers=-1)
    return time.perf_counter() - start


def end_to_end(seconds: float, repeats: int) -> list[dict]:
    y = seed_track(seconds)
    # power 1: the same ratio masks as the straightforward pipeline's
    separator = SpectrogramSeparator(
        SNPA(n_components=RANK), n_fft=N_FFT, mask="soft", power=1
    )

    def streamed():
        separation = separator.separate(y)
        middle = time.perf_counter()
        for source in separation.sources:
            del source
        return middle

    # one untimed call of each first: lazy imports (scipy.signal for the
    # window, ...) are a once-per-process cost, reported by the CLI table
    separator.fit_transform(y[None, :, : 10 * SR])
    notebook_pipeline(y[:, : 10 * SR])
    rows = []
    ours, sources = timed(lambda: separator.fit_transform(y[None])[0], repeats)
    theirs, reference = timed(lambda: notebook_pipeline(y), repeats)
    floor = statistics.median(
        fft_floor(y, RANK, separator.stft_) for _ in range(repeats)
    )
    start = time.perf_counter()
    middle = streamed()
    factorize, resynthesize = middle - start, time.perf_counter() - middle
    # both are SNPA(7) soft masks: the sources must sum to the mixture
    for name, seconds_taken, result in [
        ("skl_sepnmf SpectrogramSeparator.fit_transform", ours, sources),
        ("notebook pipeline (librosa + scikit-learn)", theirs, reference),
    ]:
        error = float(np.abs(result.sum(axis=0) - y).max())
        rows.append(
            {
                "pipeline": name,
                "audio_seconds": seconds,
                "seconds": seconds_taken,
                "real_time_factor": seconds / seconds_taken,
                "ratio": seconds_taken / ours,
                "floor_ratio": seconds_taken / floor,
                "max_abs(sum of sources - mixture)": error,
                "relative(sum of sources - mixture)": error / float(np.abs(y).max()),
            }
        )
    rows.append(
        {
            "pipeline": "FFT floor: scipy.fft forward STFT of each channel, "
            "inverse FFT per source and channel",
            "audio_seconds": seconds,
            "seconds": floor,
            "real_time_factor": seconds / floor,
            "ratio": floor / ours,
            "floor_ratio": 1.0,
        }
    )
    rows.append(
        {
            "pipeline": "skl_sepnmf separate(): factorize | resynthesize (one run)",
            "audio_seconds": seconds,
            "seconds": factorize + resynthesize,
            "split": [factorize, resynthesize],
        }
    )
    return rows


def _probe(code: str, *argv: str) -> tuple[int, float, int, float]:
    """(result, seconds inside, peak RSS KiB, wall seconds of the process)."""
    return _probe_lines(code, *argv)[:4]


def _probe_lines(code: str, *argv: str):
    """:func:`_probe`'s figures, and the child's whole standard output."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    line = next(ln for ln in completed.stdout.splitlines() if ln.startswith("PROBE"))
    _, result, seconds, peak = line.split()
    return int(result), float(seconds), int(peak), wall, completed.stdout


def _line_fit(x, y) -> dict:
    slope, intercept = np.polyfit(x, y, 1)
    deviation = np.abs(np.polyval([slope, intercept], x) - y).max()
    return {"per_minute": slope, "intercept": intercept, "max_deviation": deviation}


def cli_growth(minutes_list, folder: Path) -> dict:
    _, _, baseline, _ = _probe(_IMPORT_PROBE)
    rows = [{"minutes": 0, "seconds": 0.0, "peak_rss_mib": baseline / 1024}]
    track = seed_track(max(minutes_list) * 60)
    for minutes in minutes_list:
        path = folder / f"track_{minutes}min.wav"
        sf.write(path, track[:, : int(minutes * 60 * SR)].T, SR, subtype="PCM_16")
        code, seconds, peak, wall = _probe(
            _CLI_PROBE,
            "separate",
            str(path),
            "-o",
            str(folder / "out"),
            "--n-sources",
            str(RANK),
            "--method",
            "snpa",
            "--power",
            "1",
            "--n-fft",
            str(N_FFT),
            "--overwrite",
            "-q",
        )
        if code != 0:
            raise RuntimeError(f"the CLI failed on {path} (exit {code})")
        summary = json.loads((folder / "out" / path.stem / "summary.json").read_text())
        rows.append(
            {
                "minutes": minutes,
                "seconds": seconds,
                "stages": summary["timings_seconds"],
                "process_seconds": wall,
                "peak_rss_mib": peak / 1024,
                "real_time_factor": minutes * 60 / seconds,
            }
        )
        print(f"  CLI {minutes:>4} min: {seconds:7.2f} s, {peak / 1024:7.0f} MiB")
    measured = [r for r in rows if r["minutes"] > 0]
    x = [r["minutes"] for r in measured]
    return {
        "rows": rows,
        "time_fit": _line_fit(x, [r["seconds"] for r in measured]),
        "memory_fit": _line_fit(x, [r["peak_rss_mib"] for r in measured]),
    }


def greedy_growth(minutes_list, folder: Path) -> list[dict]:
    mono = seed_track(max(minutes_list) * 60).mean(axis=0)
    rows = []
    for minutes in minutes_list:
        y = mono[: int(minutes * 60 * SR)]
        frames = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)).T.copy()
        path = folder / f"frames_{minutes}min.npy"
        np.save(path, frames)
        n = frames.shape[0]
        del frames
        selected, seconds, peak, _, out = _probe_lines(
            _GREEDY_PROBE, str(path), str(RANK)
        )
        plan = json.loads(
            next(ln for ln in out.splitlines() if ln.startswith("PLAN"))[5:]
        )
        rows.append(
            {
                "minutes": minutes,
                "frames": n,
                "gram": plan["path"],
                "gram_kept_gib": plan["gram_bytes"] / 1024**3,
                "cached_rows": plan["cached_rows"],
                "warning": plan["warning"],
                "seconds": seconds,
                "peak_rss_mib": peak / 1024,
                "selected": selected,
            }
        )
        print(
            f"  GreedySNPA {minutes:>4} min ({n} frames, {plan['path']}): "
            f"{seconds:8.2f} s, {peak / 1024:7.0f} MiB",
            flush=True,
        )
        path.unlink()
    return rows


def markdown(results, info, repeats) -> str:
    e2e, cli, greedy = results["end_to_end"], results["cli"], results["greedy"]
    lines = [
        "# Scale",
        "",
        "## End to end: 3-minute 44.1 kHz stereo, 7 sources, SNPA, soft masks, "
        "n_fft=4096",
        "",
        f"Median of {repeats} runs of each, in the same run; ratio = that time / "
        "this package's; / floor = that time / the FFT floor's (the FFTs alone: "
        "a forward STFT of each channel and an inverse FFT per source and "
        "channel, scipy.fft on every core); real-time factor = audio seconds / "
        "wall seconds. The last column checks that the soft-masked sources sum "
        "to the mixture (max abs difference, relative to the mixture's peak).",
        "",
        "| pipeline | seconds | real-time factor | ratio | / floor | sum - mix |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    timed_rows = [row for row in e2e if "split" not in row]
    for row in timed_rows:
        floor_ratio = row.get("floor_ratio")
        relative = row.get("relative(sum of sources - mixture)")
        lines.append(
            f"| {row['pipeline']} | {row['seconds']:.2f} | "
            f"{row['real_time_factor']:.0f}x | {row['ratio']:.1f}x | "
            + ("" if floor_ratio is None else f"{floor_ratio:.1f}x")
            + " | "
            + ("" if relative is None else f"{relative:.1e}")
            + " |"
        )
    split = next(row for row in e2e if "split" in row)["split"]
    lines += [
        "",
        f"Where the time goes (one run of `separate()`): STFT + factorization + "
        f"activations {split[0]:.2f} s, masks + inverse STFT of the 7 sources "
        f"{split[1]:.2f} s.",
        "",
        "## The CLI from 1 to 10 minutes (44.1 kHz stereo WAV, 7 sources, n_fft=4096)",
        "",
        "One fresh process per file; seconds from the call of the command's main "
        "function to its return (loading, separation, writing 7 WAV files, "
        "figure and summary); peak RSS = that process's VmHWM. Row 0: the "
        "interpreter with the command and matplotlib imported, nothing run.",
        "",
        "| minutes | seconds | real-time factor | load / factorize / resynthesize "
        "/ write / figure (s) | peak RSS (MiB) |",
        "|---:|---:|---:|---|---:|",
    ]
    for row in cli["rows"]:
        factor = f"{row['real_time_factor']:.0f}x" if row["minutes"] else ""
        stages = " / ".join(f"{v:.2f}" for v in row.get("stages", {}).values())
        lines.append(
            f"| {row['minutes']} | {row['seconds']:.2f} | {factor} | {stages} | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    tf, mf = cli["time_fit"], cli["memory_fit"]
    lines += [
        "",
        f"Least-squares lines over 1-10 minutes: time {tf['intercept']:.2f} s + "
        f"{tf['per_minute']:.2f} s/min (largest deviation {tf['max_deviation']:.2f} "
        f"s); memory {mf['intercept']:.0f} MiB + {mf['per_minute']:.0f} MiB/min "
        f"(largest deviation {mf['max_deviation']:.0f} MiB).",
        "",
        "## GreedySNPA (rank 7, refinement='full') on 44.1 kHz mono frames",
        "",
        "One fresh process per size; seconds = fit only; peak RSS includes the "
        "float32 frames loaded from disk. The Gram path: the n x n frame Gram "
        "matrix kept whole in float64 (up to 8,192 frames) or float32 (beyond; "
        "near-best scores re-scored in float64) when it fits the default budget "
        "(half the memory available at fit time), else `blockwise` (the rows "
        "that do not fit recomputed at every pick, after an EfficiencyWarning "
        "with the expected time).",
        "",
        "| minutes | frames | Gram path, memory kept | seconds | peak RSS (MiB) |",
        "|---:|---:|---|---:|---:|",
    ]
    for row in greedy:
        kept = row.get("gram_kept_gib", row.get("gram_gib"))
        lines.append(
            f"| {row['minutes']} | {row['frames']} | {row['gram']}, "
            f"{kept:.2f} GiB | {row['seconds']:.2f} | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    for row in greedy:
        for note in row.get("warning", []):
            lines += ["", f"{row['minutes']} minutes, the warning: {note}"]
    lines += ["", "Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


PARTS = ("end_to_end", "cli", "greedy")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated subset of %(default)s; the others are kept from "
        "the saved scale.json (GreedySNPA on 10 minutes takes about 15 minutes)",
    )
    parser.add_argument(
        "--greedy-minutes",
        default="1,3,10,30",
        help="sizes of the GreedySNPA table (default %(default)s; 30 minutes "
        "takes the blockwise path on a 24 GiB machine: see its warning's "
        "estimate in a first run of 10)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose among {PARTS}")
    saved = args.output / "scale.json"
    results = {}
    if set(parts) != set(PARTS) and not args.quick:
        results = {k: v for k, v in json.loads(saved.read_text()).items() if k in PARTS}
    seconds = 20 if args.quick else 180
    with tempfile.TemporaryDirectory() as folder:
        if "end_to_end" in parts:
            print(f"end to end, {seconds} s", flush=True)
            results["end_to_end"] = end_to_end(seconds, args.repeats)
        if "cli" in parts:
            print("CLI", flush=True)
            minutes = [1] if args.quick else [1, 2, 5, 10]
            results["cli"] = cli_growth(minutes, Path(folder))
        if "greedy" in parts:
            print("GreedySNPA", flush=True)
            minutes = (
                [0.5]
                if args.quick
                else [
                    float(m) if "." in m else int(m)
                    for m in args.greedy_minutes.split(",")
                ]
            )
            results["greedy"] = greedy_growth(minutes, Path(folder))
    info = machine()
    table = markdown(results, info, args.repeats)
    print(table)
    if not args.quick:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "scale.md").write_text(table)
        payload = {"machine": info, "repeats": args.repeats, **results}
        saved.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
