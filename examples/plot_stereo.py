"""
Stereo in, stereo out
=====================

A stereo mixture is factorized once, on the frames of both channels together
(the instruments' spectra are the same in both channels, only their levels
differ), and each channel is masked with the same source models. Every
separated source therefore keeps its place in the stereo image.

Here three synthetic instruments are panned left, center and right.
"""

# %%
import sys

import numpy as np

from skl_sepnmf import SNPA, SpectrogramSeparator
from skl_sepnmf.datasets import make_mixture
from skl_sepnmf.metrics import match_sources

mono_mixture, sources, sr = make_mixture(n_sources=3, duration=4.0, random_state=1)
pans = np.array([[1.0, 0.2], [0.7, 0.7], [0.2, 1.0]])  # (left, right) gain
stereo_sources = sources[:, None, :] * pans[:, :, None]  # (3, 2, n_times)
stereo_mixture = stereo_sources.sum(axis=0)

separator = SpectrogramSeparator(SNPA(n_components=3), random_state=0)
separated = separator.fit_transform(stereo_mixture[None])[0]
print("separated:", separated.shape, "(sources, channels, samples)")

matched, scores = match_sources(stereo_sources, separated)
for k, (j, score) in enumerate(zip(matched, scores, strict=True)):
    left, right = np.linalg.norm(separated[j], axis=1)
    print(
        f"instrument {k}: SNR {score:5.1f} dB, left/right level {left / right:4.2f} "
        f"(true {pans[k, 0] / pans[k, 1]:4.2f})"
    )

# %%
# The separated sources, mixed down, as spectrograms
# ---------------------------------------------------
try:
    import matplotlib

    if "sphinx_gallery" not in sys.modules:
        matplotlib.use("Agg")
    from skl_sepnmf.plotting import plot_sources

    plot_sources(separated[matched], sr=sr, names=["left", "center", "right"])
except ImportError:
    pass

# %%
# Listening
# ---------
# The stereo mixture, then each separated source and its true source: with
# headphones, each comes from its own place.
from skl_sepnmf.plotting import audio_players  # noqa: E402

players, labels = [stereo_mixture], ["mixture"]
for name, j, true in zip(
    ["left", "center", "right"], matched, stereo_sources, strict=True
):
    players += [separated[j], true]
    labels += [f"{name}: separated", f"{name}: true"]
audio_players(players, sr, names=labels, duration=4.0)
