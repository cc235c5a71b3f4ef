"""
Listening to the methods
========================

Numbers say how much a separation improves on the mixture; ears say what is
left. One real mixture, ``../shared/data/dev/duet_bwv269`` (a viola and a tuba
rendered from Bach's chorale BWV 269, 16 s), separated three ways, each told
that there are k = 2 sources:

* **notebook**: the seed notebook's method, ``NMF(k)`` on an ``n_fft=4096``
  spectrogram and each component's model magnitude with the mixture's phase
  (``mask=None``);
* **defaults**: ``SpectrogramSeparator(n_sources=k)``, a KL-NMF of rank 50
  whose templates are grouped by timbre here (``grouping="auto"``), soft
  mask;
* **best measured**: the blind configuration of best mean SNR in
  ``benchmarks/results/quality.md`` ("KL-NMF(50) shared p1.5": the
  defaults with a soft mask of power 1.5, 6.80 dB mean against the defaults'
  6.71 on the dev mixtures; 5.57 against 5.61 on the held-out ones with
  the factorization fixed, before ``sharing="voices"``; blind solo anchoring
  scores 6.73, and this duet has no solo to find).

Below each: the scores (SNR, SI-SDR and BSS Eval's SDR / SIR / SAR, the
estimates matched to the stems), players for a 4-second excerpt of each
source, and its spectrograms beside the true stems'. With two sources, giving
back mix / 2 for each already scores about 3 dB SNR (the floor of
``../shared/data/README.md``); the ideal ratio mask, 17.5 dB, is the ceiling.

Run: ``python examples/plot_listening.py [FOLDER [SECONDS]]`` (SECONDS: keep
only the beginning of the piece).
"""

# %%
import sys
import warnings
from pathlib import Path

import numpy as np

from skl_sepnmf import NMF, SpectrogramSeparator
from skl_sepnmf.datasets import load_stems
from skl_sepnmf.metrics import separation_scores
from skl_sepnmf.plotting import audio_players

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
default = HERE.parent.parent / "shared" / "data" / "dev" / "duet_bwv269"
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
mixture, stems, sr, names = load_stems(folder)
if len(sys.argv) > 2:  # separate only the first SECONDS (a quicker run)
    keep = int(float(sys.argv[2]) * sr)
    mixture, stems = mixture[:keep], stems[:, :keep]
k = len(stems)
EXCERPT = {"start": 1.0, "duration": 4.0}  # seconds: short, the page stays small
print(f"{folder.name}: {mixture.size / sr:.0f} s at {sr} Hz, instruments {names}")

# %%
# The mixture and the true stems
# ------------------------------
audio_players([mixture, *stems], sr, names=["mixture", *names], **EXCERPT)

# %%
# Three separations
# -----------------
kl_nmf = NMF(
    50,
    beta_loss="kullback-leibler",
    solver="mu",
    init="nndsvda",
    random_state=0,
)
configurations = {
    "notebook": SpectrogramSeparator(
        NMF(k), n_fft=4096, hop_length=1024, mask=None, random_state=0
    ),
    "defaults": SpectrogramSeparator(n_sources=k, random_state=0),
    "best measured": SpectrogramSeparator(
        kl_nmf, n_sources=k, power=1.5, random_state=0
    ),
}
separated, tables = {}, {}
for label, separator in configurations.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF convergence warnings
        sources = separator.fit_transform(mixture[None])[0]
    table = separation_scores(stems, sources, metric="sdr")
    # each stem's estimate, in the stems' order
    separated[label] = sources[table["estimate"]]
    tables[label] = table

print(f"{'':14s} {'SNR':>6s} {'SI-SDR':>7s} {'SDR':>6s} {'SIR':>6s} {'SAR':>6s}  (dB)")
for label, table in tables.items():
    means = [np.mean(table[m]) for m in ("snr", "si_sdr", "sdr", "sir", "sar")]
    print(f"{label:14s} " + " ".join(f"{m:6.2f}" for m in means))

# %%
# The notebook's method
# ---------------------
# Its two components are two spectral shapes, not two instruments: each
# output holds pieces of both.
audio_players(separated["notebook"], sr, names=names, **EXCERPT)

# %%
# The defaults
# ------------
audio_players(separated["defaults"], sr, names=names, **EXCERPT)

# %%
# The best measured configuration
# -------------------------------
audio_players(separated["best measured"], sr, names=names, **EXCERPT)

# %%
# Spectrograms of the separated sources against the stems
# -------------------------------------------------------
try:
    import matplotlib

    if "sphinx_gallery" not in sys.modules:
        matplotlib.use("Agg")
    from skl_sepnmf.plotting import plot_sources

    for label in configurations:
        figure = plot_sources(separated[label], sr=sr, names=names, references=stems)
        figure.suptitle(label)
except ImportError:
    pass
