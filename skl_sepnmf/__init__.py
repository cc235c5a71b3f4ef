"""Blind music source separation with separable NMF, as scikit-learn estimators.

Estimators take ``X`` of shape (n_samples, n_features): for audio, the
magnitude spectrogram transposed, one row per frame (``|STFT|.T``).
"""

from ._nmf import NMF
from ._separable import SNPA, SPA, GreedySNPA
from ._separator import SpectrogramSeparator

__version__ = "0.1.0"

__all__ = ["NMF", "SPA", "SNPA", "GreedySNPA", "SpectrogramSeparator", "__version__"]
