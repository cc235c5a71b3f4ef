"""Speed of the factorizations, side by side in one run.

Times, on three magnitude spectrograms (rank 7, the notebook's):

* ``SNPA`` and ``GreedySNPA`` (this package, Gram-only kernels),
* the literal line-by-line port of the reference (``reference_port.py``: forms
  the m x n residual every step, recomputes ``U^T M`` in every FGM call),
* scikit-learn's ``NMF`` (coordinate descent, its defaults) and NMF with the
  Kullback-Leibler loss and multiplicative updates,

and checks that the package and the port select identical indices.  Reports the
median of ``--repeats`` runs and ratios measured in this same run, and saves the
table with the machine's description under ``benchmarks/results/``.

Spectrograms (n_fft=4096, hop_length=1024, hann, centered):

* ``seed``: the notebook's 7-source mixture by the seed protocol (22050 Hz,
  2049 x 345);
* ``1 min`` / ``3 min``: 44.1 kHz audio made of the seed recordings (mono mix)
  and the dev mixtures resampled to 44.1 kHz (90 s), tiled to length with a
  317 / 711 sample offset and gains 0.8 / 0.6 so that no frame repeats exactly.

Run: ``python benchmarks/bench_factorization.py [--repeats 3] [--quick]``
(``--quick``: seed spectrogram only, for a smoke test).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import librosa
import numpy as np
import sklearn
import soundfile as sf
from sklearn.decomposition import NMF as SklearnNMF
from threadpoolctl import threadpool_info

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import reference_port  # noqa: E402

from skl_sepnmf import SNPA, GreedySNPA  # noqa: E402
from skl_sepnmf._selection import snpa_select  # noqa: E402
from skl_sepnmf.datasets import SEED_SOURCES, load_seed_mixture  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
RANK = 7
N_FFT, HOP = 4096, 1024
# The literal greedy port costs one m x n x n product per pick: too slow to
# repeat on 3 minutes (about a minute a run), so it runs up to 1 minute.
PORT_GREEDY_MAX_FRAMES = 3000


def magnitude_frames(y):
    """|STFT|.T: one row per frame, as librosa.decompose.decompose passes it."""
    return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)).T


def long_track(seconds, sr=44100):
    parts = []
    seed = [
        sf.read(DATA / "seed" / f"{name}.flac", dtype="float32")[0]
        for name in SEED_SOURCES
    ]
    parts.append(np.sum([s.mean(axis=1) for s in seed], axis=0) / len(seed))
    for folder in sorted((DATA / "dev").iterdir()):
        y, rate = sf.read(folder / "mix.flac", dtype="float32")
        parts.append(librosa.resample(y, orig_sr=rate, target_sr=sr))
    track = np.concatenate(parts)
    tiled = np.concatenate([track, 0.8 * track[317:], 0.6 * track[711:]])
    return tiled[: int(seconds * sr)]


def spectrograms(quick):
    mixture, _, _ = load_seed_mixture(DATA / "seed")
    found = {"seed": magnitude_frames(mixture)}
    if not quick:
        three_minutes = long_track(180)
        found["1 min"] = magnitude_frames(three_minutes[: 60 * 44100])
        found["3 min"] = magnitude_frames(three_minutes)
    return found


def timed(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def machine():
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024**2:.1f} GiB"
    blas = ", ".join(
        f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info()
    )
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": __import__("os").cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "librosa": librosa.__version__,
        "blas": blas,
    }


def run(repeats, quick):
    rows = []
    for name, X in spectrograms(quick).items():
        # Both sides get the same array: X = |STFT|.T (float32, as librosa gives
        # it); the port takes M = X.T and converts to float64 inside its timing,
        # as the estimators do.
        M = X.T
        n_frames = X.shape[0]
        print(f"{name}: {M.shape[0]} bins x {n_frames} frames", flush=True)
        t_snpa, snpa = timed(lambda X=X: SNPA(RANK).fit(X), repeats)
        X64 = np.asarray(X, dtype=np.float64)
        t_kernel, (kernel_idx, _) = timed(
            lambda X64=X64: snpa_select(X64, RANK), repeats
        )
        t_port, (port_idx, _) = timed(lambda M=M: reference_port.snpa(M, RANK), repeats)
        t_greedy, greedy = timed(lambda X=X: GreedySNPA(RANK).fit(X), repeats)
        entries = [
            ("SNPA", t_snpa, None, None),
            (
                "SNPA selection kernel only (float64 X)",
                t_kernel,
                None,
                np.array_equal(kernel_idx, snpa.indices_),
            ),
            (
                "SNPA, literal port",
                t_port,
                t_port / t_snpa,
                np.array_equal(port_idx, snpa.indices_),
            ),
            ("GreedySNPA (full)", t_greedy, None, None),
        ]
        if n_frames <= PORT_GREEDY_MAX_FRAMES:
            t_gport, (gport_idx, _) = timed(
                lambda M=M: reference_port.greedy(M, RANK), max(1, repeats // 2)
            )
            entries.append(
                (
                    "GreedySNPA, literal port",
                    t_gport,
                    t_gport / t_greedy,
                    np.array_equal(gport_idx, greedy.indices_),
                )
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            t_cd, _ = timed(lambda X=X: SklearnNMF(RANK).fit(X), repeats)
            t_kl, _ = timed(
                lambda X=X: SklearnNMF(
                    RANK, solver="mu", beta_loss="kullback-leibler"
                ).fit(X),
                repeats,
            )
        entries.append(("sklearn NMF (cd, Frobenius)", t_cd, t_cd / t_snpa, None))
        entries.append(("sklearn NMF (mu, KL)", t_kl, t_kl / t_snpa, None))
        for method, seconds, ratio, same in entries:
            rows.append(
                {
                    "spectrogram": name,
                    "shape": f"{M.shape[0]} x {n_frames}",
                    "method": method,
                    "seconds": seconds,
                    "ratio": ratio,
                    "same_indices": same,
                }
            )
            print(f"  {method:32s} {seconds:8.3f} s", flush=True)
    return rows


def markdown(rows, info, repeats):
    lines = [
        "# Factorization speed (rank 7)",
        "",
        f"Median of {repeats} runs; ratio = that row's time / this package's time "
        "on the same spectrogram, in the same run (SNPA for the SNPA port and the "
        "NMF rows, GreedySNPA for the greedy port). 'same indices': the port "
        "selects exactly the frames this package selects. Every method gets the "
        "same float32 X = |STFT|.T (the port its transpose) and converts it "
        "inside its timing; 'selection kernel only' times snpa_select on an "
        "already float64 X, without validation or activations.",
        "",
        "| spectrogram | bins x frames | method | seconds | ratio | same indices |",
        "|---|---|---|---:|---:|:---:|",
    ]
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        same = {None: "", True: "yes", False: "**NO**"}[row["same_indices"]]
        lines.append(
            f"| {row['spectrogram']} | {row['shape']} | {row['method']} | "
            f"{row['seconds']:.3f} | {ratio} | {same} |"
        )
    lines += ["", "Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows = run(args.repeats, args.quick)
    info = machine()
    table = markdown(rows, info, args.repeats)
    print(table)
    if not args.quick:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "factorization.md").write_text(table)
        (args.output / "factorization.json").write_text(
            json.dumps(
                {"machine": info, "repeats": args.repeats, "rows": rows}, indent=2
            )
        )


if __name__ == "__main__":
    main()
