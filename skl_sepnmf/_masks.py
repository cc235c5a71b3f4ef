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

    def powered_total(self, power: float) -> NDArray:
        """``sum_j V_j ** power``, a new array."""
        if power == 1:
            # one product over all the components instead of one per source
            members = np.concatenate(self.groups)
            return self.activations[..., members] @ self.components[members]
        total = self.model(0) ** power
        for k in range(1, len(self)):
            total += self.model(k) ** power
        return total


def soft_mask(models: BlockModels, k: int, mixture: NDArray, power: float):
    """``V_k^p / sum_j V_j^p`` times the mixture STFT (ratio, Wiener-like).

    A tiny constant ``eps`` is added as ``(V_k^p + eps) / (sum_j V_j^p + n eps)``:
    the masks still sum to one, and where every model is zero the bin is shared
    equally, so the sources sum to the mixture exactly.
    """
    ratio = models.model(k)
    eps = np.finfo(ratio.dtype).tiny
    if power != 1:
        ratio **= power
    ratio += eps
    total = models.powered_total(power)
    total += len(models) * eps
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
