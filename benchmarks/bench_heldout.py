"""Separation quality on the held-out set: pieces no default was chosen on.

The defaults were chosen on the 11 mixtures of ``bench_quality.py``; this
scores them on the 24 mixtures of ``render_heldout.py``: Bach chorales other
than the dev ones, other instrument draws, and two soundfonts besides the dev
set's FluidR3 (TimGM6mb, MuseScore General). Every mixture folder is loaded
with ``datasets.load_stems`` (the mixture is the exact sum of its stems), and
each configuration is told the number of sources k.

Columns: the floor (``mix / k`` for every source), the ideal ratio mask (the
ceiling), the notebook's configuration, whole templates with power-0.5 masks
(``KL-NMF(50) hard p0.5``: the defaults before shared components, but with the
octave check of the fundamentals added since) and with power-1 masks (``hard
p1``), the defaults at rank 40, blind solo anchoring (``found solos``),
``grouping="timbre"`` (``KL-NMF(50) timbre``, what ``"auto"`` falls back to),
the same shares at every frame (``KL-NMF(50) soft``: the defaults before
``sharing="voices"``), the defaults and the defaults with ``random_state`` 1,
2 and 3 (the spread over the grouping's k-means seeds),
the same functions as ``bench_quality.py``; mean SNR and SI-SDR (dB) after
one-to-one matching on SNR, the mean, the mean improvement over the floor, the
count below the floor and the seconds per mixture.

Guided rows: on the 10 solo-intro pieces, ``bench_quality.GUIDED`` (the
separator's guided mode) given the true solo bars from ``metadata.json``: voice
i (``instruments[i]``) alone from 3.333 i to 3.333 (i + 1) s, beside the
floor, the ideal ratio mask and the blind defaults.

Run: ``python benchmarks/render_heldout.py`` once, then
``python benchmarks/bench_heldout.py [--data DIR] [--sets NAME ...]
[--output DIR]`` (``--data``: the rendered set, default
``benchmarks/heldout-audio``; ``--sets``: the folders whose name contains NAME,
repeatable). A full run saves ``benchmarks/results/heldout.md`` and
``heldout.json`` with the machine's description; a ``--sets`` run saves
``heldout-partial.md``/``.json`` instead, never over the full results.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402
from bench_quality import (  # noqa: E402
    CONFIGURATIONS,
    GUIDED,
    SOLO_BAR,
    markdown_table,
    score,
    selected,
    separated_by,
    warm_up,
)

from skl_sepnmf.datasets import load_stems  # noqa: E402

DATA = HERE / "heldout-audio"
LABELS = (
    "floor",
    "ideal ratio mask",
    "notebook",
    "KL-NMF(50) hard p0.5",
    "KL-NMF(50) hard p1",
    "KL-NMF(40) shared",
    "found solos",
    "KL-NMF(50) timbre",
    "KL-NMF(50) soft",
    "defaults",
    "defaults random_state=1",
    "defaults random_state=2",
    "defaults random_state=3",
)
# the guided rows compare with what needs no solo bars: floor, ceiling, blind
GUIDED_BESIDE = ("floor", "ideal ratio mask", "defaults")


def render_first(data, missing):
    """Exit: ``missing`` (a path of the set) is not there."""
    output = "" if data == DATA else f" --output {data}"
    sys.exit(
        f"{missing} not found: run python benchmarks/render_heldout.py{output} first"
    )


def held_out_set(data):
    """(folder, its metadata entry) of every mixture folder of ``data``."""
    metadata = data / "metadata.json"
    if not metadata.is_file():
        render_first(data, metadata)
    entries = {d["folder"]: d for d in json.loads(metadata.read_text())}
    folders = sorted(p for p in data.iterdir() if (p / "mix.flac").is_file())
    unknown = [p.name for p in folders if p.name not in entries]
    if unknown:
        sys.exit(f"folders not in {metadata}: {', '.join(unknown)}")
    return [(folder, entries[folder.name]) for folder in folders]


def solo_segments(entry, names):
    """The true solo bars, one [(start, end)] per stem in the order ``names``.

    Voice i is ``instruments[i]`` of the metadata; ``load_stems`` orders the
    stems by file name instead.
    """
    voice = {name: i for i, name in enumerate(entry["instruments"])}
    return [[(SOLO_BAR * voice[n], SOLO_BAR * (voice[n] + 1))] for n in names]


def markdown(results, info, command):
    names = list(results)
    solo = [n for n in names if "solo_segments" in results[n]]
    metrics = (("snr", "SNR"), ("si_sdr", "SI-SDR"))
    lines = [
        "# Separation quality on the held-out set (no default chosen here)",
        "",
        f"`{command}`. Rendered Bach chorales (not the dev ones) with three "
        "soundfonts, 20 s (solo-intro: 26 s); row names: kind, BWV, soundfont. "
        "Estimates are matched to references on SNR (Hungarian); SI-SDR is of "
        "the same pairs. See the script's docstring.",
        "",
    ]
    for metric, title in metrics:
        lines += [f"## Mean {title} (dB)", ""]
        lines += markdown_table(results, names, list(LABELS), metric)
        lines.append("")
    if solo:
        columns = list(GUIDED_BESIDE) + list(GUIDED)
        lines += [
            "## Guided mode: solo-intro pieces given their true solo bars",
            "",
            f"Voice i alone from {SOLO_BAR} i to {SOLO_BAR} (i + 1) s; "
            + "; ".join(
                f"{label}: `{' '.join(repr(GUIDED[label](4, None)).split())}`"
                for label in GUIDED
            )
            + ", with solo_segments = those bars.",
            "",
        ]
        for metric, title in metrics:
            lines += [f"### Mean {title} (dB)", ""]
            lines += markdown_table(results, solo, columns, metric)
            lines.append("")
    lines += ["## Machine", ""] + [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
        metavar="DIR",
        help=f"the set rendered by render_heldout.py (default: {DATA})",
    )
    parser.add_argument(
        "--sets",
        action="append",
        metavar="NAME",
        help="run the folders whose name contains NAME (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if not args.data.is_dir():
        render_first(args.data, args.data)
    pieces = [(f, e) for f, e in held_out_set(args.data) if selected(f.name, args.sets)]
    blind = {label: CONFIGURATIONS[label] for label in LABELS}
    warm_up(blind)
    results = {}
    for folder, meta in pieces:
        mixture, references, sr, names = load_stems(folder)
        entry = results[folder.name] = {
            "n_sources": len(references),
            "sr": sr,
            "duration": mixture.shape[-1] / sr,
            "synthetic": False,
            "kind": meta["kind"],
            "soundfont": meta["soundfont"],
            "stems": names,
            "scores": {},
        }
        print(f"{folder.name} ({len(references)} sources)", flush=True)
        runs = dict(blind)
        if meta["kind"].startswith("solointro"):
            segments = entry["solo_segments"] = solo_segments(meta, names)
            runs |= {
                label: separated_by(lambda k, f=factory, s=segments: f(k, s))
                for label, factory in GUIDED.items()
            }
        for label, run in runs.items():
            with warnings.catch_warnings():
                # NMF stops at max_iter by design here
                warnings.simplefilter("ignore", ConvergenceWarning)
                entry["scores"][label] = s = score(run, mixture, sr, references)
            print(
                f"  {label:24s} SNR {s['snr']:6.2f} dB  SI-SDR {s['si_sdr']:6.2f} dB"
                f"  {s['seconds']:6.2f} s",
                flush=True,
            )
    info = machine()
    command = " ".join(["python", "benchmarks/bench_heldout.py", *sys.argv[1:]])
    table = markdown(results, info, command)
    print(table)
    stem = "heldout" if args.sets is None else "heldout-partial"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{stem}.md").write_text(table)
    document = {"command": command, "machine": info, "mixtures": results}
    (args.output / f"{stem}.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
