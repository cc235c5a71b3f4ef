"""Separation quality of each configuration, on every mixture with true stems.

Mixtures (rows): the seed mixture (the notebook's 7 sources, seed protocol),
every folder of ``../shared/data/dev`` (10), and one synthetic mixture,
``datasets.make_mixture(n_sources=3, duration=8.0, sr=22050, random_state=0)``.
The means and counts are over the 11 real mixtures (seed + dev); the synthetic
row is reported below them and is in none of them. Each configuration is told
the number of sources k.

Configurations (columns), each ``label -> run(mixture, sr, k, references)``
returning the estimated sources ``(k, n_times)``:

* ``floor``: ``mix / k`` for every source, what doing nothing scores;
* ``ideal ratio mask``: soft ratio masks ``|S_i| / sum_j |S_j|`` from the true
  stems' STFT magnitudes (n_fft=2048, hop 512), applied to the mixture's STFT:
  the ceiling of any masking method;
* ``notebook``: ``SpectrogramSeparator(NMF(k), mask=None, n_fft=4096,
  hop_length=1024)``, the notebook's method;
* each entry of ``CANDIDATES`` (label -> factory(k) of a separator; add a line
  there to compare one more);
* ``defaults``: ``SpectrogramSeparator(n_sources=k, random_state=0)``, and
  the same with ``random_state`` 1, 2 and 3: the spread of the k-means seeds
  of the grouping, the defaults' only random part.

Every separator is given the mixture's sample rate (``sr``), as the command
line does. The configurations are described in the saved file (``repr`` at k = 4).

Metrics: the estimates are matched one-to-one to the references on **SNR**
(Hungarian matching, ``metrics.match_sources(..., metric=snr)`` through
``metrics.separation_scores``), and the mean over the sources of the matched
pairs' SNR (dB) and SI-SDR (dB) is reported: SI-SDR is scored on the pairs the
SNR matching chose, so both tables judge the same assignment. Seconds: the
separation call only (``time.perf_counter``), scoring excluded, after one
untimed warm-up run of each configuration on a short synthetic mixture (so no
first call pays for imports and caches). Summary rows:
the mean over the real mixtures, the mean improvement over the floor, the
number of mixtures strictly below their floor (in that table's metric), and
the mean seconds per mixture.

The SNR table also carries nussl 1.1.9's TimbreClustering (NMF 50 + MFCC
k-means, soft masks) as a fixed column: the figures of issue 12, measured in
nussl's own environment and not rerun here.

``--guided`` adds a group of rows for the separator's guided mode (issue 12,
item 4) on the solo-intro pieces, given their true solo bars, if
``SpectrogramSeparator`` takes ``solo_segments``; without that parameter it is
skipped silently.

Run: ``python benchmarks/bench_quality.py [--only LABEL ...] [--sets NAME ...]
[--guided]`` (``--only``/``--sets`` repeatable, substring match; the floor is
always computed, as the summary rows need it). A full run saves
``benchmarks/results/quality.md`` and ``quality.json`` (every per-mixture and
per-source number) with the machine's description; a subset run saves
``quality-partial.md``/``.json`` instead, never over the full results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import librosa
import numpy as np
from sklearn.exceptions import ConvergenceWarning

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402

from skl_sepnmf import NMF, SNPA, GreedySNPA, SpectrogramSeparator  # noqa: E402
from skl_sepnmf._separator import default_nmf  # noqa: E402
from skl_sepnmf.datasets import (  # noqa: E402
    load_seed_mixture,
    load_stems,
    make_mixture,
)
from skl_sepnmf.metrics import separation_scores  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
NOTEBOOK_STFT = {"n_fft": 4096, "hop_length": 1024}
IRM_STFT = {"n_fft": 2048, "hop_length": 512}
SYNTHETIC = "make_mixture"
# Solo-intro pieces: voice i plays alone from SOLO_BAR * i to SOLO_BAR * (i + 1)
# seconds (4 quarter notes at 72 bpm, ../shared/data/README.md).
SOLO_BAR = 3.333

# Candidate configurations: label -> factory(k) of a separator for k sources.
# Each separator is given the mixture's sample rate (its ``sr``) when it runs.
CANDIDATES = {
    "SNPA(k) soft": lambda k: SpectrogramSeparator(SNPA(k), power=1, **NOTEBOOK_STFT),
    "NMF(k) soft": lambda k: SpectrogramSeparator(NMF(k), power=1, **NOTEBOOK_STFT),
    "NMF(4k) spectra": lambda k: SpectrogramSeparator(
        NMF(4 * k),
        n_sources=k,
        grouping="spectra",
        sharing="hard",
        power=1,
        random_state=0,
        **NOTEBOOK_STFT,
    ),
    "SNPA(50) timbre": lambda k: SpectrogramSeparator(
        SNPA(50), n_sources=k, grouping="timbre", random_state=0
    ),
    "GreedySNPA(50) timbre": lambda k: SpectrogramSeparator(
        GreedySNPA(50, refinement="none"),
        n_sources=k,
        grouping="timbre",
        random_state=0,
    ),
    "KL-NMF(50) spectra hard": lambda k: SpectrogramSeparator(
        default_nmf(50),
        n_sources=k,
        grouping="spectra",
        sharing="hard",
        random_state=0,
    ),
    # the defaults before shared components (issue 12's earlier stops), but with
    # the octave check of fundamental_frequencies added since
    "KL-NMF(50) hard p0.5": lambda k: SpectrogramSeparator(
        default_nmf(50),
        n_sources=k,
        grouping="timbre",
        sharing="hard",
        power=0.5,
        random_state=0,
    ),
    # what grouping="auto" falls back to: "timbre" everywhere, the seed
    # mixture's pianos and clarinets included (the defaults before "auto")
    "KL-NMF(50) timbre": lambda k: SpectrogramSeparator(
        default_nmf(50), n_sources=k, grouping="timbre", random_state=0
    ),
    # the defaults before sharing="voices": the same shares at every frame
    "KL-NMF(50) soft": lambda k: SpectrogramSeparator(
        default_nmf(50), n_sources=k, sharing="soft", random_state=0
    ),
    "KL-NMF(50) hard p1": lambda k: SpectrogramSeparator(
        default_nmf(50), n_sources=k, sharing="hard", random_state=0
    ),
    **{
        f"KL-NMF(50) shared p{power}": lambda k, power=power: SpectrogramSeparator(
            default_nmf(50), n_sources=k, power=power, random_state=0
        )
        for power in (0.5, 0.75, 1.5)
    },
    **{
        f"KL-NMF({rank}) shared": lambda k, rank=rank: SpectrogramSeparator(
            default_nmf(rank), n_sources=k, random_state=0
        )
        for rank in (30, 40, 64)
    },
    "KL-NMF(50) shared 100 it": lambda k: SpectrogramSeparator(
        default_nmf(50).set_params(max_iter=100), n_sources=k, random_state=0
    ),
    "EU-NMF(50) shared": lambda k: SpectrogramSeparator(
        default_nmf(50).set_params(beta_loss="frobenius", solver="cd"),
        n_sources=k,
        random_state=0,
    ),
    # blind solo anchoring (issue 12, item 3): the solos found in the blind
    # separation guide it, where every source has one
    "found solos": lambda k: SpectrogramSeparator(
        n_sources=k, random_state=0, solo_segments="auto"
    ),
}
SEPARATORS = {
    "notebook": lambda k: SpectrogramSeparator(NMF(k), mask=None, **NOTEBOOK_STFT),
    **CANDIDATES,
    "defaults": lambda k: SpectrogramSeparator(n_sources=k, random_state=0),
    # The defaults' spread over seeds: the k-means restarts of the grouping are
    # their only random part (the NMF starts from NNDSVDa, deterministic), and
    # one seed's figure is one draw of them.
    **{
        f"defaults random_state={seed}": lambda k, seed=seed: SpectrogramSeparator(
            n_sources=k, random_state=seed
        )
        for seed in (1, 2, 3)
    },
}
# Guided mode: label -> factory(k, solo_segments), solo_segments one list of
# (start, end) seconds per source, in the stems' order.
GUIDED = {
    "guided defaults": lambda k, segments: SpectrogramSeparator(
        n_sources=k, random_state=0, solo_segments=segments
    ),
    "guided hard": lambda k, segments: SpectrogramSeparator(
        n_sources=k, random_state=0, solo_segments=segments, sharing="hard"
    ),
}

# nussl 1.1.9 TimbreClustering, mean SNR (dB), from issue 12's table: measured
# in nussl's own environment, not rerun here.
NUSSL_LABEL = "nussl 1.1.9 TimbreClustering (issue 12, not rerun)"
NUSSL_SNR = {
    "seed": 0.70,
    "trio": 2.75,
    "chorale_bwv255": 0.69,
    "chorale_bwv10.7": 0.29,
    "solointro_bwv108.6": 0.90,
    "duet_bwv269": 10.39,
    "duet_solointro_bwv267": 9.49,
    "trio_solointro_bwv270": 1.52,
    "solointro_bwv271": 2.39,
    "trio_bwv260": 2.27,
    "chorale_bwv253": 3.61,
}


def floor(mixture, sr, n_sources, references):
    """``mix / k`` for every source."""
    return np.broadcast_to(mixture / n_sources, (n_sources,) + mixture.shape)


def ideal_ratio_mask(mixture, sr, n_sources, references):
    """Soft masks from the true stems' magnitudes, on the mixture's STFT."""
    magnitudes = np.abs(librosa.stft(references, **IRM_STFT))
    total = magnitudes.sum(axis=0)
    masks = np.divide(magnitudes, total, out=np.zeros_like(magnitudes), where=total > 0)
    spectra = masks * librosa.stft(mixture, **IRM_STFT)
    return librosa.istft(spectra, length=mixture.shape[-1], **IRM_STFT)


def separated_by(factory):
    """The run function of a separator factory(k): one blind fit_transform."""

    def run(mixture, sr, n_sources, references):
        return factory(n_sources).set_params(sr=sr).fit_transform(mixture[None])[0]

    return run


CONFIGURATIONS = {
    "floor": floor,
    "ideal ratio mask": ideal_ratio_mask,
    **{label: separated_by(factory) for label, factory in SEPARATORS.items()},
}
DESCRIPTIONS = {
    "floor": "mix / k for every source",
    "ideal ratio mask": "soft ratio masks from the true stems' |STFT| "
    "(n_fft=2048, hop 512) on the mixture's STFT: the ceiling",
}


def mixtures():
    """(name, load) of every mixture; load() -> (mixture, references, sr)."""
    yield "seed", lambda: load_seed_mixture(DATA / "seed")
    for folder in sorted(p for p in (DATA / "dev").iterdir() if p.is_dir()):
        yield folder.name, lambda folder=folder: load_stems(folder)[:3]
    yield (
        SYNTHETIC,
        lambda: make_mixture(n_sources=3, duration=8.0, sr=22050, random_state=0),
    )


def solo_segments(references, sr):
    """The true solo bars of a solo-intro piece, one [(start, end)] per stem.

    Voice i is alone in slot i; the stem that is voice i is the one with the
    most energy in that slot.
    """
    n_sources = len(references)
    edges = np.round(SOLO_BAR * sr * np.arange(n_sources + 1)).astype(int)
    energy = np.add.reduceat(np.square(references, dtype=np.float64), edges, axis=1)
    stem_of_voice = energy[:, :n_sources].argmax(axis=0)
    if len(set(stem_of_voice.tolist())) != n_sources:
        raise ValueError(f"no single loudest stem per solo slot: {stem_of_voice}")
    voice_of_stem = np.argsort(stem_of_voice)  # the inverse permutation
    return [[(SOLO_BAR * i, SOLO_BAR * (i + 1))] for i in voice_of_stem.tolist()]


def score(run, mixture, sr, references):
    """Run one configuration on one mixture: its scores and seconds."""
    start = time.perf_counter()
    estimates = run(mixture, sr, len(references), references)
    seconds = time.perf_counter() - start
    table = separation_scores(references, estimates)
    return {
        "snr": float(table["snr"].mean()),
        "si_sdr": float(table["si_sdr"].mean()),
        "seconds": seconds,
        "snr_per_source": table["snr"].tolist(),
        "si_sdr_per_source": table["si_sdr"].tolist(),
        "matched_estimate": table["estimate"].tolist(),
    }


def warm_up(runs):
    """Run each configuration once, untimed, so that no first call pays for
    imports and caches."""
    mixture, references, sr = make_mixture(duration=4.0, sr=22050, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for run in runs.values():
            run(mixture, sr, len(references), references)


def selected(label, patterns):
    return patterns is None or any(p in label for p in patterns)


def _cells(row, fmt="{:.2f}"):
    return " | ".join("-" if v is None or np.isnan(v) else fmt.format(v) for v in row)


def markdown_table(results, names, columns, metric, extra=None):
    """Rows: mixtures, then the summary over the real ones; columns: labels.

    ``extra``: (label, {mixture: value}) of a fixed column (no seconds).
    """
    real = [n for n in names if not results[n]["synthetic"]]
    synthetic = [n for n in names if results[n]["synthetic"]]
    header = columns + ([extra[0]] if extra else [])

    def values(name):
        scores = results[name]["scores"]
        row = [scores[c][metric] if c in scores else None for c in columns]
        return row + ([extra[1].get(name)] if extra else [])

    def label(name):
        entry = results[name]
        return f"{name} ({entry['n_sources']}, {entry['duration']:.0f} s)"

    lines = [
        "| mixture (k, length) | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(header),
    ]
    lines += [f"| {label(n)} | {_cells(values(n))} |" for n in real]
    if real:
        lines += summary(results, real, columns, header, [values(n) for n in real])
    lines += [
        f"| {label(n)}, not in the means | {_cells(values(n))} |" for n in synthetic
    ]
    return lines


def summary(results, real, columns, header, rows):
    """Mean, mean gain over the floor, count below it, mean seconds."""
    table = np.array(rows, dtype=float)  # None -> nan
    floors = table[:, [header.index("floor")]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column of nan
        means = np.nanmean(table, axis=0)
        gains = np.nanmean(table - floors, axis=0)
    below = np.sum(table < floors, axis=0)
    counted = np.sum(~np.isnan(table), axis=0)
    seconds = [
        np.mean([results[n]["scores"][c]["seconds"] for n in real])
        if all(c in results[n]["scores"] for n in real)
        else None
        for c in columns
    ] + [None] * (len(header) - len(columns))
    n = len(real)
    return [
        f"| **mean ({n})** | {_cells(means, '**{:.2f}**')} |",
        f"| mean - floor ({n}) | {_cells(gains, '{:+.2f}')} |",
        f"| below the floor ({n}) | "
        + " | ".join(f"{b} / {c}" for b, c in zip(below, counted, strict=True))
        + " |",
        f"| seconds per mixture ({n}) | {_cells(seconds)} |",
    ]


def markdown(results, labels, guided_labels, info, command):
    names = list(results)
    metrics = {"snr": "SNR", "si_sdr": "SI-SDR"}
    lines = [
        "# Separation quality: mean SNR and SI-SDR (dB, one-to-one matching)",
        "",
        f"`{command}`. Higher is better; k = number of sources, told to every "
        "configuration. Estimates are matched to references on SNR (Hungarian); "
        "SI-SDR is of the same pairs. Means over the real mixtures (the seed "
        "mixture and ../shared/data/dev); the synthetic make_mixture row is in "
        "none of them. Seconds: the separation call only. See the script's "
        "docstring.",
        "",
        "Configurations (shown at k = 4):",
        "",
    ]
    lines += [
        f"- {label}: "
        + (
            DESCRIPTIONS.get(label)
            or f"`{' '.join(repr(SEPARATORS[label](4)).split())}`"
        )
        for label in labels
    ]
    for metric, title in metrics.items():
        extra = (NUSSL_LABEL, NUSSL_SNR) if metric == "snr" else None
        lines += ["", f"## Mean {title} (dB)", ""]
        lines += markdown_table(results, names, labels, metric, extra)
    solo = [n for n in names if "solo_segments" in results[n]]
    if guided_labels and solo:
        columns = [c for c in ("floor", "ideal ratio mask", "defaults") if c in labels]
        columns += guided_labels
        lines += [
            "",
            "## Guided mode: solo-intro pieces given their true solo bars",
            "",
            f"Voice i alone from {SOLO_BAR} i to {SOLO_BAR} (i + 1) s; "
            + "; ".join(
                f"{label}: `{' '.join(repr(GUIDED[label](4, None)).split())}`"
                for label in guided_labels
            )
            + ", with solo_segments = those bars.",
        ]
        for metric, title in metrics.items():
            lines += ["", f"### Mean {title} (dB)", ""]
            lines += markdown_table(results, solo, columns, metric)
    lines += ["", "Machine:", ""] + [f"- {k}: {v}" for k, v in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="LABEL",
        help="run the configurations whose label contains LABEL (repeatable; "
        f"labels: {', '.join(CONFIGURATIONS)}); the floor always runs",
    )
    parser.add_argument(
        "--sets",
        action="append",
        metavar="NAME",
        help="run the mixtures whose name contains NAME (repeatable)",
    )
    parser.add_argument(
        "--guided",
        action="store_true",
        help="add the guided mode on the solo-intro pieces (if the separator "
        "has solo_segments)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    labels = [c for c in CONFIGURATIONS if c == "floor" or selected(c, args.only)]
    guided = {}
    if args.guided and "solo_segments" in SpectrogramSeparator().get_params():
        guided = {c: f for c, f in GUIDED.items() if selected(c, args.only)}
    warm_up({c: CONFIGURATIONS[c] for c in labels})
    results = {}
    for name, load in mixtures():
        if not selected(name, args.sets):
            continue
        mixture, references, sr = load()
        entry = results[name] = {
            "n_sources": len(references),
            "sr": sr,
            "duration": mixture.shape[-1] / sr,
            "synthetic": name == SYNTHETIC,
            "scores": {},
        }
        print(f"{name} ({len(references)} sources)", flush=True)
        runs = {c: CONFIGURATIONS[c] for c in labels}
        if guided and "solointro" in name:
            segments = entry["solo_segments"] = solo_segments(references, sr)
            runs |= {
                c: separated_by(lambda k, f=f, s=segments: f(k, s))
                for c, f in guided.items()
            }
        for label, run in runs.items():
            with warnings.catch_warnings():
                # NMF stops at max_iter by design here
                warnings.simplefilter("ignore", ConvergenceWarning)
                entry["scores"][label] = s = score(run, mixture, sr, references)
            print(
                f"  {label:20s} SNR {s['snr']:6.2f} dB  SI-SDR {s['si_sdr']:6.2f} dB"
                f"  {s['seconds']:6.2f} s",
                flush=True,
            )
    info = machine()
    command = " ".join(["python", "benchmarks/bench_quality.py", *sys.argv[1:]])
    table = markdown(results, labels, list(guided), info, command)
    print(table)
    stem = "quality" if args.only is None and args.sets is None else "quality-partial"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{stem}.md").write_text(table)
    document = {
        "command": command,
        "machine": info,
        "nussl_snr_not_rerun": NUSSL_SNR,
        "mixtures": results,
    }
    (args.output / f"{stem}.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
