"""Separation where the STFT windows barely reach: the floor ``WEAK_WEIGHT``.

With ``center=False``, or a hop over a quarter of a Hann window, some samples
lie under the windows' tails only: the first and last ones, and with a hop
near the whole window those between two windows. Their overlap-added window
weight falls far below its mean (to zero on some). ``librosa.istft`` divides
by it, which amplifies a masked spectrum's inverse there; the separator
divides by at least ``WEAK_WEIGHT`` times the mean weight and gives each
source an equal share of what that leaves out of the mixture
(``skl_sepnmf._spectral.InverseSTFT.share_weak``).

Each real mixture of ``bench_quality.py`` (the seed mixture and
``../shared/data/dev``) is separated by ``SpectrogramSeparator(n_sources=k,
random_state=0)`` with each setting of ``SETTINGS`` (``n_fft`` its default at
the mixture's rate), once per floor of ``FLOORS``; floor 0 is librosa's
division (a floor of 1e-300 of the mean, below every nonzero weight).
Scores: mean SNR (dB) after one-to-one matching on SNR, as in
``bench_quality.py``; the mean over the mixtures per setting, the count of
mixtures below their floor (``mix / k``), and the largest source sample over
the mixture's peak.

Run: ``python benchmarks/bench_edges.py [--sets NAME ...]``. A full run saves
``benchmarks/results/edges.md`` and ``edges.json`` with the machine's
description; a ``--sets`` run saves ``edges-partial.*``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from sklearn.exceptions import ConvergenceWarning

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402
from bench_quality import SYNTHETIC, mixtures, selected  # noqa: E402
from bench_robustness import floor_snr  # noqa: E402

from skl_sepnmf import SpectrogramSeparator, _spectral  # noqa: E402
from skl_sepnmf._spectral import default_n_fft  # noqa: E402
from skl_sepnmf.metrics import separation_scores  # noqa: E402

# label: (center, hop as a fraction of the window)
SETTINGS = {
    "center=False": (False, 0.25),
    "hop 0.5 window": (True, 0.5),
    "hop 0.75 window": (True, 0.75),
    "hop 0.83 window": (True, 0.83),
    "hop 0.93 window": (True, 0.93),
    "hop = window": (True, 1.0),
}
FLOORS = (0.0, 0.001, 0.01, 0.03, 0.1)


def floor_label(floor):
    return "librosa's division" if floor == 0 else f"floor {floor:g}"


def separated(mixture, sr, n_sources, center, hop_fraction, floor):
    n_fft = default_n_fft(sr)
    separator = SpectrogramSeparator(
        n_sources=n_sources,
        sr=sr,
        random_state=0,
        n_fft=n_fft,
        hop_length=int(round(hop_fraction * n_fft)),
        center=center,
    )
    with (
        mock.patch.object(_spectral, "WEAK_WEIGHT", floor or 1e-300),
        warnings.catch_warnings(),
    ):
        # NMF stops at max_iter by design here
        warnings.simplefilter("ignore", ConvergenceWarning)
        return separator.fit_transform(mixture[None])[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        action="append",
        metavar="NAME",
        help="run the mixtures whose name contains NAME (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    results = {}
    for name, load in mixtures():
        if name == SYNTHETIC or not selected(name, args.sets):
            continue
        mixture, references, sr = load()
        entry = results[name] = {
            "n_sources": len(references),
            "floor": floor_snr(mixture, references),
            "scores": {},
        }
        peak = float(np.abs(mixture).max())
        for setting, (center, hop_fraction) in SETTINGS.items():
            for floor in FLOORS:
                estimates = separated(
                    mixture, sr, len(references), center, hop_fraction, floor
                )
                snr = float(separation_scores(references, estimates)["snr"].mean())
                overshoot = float(np.abs(estimates).max()) / peak
                entry["scores"][f"{setting} / {floor_label(floor)}"] = {
                    "snr": snr,
                    "peak_ratio": overshoot,
                }
                print(
                    f"{name:24s} {setting:16s} {floor_label(floor):20s} "
                    f"SNR {snr:7.2f}  peak / mixture's {overshoot:10.2f}",
                    flush=True,
                )
    info = machine()
    command = " ".join(["python", "benchmarks/bench_edges.py", *sys.argv[1:]])
    names = list(results)
    floors = np.array([results[n]["floor"] for n in names])
    labels = [floor_label(f) for f in FLOORS]
    lines = [
        "# Separation where the windows barely reach: the floor WEAK_WEIGHT",
        "",
        f"`{command}`. Mean SNR (dB) over {len(names)} real mixtures "
        f"(floor mix/k {floors.mean():.2f} dB), one-to-one matching on SNR; "
        "below: mixtures under their floor; peak: the largest source sample "
        "over the mixture's peak, the worst mixture. See the script's "
        "docstring.",
        "",
        "| setting | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    means = {}
    for setting in SETTINGS:
        cells = []
        for floor, label in zip(FLOORS, labels, strict=True):
            cell = [results[n]["scores"][f"{setting} / {label}"] for n in names]
            snr = np.array([c["snr"] for c in cell])
            means.setdefault(floor, []).append(snr.mean())
            cells.append(
                f"{snr.mean():.2f} ({int((snr < floors).sum())} below, peak "
                f"{max(c['peak_ratio'] for c in cell):.3g})"
            )
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    lines.append(
        "| **mean over the settings** | "
        + " | ".join(f"**{np.mean(means[f]):.2f}**" for f in FLOORS)
        + " |"
    )
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    stem = "edges" if args.sets is None else "edges-partial"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{stem}.md").write_text(text)
    document = {"command": command, "machine": info, "results": results}
    (args.output / f"{stem}.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
