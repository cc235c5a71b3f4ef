"""Masks: how each source is cut out of the mixture STFT, block by block.

A mask function ``(models, k, mixture, power) -> spectra`` gets the source
models of one block of frames (:class:`BlockModels`), the source ``k`` to make,
the mixture's STFT on the same frames, shape (n_channels, n_frames, n_bins),
and the separator's ``power``; it returns source ``k``'s STFT on those frames.
:data:`MASKS` maps each mask name to its function: adding a mask is one
function and one line there, and the separator's ``mask`` constraints and the
command line's ``--mask`` choices follow.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# The registry key of the notebook's method, which the separator spells
# ``mask=None`` (its historical value) and the command line ``--mask none``.
NOTEBOOK_MASK = "none"


class BlockModels:
    """The model magnitude ``V_k`` of each source on one block of frames.

    Parameters
    ----------
    activations : ndarray of shape (n_channels, n_frames, n_components)
        The activations on the block's frames.
    components : ndarray of shape (n_components, n_bins)
    groups : list of ndarray
        Component indices of each source (a partition of the components).
    """

    def __init__(self, activations: NDArray, components: NDArray, groups: list):
        self.activations = activations
        self.components = components
        self.groups = groups

    def __len__(self) -> int:
        return len(self.groups)

    def model(self, k: int) -> NDArray:
        """``V_k``, shape (n_channels, n_frames, n_bins), a new array."""
        members = self.groups[k]
        return self.activations[..., members] @ self.components[members]

    def total(self) -> NDArray:
        """``sum_j V_j``: one product over all the components, a new array."""
        members = np.concatenate(self.groups)
        return self.activations[..., members] @ self.components[members]

    def largest(self) -> NDArray:
        """``max_j V_j`` per bin, a new array."""
        best = self.model(0)
        for k in range(1, len(self)):
            np.maximum(best, self.model(k), out=best)
        return best


def _safe_power(n_sources: int, dtype) -> float:
    """The largest power for which the models divided by their sum can be raised
    to it without losing the mask (the ``sum``-normalized soft mask).

    With ``r_j = V_j / sum_i V_i``, the largest ``r_j`` is at least
    ``1 / n_sources``; while ``(1 / n_sources) ** power`` stays 1e8 above the
    smallest normal number, every term that underflows to zero is below the
    precision of the largest one, so the ratios are exact to rounding.
    """
    if n_sources <= 1:
        return np.inf
    headroom = -np.log10(np.finfo(dtype).tiny) - 8
    return headroom / np.log10(n_sources)


def soft_mask(models: BlockModels, k: int, mixture: NDArray, power: float):
    """``V_k^p / sum_j V_j^p`` times the mixture STFT (ratio, Wiener-like).

    The ratio is computed on normalized models, never on ``V^p`` itself, which
    overflows (``V > 3.4e38 ** (1 / p)`` in float32: at ``p = 24`` already for
    magnitudes above 40) or underflows (quiet bins at large ``p``) and gave nan
    or equal shares. The models are divided by their sum per bin (one extra
    product, the cheap fused one), or, for powers beyond :func:`_safe_power`
    (about 60 for 4 sources in float32), by their largest value per bin (a
    second pass over the sources), so that the largest term is 1: the mask is
    exact to rounding for any power up to ``inf``, where it becomes a binary
    mask sharing ties equally. Where every model is zero the bin is shared
    equally, so the masks sum to one and the sources sum to the mixture.
    """
    ratio = models.model(k)
    if power == 1 or power <= _safe_power(len(models), ratio.dtype):
        scale = models.total()
    else:
        scale = models.largest()
    empty = scale == 0
    scale[empty] = 1
    ratio /= scale
    if power == 1:
        ratio[empty] = 1 / len(models)  # every model is zero: an equal share
        return ratio * mixture
    ratio[empty] = 1
    ratio **= power
    total = ratio.copy()
    for j in range(len(models)):
        if j != k:
            other = models.model(j)
            other /= scale
            other[empty] = 1
            other **= power
            total += other
    ratio /= total
    return ratio * mixture


def binary_mask(models: BlockModels, k: int, mixture: NDArray, power: float):
    """Each bin whole to the source with the largest model (first on ties)."""
    best = models.model(0)
    winner = np.zeros(best.shape, dtype=np.intp)
    for j in range(1, len(models)):
        current = models.model(j)
        better = current > best
        best[better] = current[better]
        winner[better] = j
    return np.where(winner == k, mixture, 0)


def model_magnitude(models: BlockModels, k: int, mixture: NDArray, power: float):
    """The notebook's method: the model magnitude ``V_k`` with the mixture's
    phase (the sources need not sum to the mixture); ``power`` is unused."""
    magnitude = np.abs(mixture)
    phase = np.divide(
        mixture, magnitude, out=np.ones_like(mixture), where=magnitude > 0
    )
    return models.model(k) * phase


MASKS = {"soft": soft_mask, "binary": binary_mask, NOTEBOOK_MASK: model_magnitude}


def mask_key(mask: str | None) -> str:
    """The :data:`MASKS` key of the separator's ``mask`` value."""
    return NOTEBOOK_MASK if mask is None else mask


def mask_parameter(key: str) -> str | None:
    """The separator's ``mask`` value for a :data:`MASKS` key."""
    return None if key == NOTEBOOK_MASK else key
