"""How much a separation's score depends on the sample rate and on chance.

The tables of ``bench_quality.py`` and ``bench_heldout.py`` score one run of
each configuration per mixture. Two things move those scores that no
configuration chooses:

* **The sample rate.** ``n_fft`` counts samples, so a window fixed in samples
  halves in time at 44.1 kHz. Each mixture and its stems are resampled to
  44100 Hz (``librosa.resample``, soxr_hq) and separated by the defaults
  (``n_fft=None``: the power of two closest to 93 ms, 4096 samples at 44.1
  kHz), by the defaults with the timbre views hearing the whole band (as
  before ``TIMBRE_BAND_HZ``: a resampled mixture holds next to nothing above
  11025 Hz, and the logarithm of that band is noise) and by ``n_fft=2048``
  (the fixed default before: 46 ms there). The held-out pieces rendered at
  44.1 kHz (``render_heldout.py --sr 44100``), whose band is the soundfonts'
  own, are scored the same way when present.
* **Where the music starts.** The same mixture delayed by 0, 300 and 700
  samples (zeros in front, each estimate cut back to the mixture's samples)
  meets the STFT frames elsewhere; the factorization, a non-convex problem,
  then settles elsewhere too. The spread of a configuration's mean over these
  shifts is the noise of a one-run table; the mean over the shifts is its
  expected score.
* **The seed.** At the native rate the defaults also run with
  ``random_state=1`` and ``2`` (the k-means restarts of the grouping, their
  only random part), and ``defaults, 3 seeds`` is the mean of the three
  columns: the expected score over shifts and seeds. A set's mean moves by up
  to 0.25 dB from one seed to another, as much as most grouping changes
  measured since stop 24; judge a grouping change on that column, over the
  three sets.

At the mixtures' own rates, two candidates (not defaults) are scored beside
the defaults: separations at several window lengths, averaged. Each member is
``SpectrogramSeparator(n_sources=k, random_state=0, n_fft=round(w * sr),
hop_length=n_fft // d)``; the mixture is padded at its end by one window (so
that with ``d = 2`` every sample lies well inside a frame) and each member's
estimates are cut back; the members' sources are matched to the first
member's by correlation (Hungarian) and averaged:

* ``3 windows averaged``: 128, 186 and 256 ms, hop a quarter window;
* ``2 windows averaged``: 93 and 256 ms, hop half a window (about the
  defaults' cost).

Sets: the 11 real mixtures of ``bench_quality.py`` (the seed mixture and
``../shared/data/dev``), if rendered the 24 of ``bench_heldout.py`` (at
22050 Hz, and at 44100 Hz), and the 16 of ``bench_recombined.py`` (stems of
unrelated pieces; at their own rate only).
Scores: mean SNR (dB) after one-to-one matching on SNR, as in those scripts.
Rows: each mixture's mean over the shifts; then the mean over the mixtures,
that mean at each shift, the number of (mixture, shift) pairs below the
mixture's floor (``mix / k``), and the seconds per separation.

Run: ``python benchmarks/bench_robustness.py [--sets NAME ...] [--only LABEL
...] [--rates native|"44.1 kHz" ...]`` (substring matches on ``set: mixture``
and on column names; a recombined mixture's name holds its pieces' names, so
``--sets "dev: chorale_bwv253"`` picks that dev mixture alone; ``--rates
native --only defaults`` gives the defaults' expected scores over shifts and
seeds on the three sets in about 15 minutes). A full run saves
``benchmarks/results/robustness.md`` and ``robustness.json`` with the
machine's description; a subset run saves ``robustness-partial.*``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import librosa
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402
from bench_heldout import DATA as HELDOUT  # noqa: E402
from bench_quality import SYNTHETIC, mixtures, selected  # noqa: E402
from bench_recombined import recombined_mixtures  # noqa: E402

from skl_sepnmf import SpectrogramSeparator, _grouping  # noqa: E402
from skl_sepnmf.datasets import load_stems  # noqa: E402
from skl_sepnmf.metrics import separation_scores  # noqa: E402

SHIFTS = (0, 300, 700)
HIGH_RATE = 44100
HELDOUT_HIGH_RATE = HELDOUT.with_name(f"{HELDOUT.name}-{HIGH_RATE}")
# (window seconds, hop = n_fft // divisor) of each member
AVERAGED = {
    "3 windows averaged": ((0.128, 4), (0.186, 4), (0.256, 4)),
    "2 windows averaged": ((2048 / 22050, 2), (0.256, 2)),
}


def defaults(mixture, sr, n_sources, **params):
    separator = SpectrogramSeparator(
        **{"n_sources": n_sources, "sr": sr, "random_state": 0, **params}
    )
    return separator.fit_transform(mixture[None])[0]


# random_state of the seed columns; the first is the "defaults" column's
SEEDS = (0, 1, 2)
SEEDS_MEAN = f"defaults, {len(SEEDS)} seeds"


def seeded(seed):
    return lambda mixture, sr, k: defaults(mixture, sr, k, random_state=seed)


def averaged(members):
    """The run function of a candidate: its members' sources, averaged."""

    def run(mixture, sr, n_sources):
        estimates = []
        for seconds, divisor in members:
            n_fft = int(round(seconds * sr))
            padded = np.concatenate([mixture, np.zeros(n_fft, mixture.dtype)])
            member = defaults(
                padded, sr, n_sources, n_fft=n_fft, hop_length=n_fft // divisor
            )[:, : mixture.shape[-1]]
            if estimates:
                member = member[matched_to(estimates[0], member)]
            estimates.append(member)
        return np.mean(estimates, axis=0)

    return run


def matched_to(reference, estimates):
    """The order of ``estimates`` that best matches ``reference``, source by
    source, on correlation."""
    unit = [
        x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
        for x in (reference, estimates)
    ]
    return linear_sum_assignment(-(unit[0] @ unit[1].T))[1]


def shifted(run, shift):
    """``run`` on the mixture delayed by ``shift`` samples, cut back."""

    def shifted_run(mixture, sr, n_sources):
        delayed = np.concatenate([np.zeros(shift, mixture.dtype), mixture])
        return run(delayed, sr, n_sources)[:, shift:]

    return shifted_run


NATIVE = {
    "defaults": defaults,
    **{f"defaults random_state={seed}": seeded(seed) for seed in SEEDS[1:]},
    **{label: averaged(members) for label, members in AVERAGED.items()},
}


def whole_band(mixture, sr, n_sources):
    """The defaults, the timbre views hearing every bin up to sr / 2."""
    with mock.patch.object(_grouping, "TIMBRE_BAND_HZ", np.inf):
        return defaults(mixture, sr, n_sources)


RESAMPLED = {
    "defaults": defaults,
    "timbre on the whole band": whole_band,
    "n_fft=2048": lambda mixture, sr, k: defaults(mixture, sr, k, n_fft=2048),
}
BOTH_RATES = (("native", NATIVE), ("44.1 kHz", RESAMPLED))


def rendered(folder):
    """(mixture name, load) of each piece rendered in ``folder``."""
    for piece in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (piece / "mix.flac").is_file():
            yield piece.name, lambda f=piece: load_stems(f)[:3]


def all_mixtures():
    """(set name, mixture name, load, ((rate, runs), ...)) of every mixture."""
    for name, load in mixtures():
        if name != SYNTHETIC:
            yield "dev", name, load, BOTH_RATES
    if HELDOUT.is_dir():
        for name, load in rendered(HELDOUT):
            yield "held-out", name, load, BOTH_RATES
    if HELDOUT_HIGH_RATE.is_dir():
        for name, load in rendered(HELDOUT_HIGH_RATE):
            yield "held-out rendered", name, load, (("44.1 kHz", RESAMPLED),)
    for name, mixture, references, sr in recombined_mixtures():
        yield (
            "recombined",
            name,
            lambda m=mixture, r=references, s=sr: (m, r, s),
            (("native", NATIVE),),
        )


def with_seeds_mean(entry):
    """Add the :data:`SEEDS_MEAN` column to a result entry that ran every
    seed column: the seeds' mean SNR at each shift."""
    columns = ["defaults"] + [f"defaults random_state={s}" for s in SEEDS[1:]]
    if not all(c in entry["scores"] for c in columns):
        return
    runs = [entry["scores"][c] for c in columns]
    entry["scores"][SEEDS_MEAN] = {
        "snr": np.mean([r["snr"] for r in runs], axis=0).tolist(),
        "seconds": float(np.mean([r["seconds"] for r in runs])),
    }
    entry["labels"].insert(entry["labels"].index(columns[-1]) + 1, SEEDS_MEAN)


def resampled(mixture, references, sr):
    if sr == HIGH_RATE:
        return mixture, references, sr
    return (
        librosa.resample(mixture, orig_sr=sr, target_sr=HIGH_RATE),
        librosa.resample(references, orig_sr=sr, target_sr=HIGH_RATE),
        HIGH_RATE,
    )


def scored(run, mixture, references, sr):
    """Mean SNR of each shift, and the mean seconds per separation."""
    snrs, seconds = [], []
    for shift in SHIFTS:
        start = time.perf_counter()
        with warnings.catch_warnings():
            # NMF stops at max_iter by design here
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimates = shifted(run, shift)(mixture, sr, len(references))
        seconds.append(time.perf_counter() - start)
        snrs.append(float(separation_scores(references, estimates)["snr"].mean()))
    return {"snr": snrs, "seconds": float(np.mean(seconds))}


def floor_snr(mixture, references):
    k = len(references)
    floor = np.broadcast_to(mixture / k, (k,) + mixture.shape)
    return float(separation_scores(references, floor)["snr"].mean())


def table(results, group, labels):
    """Markdown rows of one (set, rate) group."""
    names = [n for n, r in results.items() if r["group"] == group]
    lines = [
        "| mixture (k, rate) | floor | " + " | ".join(labels) + " |",
        "|---|---:|" + "---:|" * len(labels),
    ]
    for n in names:
        r = results[n]
        cells = [f"{np.mean(r['scores'][c]['snr']):.2f}" for c in labels]
        lines.append(
            f"| {r['mixture']} ({r['n_sources']}, {r['sr']} Hz) | "
            f"{r['floor']:.2f} | " + " | ".join(cells) + " |"
        )
    snr = {c: np.array([results[n]["scores"][c]["snr"] for n in names]) for c in labels}
    floors = np.array([results[n]["floor"] for n in names])[:, None]
    rows = [
        ("**mean**", f"**{floors.mean():.2f}**", lambda c: f"**{snr[c].mean():.2f}**"),
        (
            "mean at shift " + " / ".join(map(str, SHIFTS)),
            "",
            lambda c: " / ".join(f"{m:.2f}" for m in snr[c].mean(axis=0)),
        ),
        (
            "below the floor (mixture x shift)",
            "",
            lambda c: f"{int((snr[c] < floors).sum())} / {snr[c].size}",
        ),
        (
            "seconds per separation",
            "",
            lambda c: "{:.2f}".format(
                np.mean([results[n]["scores"][c]["seconds"] for n in names])
            ),
        ),
    ]
    for title, floor_cell, cell in rows:
        lines.append(
            f"| {title} | {floor_cell} | " + " | ".join(map(cell, labels)) + " |"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        action="append",
        metavar="NAME",
        help="run the mixtures whose 'set: name' contains NAME (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="LABEL",
        help="run the columns whose label contains LABEL (repeatable)",
    )
    parser.add_argument(
        "--rates",
        choices=["native", "44.1 kHz"],
        action="append",
        help="run only these rates (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    results = {}
    for set_name, name, load, rates in all_mixtures():
        if not selected(f"{set_name}: {name}", args.sets):
            continue
        mixture, references, sr = load()
        for rate, runs in rates:
            if args.rates is not None and rate not in args.rates:
                continue
            runs = {
                label: run for label, run in runs.items() if selected(label, args.only)
            }
            if not runs:
                continue
            if rate == "44.1 kHz":
                mixture, references, sr = resampled(mixture, references, sr)
            entry = results[f"{set_name}: {name} / {rate}"] = {
                "group": f"{set_name}, {rate}",
                "labels": list(runs),
                "mixture": name,
                "n_sources": len(references),
                "sr": sr,
                "floor": floor_snr(mixture, references),
                "scores": {},
            }
            for label, run in runs.items():
                entry["scores"][label] = s = scored(run, mixture, references, sr)
                print(
                    f"{name} @ {sr} Hz  {label:20s} SNR "
                    + " / ".join(f"{x:6.2f}" for x in s["snr"])
                    + f"  {s['seconds']:5.2f} s",
                    flush=True,
                )
            with_seeds_mean(entry)
    info = machine()
    command = " ".join(["python", "benchmarks/bench_robustness.py", *sys.argv[1:]])
    lines = [
        "# Robustness: the sample rate, input shifts, seeds, averaged windows",
        "",
        f"`{command}`. Mean SNR (dB), one-to-one matching on SNR; each cell is "
        f"the mean over the input delayed by {', '.join(map(str, SHIFTS))} "
        "samples. See the script's docstring.",
        "",
    ]
    groups = {r["group"]: r["labels"] for r in results.values()}
    for group, labels in groups.items():
        lines += [f"## {group}", ""] + table(results, group, labels) + [""]
    lines += ["## Machine", ""] + [f"- {key}: {value}" for key, value in info.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    full = args.sets is None and args.only is None and args.rates is None
    stem = "robustness" if full else "robustness-partial"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{stem}.md").write_text(text)
    document = {"command": command, "machine": info, "results": results}
    (args.output / f"{stem}.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
