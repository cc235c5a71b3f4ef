"""Separation quality on mixtures no default was chosen on: recombined stems.

The defaults were chosen on the 11 mixtures of ``bench_quality.py``; this
checks that what they learned carries over to other ensembles. Each mixture
here sums 2 to 4 stems of ``../shared/data/dev`` taken from *different*
pieces and of different instruments (so the voices are unrelated in time and
harmony, unlike any dev mixture), cut to the shortest stem and at most 15 s,
each stem scaled to the same RMS. The draw is fixed (``numpy`` seed 12, 16
mixtures): the same mixtures on every run, so two commits compare row by row.

Columns: the floor (``mix / k`` for every source), the ideal ratio mask (the
ceiling), the notebook's configuration, whole templates with power-0.5 masks
(``KL-NMF(50) hard p0.5``: the defaults before shared components, but with the
octave check of the fundamentals added since), ``grouping="timbre"``
(``KL-NMF(50) timbre``, what ``"auto"`` falls back to), the same shares at
every frame (``KL-NMF(50) soft``: the defaults before ``sharing="voices"``)
and the defaults, the same
functions as ``bench_quality.py``; mean SNR and SI-SDR (dB) after one-to-one
matching on SNR, the mean, the mean improvement over the floor, the count
below the floor and the seconds per mixture.

Run: ``python benchmarks/bench_recombined.py``; saves
``benchmarks/results/recombined.md`` and ``recombined.json`` with the
machine's description.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402
from bench_quality import (  # noqa: E402
    CONFIGURATIONS,
    DATA,
    markdown_table,
    score,
    warm_up,
)

from skl_sepnmf.datasets import load_stems  # noqa: E402

LABELS = (
    "floor",
    "ideal ratio mask",
    "notebook",
    "KL-NMF(50) hard p0.5",
    "KL-NMF(50) timbre",
    "KL-NMF(50) soft",
    "defaults",
)
N_MIXTURES, SEED, MAX_SECONDS = 16, 12, 15.0


def stems_by_piece():
    """(piece, instrument, waveform, sr) of every dev stem."""
    for folder in sorted(p for p in (DATA / "dev").iterdir() if p.is_dir()):
        _, sources, sr, names = load_stems(folder)
        for name, source in zip(names, sources, strict=True):
            yield folder.name, name, source, sr


def recombined_mixtures():
    """(name, mixture, references, sr) of the fixed draw."""
    stems = [s for s in stems_by_piece() if s[3] == 22050]
    rng = np.random.default_rng(SEED)
    for _ in range(N_MIXTURES):
        n_sources = int(rng.integers(2, 5))
        while True:
            chosen = [stems[i] for i in rng.choice(len(stems), n_sources, False)]
            pieces = {piece for piece, *_ in chosen}
            instruments = {name for _, name, *_ in chosen}
            if len(pieces) == len(instruments) == n_sources:
                break
        n_times = min(min(len(s[2]) for s in chosen), int(MAX_SECONDS * 22050))
        references = np.stack([s[2][:n_times] for s in chosen]).astype(np.float64)
        references /= 10 * np.sqrt(np.mean(np.square(references), axis=1))[:, None]
        name = " + ".join(f"{instrument} ({piece})" for piece, instrument, *_ in chosen)
        yield name, references.sum(axis=0), references, 22050


def main():
    runs = {label: CONFIGURATIONS[label] for label in LABELS}
    warm_up(runs)
    results = {}
    for name, mixture, references, sr in recombined_mixtures():
        entry = results[name] = {
            "n_sources": len(references),
            "sr": sr,
            "duration": mixture.shape[-1] / sr,
            "synthetic": False,
            "scores": {},
        }
        print(name, flush=True)
        for label, run in runs.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                entry["scores"][label] = s = score(run, mixture, sr, references)
            print(f"  {label:20s} SNR {s['snr']:6.2f} dB  {s['seconds']:6.2f} s")
    info = machine()
    command = "python benchmarks/bench_recombined.py"
    names = list(results)
    lines = [
        "# Separation quality on recombined dev stems (no default chosen here)",
        "",
        f"`{command}`. Each mixture: 2-4 dev stems of different pieces and "
        "instruments, equal RMS, at most 15 s. See the script's docstring.",
        "",
    ]
    for metric, title in (("snr", "Mean SNR (dB)"), ("si_sdr", "Mean SI-SDR (dB)")):
        lines += [f"## {title}", ""]
        lines += markdown_table(results, names, list(LABELS), metric)
        lines.append("")
    lines += ["## Machine", ""] + [f"- {key}: {value}" for key, value in info.items()]
    table = "\n".join(lines) + "\n"
    print(table)
    output = HERE / "results"
    (output / "recombined.md").write_text(table)
    document = {"command": command, "machine": info, "mixtures": results}
    (output / "recombined.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
