"""report.html: one output folder's separation as a page to listen to.

Written from the folder's ``summary.json`` (:func:`skl_sepnmf.batch.separate_file`)
and, when ``skl-sepnmf evaluate --report`` has scored the folder, its
``scores.json``. The page is self-contained HTML without scripts or remote
resources: the players point at the source files next to it and at the input
mixture by a relative path, so the folder can be opened offline in a browser
(and moved together with its input).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.request import pathname2url

from .batch import REPORT, SCORES, SUMMARY
from .io import atomic_write

# what browsers are told each file is (<source type=...>)
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".aiff": "audio/aiff",
    ".aif": "audio/aiff",
}
STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
audio { width: 100%; max-width: 30em; vertical-align: middle; }
img { max-width: 100%; }
"""


def _player(src: str, label: str) -> str:
    suffix = Path(src).suffix.lower()
    kind = AUDIO_TYPES.get(suffix, "")
    type_attribute = f' type="{kind}"' if kind else ""
    return (
        f"<tr><th>{html.escape(label)}</th><td>"
        f'<audio controls preload="metadata">'
        f'<source src="{html.escape(src)}"{type_attribute}></audio></td></tr>'
    )


def _table(rows, header=None) -> str:
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header))
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f'<td class="number">{value:.3f}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _relative_url(target: Path, folder: Path) -> str | None:
    """URL of ``target`` relative to ``folder`` (None: no such file)."""
    if not target.is_file():
        return None
    try:
        relative = os.path.relpath(target.resolve(), folder.resolve())
    except ValueError:  # another drive (Windows): an absolute file URL
        return target.resolve().as_uri()
    return pathname2url(relative)


def write_report(folder, *, mixture=None, scores=None) -> Path:
    """Write ``folder/report.html`` from its summary.json (and scores).

    Parameters
    ----------
    folder : str or path-like
        An output folder of :func:`skl_sepnmf.batch.separate_file`.
    mixture : str or path-like, default=None
        The input file; None takes ``summary["input"]`` (a path relative to the
        working directory of the separation). A mixture that cannot be found
        is named on the page without a player.
    scores : dict, default=None
        A score table as ``skl-sepnmf evaluate --json`` prints it (``"metric"``,
        ``"sources"``: rows of ``"reference"``, ``"estimate"`` and ``*_db``
        values, ``"mean"``); saved as ``folder/scores.json``. None shows the
        saved one, if any.

    Returns
    -------
    path : Path
        The report.

    Raises
    ------
    FileNotFoundError
        The folder has no summary.json (not separated, or not finished).
    """
    folder = Path(folder)
    summary_path = folder / SUMMARY
    if not summary_path.is_file():
        raise FileNotFoundError(f"{folder}: no {SUMMARY}, nothing to report.")
    summary = json.loads(summary_path.read_text())
    if scores is not None:
        with atomic_write(folder / SCORES, overwrite=True) as temporary:
            temporary.write_text(json.dumps(scores, indent=2))
    elif (folder / SCORES).is_file():
        scores = json.loads((folder / SCORES).read_text())

    mixture = Path(mixture if mixture is not None else summary["input"])
    title = f"Separation of {mixture.name}"
    body = [f"<h1>{html.escape(title)}</h1>"]
    seconds = summary.get("seconds")
    body.append(
        f"<p>{html.escape(str(mixture))}: {summary.get('sample_rate')} Hz, "
        f"{summary.get('channels')} channel(s)"
        + (f", {seconds:.2f} s" if isinstance(seconds, (int, float)) else "")
        + "</p>"
    )
    players = []
    mixture_url = _relative_url(mixture, folder)
    if mixture_url is None:
        body.append(f"<p>The mixture {html.escape(str(mixture))} is not found.</p>")
    else:
        players.append(_player(mixture_url, "mixture"))
    for name in summary.get("sources", []):
        players.append(_player(pathname2url(name), Path(name).stem))
    body += ["<h2>Listen</h2>", "<table>", *players, "</table>"]

    if scores:
        columns = [c for c in scores["sources"][0] if c.endswith("_db")]
        rows = [
            [row["reference"], row["estimate"] or "(none)"] + [row[c] for c in columns]
            for row in scores["sources"]
        ]
        rows.append(["mean", ""] + [scores["mean"][c] for c in columns])
        heads = [c.removesuffix("_db").upper().replace("_", "-") for c in columns]
        heads = [f"{head} dB" for head in heads]
        body += [
            "<h2>Scores</h2>",
            f"<p>Matched one-to-one on {html.escape(str(scores.get('metric')))}.</p>",
            _table(rows, ["reference", "estimate", *heads]),
        ]
    if summary.get("figure"):
        body += [
            "<h2>Components</h2>",
            f'<img src="{pathname2url(summary["figure"])}" '
            'alt="spectra and activations of the components">',
        ]
    if summary.get("selected_times"):
        times = ", ".join(f"{t:.2f}" for t in summary["selected_times"])
        body.append(f"<p>Selected frames at (s): {html.escape(times)}</p>")
    parameters = summary.get("parameters", {})
    body += [
        "<h2>Parameters</h2>",
        _table(
            [
                [k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                for k, v in parameters.items()
            ],  # fmt: skip
            ["parameter", "value"],
        ),
    ]
    timings = summary.get("timings_seconds", {})
    body += [
        "<h2>Timings</h2>",
        _table([[k, float(v)] for k, v in timings.items()], ["stage", "seconds"]),
    ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    path = folder / REPORT
    with atomic_write(path, overwrite=True) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return path
