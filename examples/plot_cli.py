"""
The command line, step by step
==============================

``skl-sepnmf separate`` does what the Python examples do, on files: one
folder per input with one audio file per source, a figure of the components
and a ``summary.json``. ``skl-sepnmf evaluate`` scores separated files
against reference stems. This script runs both on the demo mixture and shows
what they write.

.. code-block:: console

    $ skl-sepnmf separate --demo -o separated
    $ skl-sepnmf separate song.flac other.wav -o separated --n-sources 4 --jobs 2
    $ skl-sepnmf evaluate separated/song stems/song --json

Exit codes: 0 all inputs done, 1 some input failed (its error is one line on
stderr; the other inputs are still separated), 2 usage error. A rerun skips
the inputs whose ``summary.json`` exists; existing files are never
overwritten without ``--overwrite``.
"""

# %%
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from skl_sepnmf.datasets import make_mixture
from skl_sepnmf.io import write_audio


def skl_sepnmf(*args):
    """Run the command as a user would, print what it says."""
    done = subprocess.run(
        [sys.executable, "-m", "skl_sepnmf.cli", *map(str, args)],
        capture_output=True,
        text=True,
    )
    print(f"$ skl-sepnmf {' '.join(map(str, args))}   -> exit {done.returncode}")
    print(done.stdout or done.stderr)
    return done


workspace = Path(tempfile.mkdtemp())
skl_sepnmf("separate", "--demo", "-o", workspace / "separated", "-q")
summary = json.loads((workspace / "separated" / "demo" / "summary.json").read_text())
print("summary.json:", json.dumps(summary, indent=1)[:600], "...")

# %%
# Scoring against the true sources
# --------------------------------
# The demo mixture is ``make_mixture(n_sources=3, random_state=0)``: write its
# stems and evaluate.
_, stems, sr = make_mixture(n_sources=3, random_state=0)
(workspace / "stems").mkdir()
for k, stem in enumerate(stems):
    write_audio(workspace / "stems" / f"instrument_{k}.wav", stem, sr, subtype="FLOAT")
skl_sepnmf("evaluate", workspace / "separated" / "demo", workspace / "stems")

# %%
# Listening to what the command wrote
# -----------------------------------
# The demo mixture, then each source file beside its true instrument (matched
# one to one); ``--report`` would put the same players in
# ``separated/demo/report.html``.
from skl_sepnmf.io import load_audio  # noqa: E402
from skl_sepnmf.metrics import match_sources  # noqa: E402
from skl_sepnmf.plotting import audio_players  # noqa: E402

folder = workspace / "separated" / "demo"
written = [load_audio(folder / name)[0] for name in summary["sources"]]
mixture, _ = load_audio(workspace / "separated" / "demo.wav")
matched, _ = match_sources(stems, written)
players, labels = [mixture], ["mixture"]
for k, j in enumerate(matched):
    players += [written[j], stems[k]]
    labels += [f"instrument {k}: {summary['sources'][j]}", f"instrument {k}: true"]
audio_players(players, sr, names=labels)
