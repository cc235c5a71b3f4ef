"""
The notebook's experiment, reproduced
=====================================

The research notebook this project grew from mixed seven recordings (three
pianos, three clarinets, staccato strings), factorized the magnitude
spectrogram at rank 7 with NMF, SNPA and the greedy variant, and resynthesized
each component with the mixture's phase (``mask=None``). This script does the
same with :class:`~skl_sepnmf.SpectrogramSeparator`, draws the component
spectra and activations, and prints

* the notebook's table in its own units: ``10 log10`` of the amplitude ratio
  ``||s|| / ||s - s_hat||`` (half the usual dB), each reference taking its best
  estimate with repeats allowed, the mean taken over ratios; and the
  reconstruction SNR likewise;
* the standard table: SNR in dB (``20 log10``), one-to-one matching.

It then scores the project's best blind configuration from
``benchmarks/bench_quality.py`` the same way.

Run: ``python examples/plot_seed_experiment.py [SEED_FOLDER]`` (default
``../shared/data/seed``).
"""

# %%
import sys
import warnings
from pathlib import Path

import numpy as np

from skl_sepnmf import NMF, SNPA, GreedySNPA, SpectrogramSeparator
from skl_sepnmf.datasets import SEED_SOURCES, load_seed_mixture
from skl_sepnmf.metrics import match_sources, snr

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
default_seed = HERE.parent.parent / "shared" / "data" / "seed"
seed_folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default_seed
mixture, references, sr = load_seed_mixture(seed_folder)
print(f"mixture: {mixture.shape[0]} samples at {sr} Hz, {len(references)} sources")

# %%
# The notebook's table
# --------------------


def notebook_units(references, estimates, mixture):
    """min / mean / max and reconstruction, as the notebook printed them."""
    ratio = np.array(
        [
            [np.linalg.norm(s) / np.linalg.norm(s - e) for e in estimates]
            for s in references
        ]
    )
    best = ratio.max(axis=1)  # each reference its best estimate, repeats allowed
    reconstruction = np.linalg.norm(mixture) / np.linalg.norm(
        mixture - estimates.sum(axis=0)
    )
    return 10 * np.log10([best.min(), best.mean(), best.max(), reconstruction])


def standard_db(references, estimates, mixture):
    _, scores = match_sources(references, estimates)  # one-to-one, Hungarian
    return [scores.min(), scores.mean(), scores.max(), snr(mixture, estimates.sum(0))]


STFT = {"n_fft": 4096, "hop_length": 1024}
configurations = {
    "NMF (notebook)": SpectrogramSeparator(NMF(7), mask=None, **STFT),
    "SNPA (notebook)": SpectrogramSeparator(SNPA(7), mask=None, **STFT),
    "GreedySNPA (notebook)": SpectrogramSeparator(GreedySNPA(7), mask=None, **STFT),
    "best blind: NMF(9) soft, grouped to 7": SpectrogramSeparator(
        NMF(9), n_sources=7, random_state=0, **STFT
    ),
}
separated = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # NMF's ConvergenceWarning at 200 iterations
    for name, separator in configurations.items():
        separated[name] = (separator, separator.fit_transform(mixture[None])[0])

header = f"{'':40s} {'min':>7s} {'mean':>7s} {'max':>7s} {'recon':>7s}"
print("\nThe notebook's units: 10*log10(||s||/||s - s_hat||), best match, repeats")
print(header)
for name, (_, estimates) in separated.items():
    values = notebook_units(references, estimates, mixture)
    print(f"{name:40s} " + " ".join(f"{v:7.2f}" for v in values))
print("notebook printed, NMF:                     1.33    3.50    5.86    7.76")
print("                 SNPA:                    -0.63    0.94    2.59    5.64")
print("           GreedySNPA:                     0.40    1.21    2.18    5.64")

print("\nStandard dB: 20*log10(||s||/||s - s_hat||), one-to-one matching")
print(header)
for name, (_, estimates) in separated.items():
    values = standard_db(references, estimates, mixture)
    print(f"{name:40s} " + " ".join(f"{v:7.2f}" for v in values))

# %%
# Component spectra and activations
# ---------------------------------
# As in the notebook: the template of each SNPA component (a real frame of the
# spectrogram) on a log scale, and its activation over time.

try:
    import matplotlib

    if "sphinx_gallery" not in sys.modules:
        matplotlib.use("Agg")
    from skl_sepnmf.plotting import plot_components
except ImportError:
    plot_components = None

if plot_components is not None:
    separator, _ = separated["SNPA (notebook)"]
    snpa = separator.estimators_[0]
    fig = plot_components(
        snpa.components_,
        separator.activations_[0],
        sr=sr,
        hop_length=separator.stft_.hop_length,
        title="SNPA, rank 7: selected frames " + str(snpa.indices_.tolist()),
    )
    if "sphinx_gallery" not in sys.modules:
        fig.savefig(HERE / "seed_snpa_components.png", dpi=80)
        print(f"\nfigure: {HERE / 'seed_snpa_components.png'}")
print("sources:", ", ".join(SEED_SOURCES))

# %%
# Listening
# ---------
# The mixture, then each source of the best blind configuration (matched one
# to one) beside the true source, a 4-second excerpt of each; then their
# spectrograms.
from skl_sepnmf.plotting import audio_players  # noqa: E402

_, best = separated["best blind: NMF(9) soft, grouped to 7"]
matched, _ = match_sources(references, best)
players, labels = [mixture], ["mixture"]
for name, j, true in zip(SEED_SOURCES, matched, references, strict=True):
    players += [best[j], true]
    labels += [f"{name}: separated", f"{name}: true"]
audio_players(players, sr, names=labels, start=2.0, duration=4.0)

# %%
if plot_components is not None:
    from skl_sepnmf.plotting import plot_sources

    plot_sources(best[matched], sr=sr, names=list(SEED_SOURCES), references=references)
