"""
Learning the templates from solo recordings
===========================================

Blind separation finds its templates in the mixture itself, which works when
every source is heard alone somewhere in it. When it is not, but solo
recordings of the instruments exist, ``blind=False`` learns the templates from
them in ``fit`` (the notebook's "potential fix": add the solo frames to the
matrix), and ``transform`` only computes the mixture's activations on them.

The rendered chorale of ``../shared/data/dev/solointro_bwv108.6`` starts with
each voice alone for one bar; here its stems play the part of solo recordings,
and the templates are selected among their frames.
"""

# %%
import sys
import warnings
from pathlib import Path

from skl_sepnmf import SNPA, SpectrogramSeparator
from skl_sepnmf.datasets import load_stems

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
default = HERE.parent.parent / "shared" / "data" / "dev" / "solointro_bwv108.6"
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
mixture, stems, sr, names = load_stems(folder)
print(f"{folder.name}: {mixture.size / sr:.0f} s, instruments {names}")

settings = {"n_fft": 4096, "hop_length": 1024, "random_state": 0}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    blind = SpectrogramSeparator(SNPA(4), **settings).fit(mixture[None])
    blind_score = blind.score(mixture[None], stems[None])
    # training audio: one solo recording per instrument (here, the stems);
    # SNPA selects 8 templates in each, and instrument k's templates make
    # source k (grouping="recordings")
    trained = SpectrogramSeparator(
        SNPA(8), blind=False, grouping="recordings", **settings
    ).fit(list(stems))
    trained_score = trained.score(mixture[None], stems[None])

print(f"blind, SNPA(4) on the mixture:      {blind_score:5.2f} dB mean SNR")
print(f"trained, 8 SNPA templates per solo: {trained_score:5.2f} dB mean SNR")
sizes = [len(group) for group in trained.groups_]
print("templates per source:", dict(zip(names, sizes, strict=True)))

# %%
# Listening
# ---------
# An excerpt where all four voices play: the mixture, then each instrument as
# the trained separator gives it and as its stem. Then their spectrograms.
import numpy as np  # noqa: E402

from skl_sepnmf.metrics import match_sources  # noqa: E402
from skl_sepnmf.plotting import audio_players  # noqa: E402

separated = trained.transform(mixture[None])[0]  # source k: instrument k
excerpt = {"start": 14.0, "duration": 4.0}
players = [mixture, *np.stack([separated, stems], axis=1).reshape(-1, mixture.size)]
labels = ["mixture"] + [f"{n}: {kind}" for n in names for kind in ("trained", "stem")]
audio_players(players, sr, names=labels, **excerpt)

# %%
try:
    import matplotlib

    if "sphinx_gallery" not in sys.modules:
        matplotlib.use("Agg")
    from skl_sepnmf.plotting import plot_sources

    plot_sources(separated, sr=sr, names=names, references=stems)
except ImportError:
    pass
print("SNR per instrument (dB):", match_sources(stems, separated)[1].round(2))
