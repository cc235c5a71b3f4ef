"""Separation quality of each configuration, on every mixture with true stems.

For the seed mixture (the notebook's 7 sources, seed protocol) and each dev set
(``../shared/data/dev``), the mean SNR in dB (20 log10, one-to-one Hungarian
matching, higher is better) of:

* ``notebook``: rank = number of sources, ``mask=None`` (the model magnitude
  with the mixture's phase), as the notebook did;
* ``soft``: the same rank with soft (ratio) masks;
* ``grouped K``: rank K (2 or 4 x the number of sources), components grouped
  into the number of sources by timbre (``grouping="spectra"``) or by
  activations (``grouping="activations"``), soft masks;
* ``oracle K``: rank K, each component given to the reference it helps most
  (the component's soft-masked signal projected on each reference); an upper
  bound for any grouping of those components;
* ``defaults``: ``SpectrogramSeparator(n_sources=number of sources)``, all
  other parameters at their defaults.

STFT: n_fft=4096, hop_length=1024 (the notebook's) unless a row says otherwise.
Run: ``python benchmarks/bench_quality.py``; saves
``benchmarks/results/quality.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402

from skl_sepnmf import NMF, SNPA, GreedySNPA, SpectrogramSeparator  # noqa: E402
from skl_sepnmf.datasets import load_seed_mixture, load_stems  # noqa: E402
from skl_sepnmf.metrics import match_sources  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
STFT = {"n_fft": 4096, "hop_length": 1024}
EXPLORE = "--explore" in sys.argv  # skip the defaults row while choosing them
METHODS = {"NMF": lambda k: NMF(k), "SNPA": SNPA, "GreedySNPA": GreedySNPA}


def datasets():
    mixture, sources, _ = load_seed_mixture(DATA / "seed")
    yield "seed (7 sources)", mixture, sources
    for folder in sorted((DATA / "dev").iterdir()):
        mixture, sources, _, names = load_stems(folder)
        yield f"{folder.name} ({len(names)})", mixture, sources


def mean_snr(sources, references):
    return float(match_sources(references, sources)[1].mean())


def oracle_snr(mixture, references, estimator):
    """Each component's soft-masked signal goes to the reference it helps most."""
    separator = SpectrogramSeparator(estimator, **STFT)
    components = separator.fit_transform(mixture[None])[0]  # one per component
    # the least-squares gain of component k on reference i; each component joins
    # the reference whose error it reduces most
    gains = (
        components
        @ references.T
        / np.maximum(np.einsum("kt,kt->k", components, components), 1e-12)[:, None]
    )
    help_ = gains * (components @ references.T)
    owner = help_.argmax(axis=1)
    grouped = np.stack(
        [components[owner == i].sum(axis=0) for i in range(len(references))]
    )
    return mean_snr(grouped, references)


def evaluate(mixture, references):
    n = len(references)
    rows = {}
    X = mixture[None]

    def run(label, separator):
        start = time.perf_counter()
        sources = separator.fit_transform(X)[0]
        rows[label] = (mean_snr(sources, references), time.perf_counter() - start)

    for name, make in METHODS.items():
        run(
            f"notebook: {name}(n), mask=None",
            SpectrogramSeparator(make(n), mask=None, **STFT),
        )
        run(f"soft: {name}(n)", SpectrogramSeparator(make(n), **STFT))
        for factor in (2, 4):
            k = factor * n
            for grouping in ("spectra", "activations"):
                run(
                    f"grouped {grouping}: {name}({factor}n) -> n",
                    SpectrogramSeparator(
                        make(k), n_sources=n, grouping=grouping, random_state=0, **STFT
                    ),
                )
            start = time.perf_counter()
            rows[f"oracle: {name}({factor}n) -> n"] = (
                oracle_snr(mixture, references, make(k)),
                time.perf_counter() - start,
            )
    if not EXPLORE:
        run(
            "defaults (n_sources set)",
            SpectrogramSeparator(n_sources=n, random_state=0),
        )
    return rows


def markdown(results, info):
    sets = list(results)
    labels = list(next(iter(results.values())))
    lines = [
        "# Separation quality: mean SNR (dB, one-to-one matching)",
        "",
        "Higher is better. n = number of sources of the set (in its name); "
        "ranks are multiples of n. n_fft=4096, hop 1024, except the defaults row "
        "(n_fft=2048, hop 512). See the script's docstring.",
        "",
        "| configuration | " + " | ".join(sets) + " | mean |",
        "|---|" + "---:|" * (len(sets) + 1),
    ]
    for label in labels:
        values = [results[s][label][0] for s in sets]
        cells = " | ".join(f"{v:.2f}" for v in values)
        lines.append(f"| {label} | {cells} | {np.mean(values):.2f} |")
    lines += ["", "Machine:", ""] + [f"- {k}: {v}" for k, v in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=HERE / "results")
    parser.add_argument("--explore", action="store_true", help="no defaults row")
    args = parser.parse_args()
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF ConvergenceWarning at max_iter
        for name, mixture, references in datasets():
            print(name, flush=True)
            results[name] = evaluate(mixture, references)
            for label, (value, seconds) in results[name].items():
                print(f"  {label:45s} {value:7.2f} dB {seconds:6.2f} s", flush=True)
    info = machine()
    table = markdown(results, info)
    print(table)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "quality.md").write_text(table)
    (args.output / "quality.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
