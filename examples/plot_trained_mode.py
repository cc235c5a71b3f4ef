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
