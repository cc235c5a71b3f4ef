"""
Choosing method, rank and mask by grid search
=============================================

:class:`~skl_sepnmf.SpectrogramSeparator` is a scikit-learn transformer and
:data:`~skl_sepnmf.metrics.snr_scorer` a scorer, so ``GridSearchCV`` picks the
factorization, its rank and the mask. The data are the rendered Bach chorales
of ``../shared/data/dev`` (22050 Hz, four instruments each), with their stems
as the reference sources.

**One split, train = test.** In blind mode every mixture is factorized on its
own spectrogram when it is separated; nothing is learned across mixtures, so
scoring on the mixtures that were "fitted" leaks nothing. The single split
``cv=[(all, all)]`` just scores every candidate on every mixture. (With
``blind=False`` the components are learned in ``fit``: there, use separate
training audio.)

Run: ``python examples/plot_grid_search.py [DEV_FOLDER]``.
"""

# %%
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV

from skl_sepnmf import NMF, SNPA, GreedySNPA, SpectrogramSeparator
from skl_sepnmf.datasets import load_stems
from skl_sepnmf.metrics import snr_scorer

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
dev = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared/data/dev"
mixtures, references = [], []
for folder in sorted(dev.glob("*bwv*")):
    mixture, sources, sr, names = load_stems(folder)
    mixtures.append(mixture)
    references.append(sources)
    print(f"{folder.name}: {mixture.size / sr:.0f} s, stems {names}")

# %%
# The search
# ----------
everything = np.arange(len(mixtures))
grid = GridSearchCV(
    SpectrogramSeparator(n_fft=4096, hop_length=1024, n_sources=4, random_state=0),
    {
        "estimator": [SNPA(), GreedySNPA(), NMF()],
        "estimator__n_components": [4, 8],
        "mask": ["soft", None],
    },
    scoring=snr_scorer,
    cv=[(everything, everything)],
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # NMF's ConvergenceWarning at 200 iterations
    grid.fit(mixtures, references)

order = np.argsort(-grid.cv_results_["mean_test_score"])
print(f"\n{'method':12s} {'rank':>5s} {'mask':>6s} {'mean SNR (dB)':>14s}")
for i in order:
    params = grid.cv_results_["params"][i]
    print(
        f"{type(params['estimator']).__name__:12s} "
        f"{params['estimator__n_components']:5d} {str(params['mask']):>6s} "
        f"{grid.cv_results_['mean_test_score'][i]:14.2f}"
    )
print("best:", grid.best_params_)

# %%
# Score against rank
# ------------------
try:
    import matplotlib

    if "sphinx_gallery" not in sys.modules:
        matplotlib.use("Agg")
    from skl_sepnmf.plotting import plot_grid_results
except ImportError:
    plot_grid_results = None

if plot_grid_results is not None:
    ax = plot_grid_results(grid)
    ax.set_title("Bach chorales, 4 instruments: mean SNR of the matched sources")
    if "sphinx_gallery" not in sys.modules:
        ax.figure.savefig(HERE / "grid_search.png", dpi=80, bbox_inches="tight")

# %%
# Listening to the best candidate
# -------------------------------
# The first chorale separated by the best candidate: the mixture, then each
# stem's matched estimate and the stem, a 4-second excerpt of each.
from skl_sepnmf.metrics import match_sources  # noqa: E402
from skl_sepnmf.plotting import audio_players  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    best = grid.best_estimator_.transform(mixtures[:1])[0]
matched, _ = match_sources(references[0], best)
players, labels = [mixtures[0]], ["mixture"]
for k, j in enumerate(matched):
    players += [best[j] if j >= 0 else 0 * mixtures[0], references[0][k]]
    labels += [f"stem {k}: separated", f"stem {k}: true"]
audio_players(players, sr, names=labels, start=2.0, duration=4.0)

# %%
if plot_grid_results is not None:
    from skl_sepnmf.plotting import plot_sources

    plot_sources(best[matched], sr=sr, references=references[0])
