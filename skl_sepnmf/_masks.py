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
    memberships : ndarray of shape (n_components, n_sources), default=None
        Each component's share of each source (rows summing to one), when the
        components are shared; None gives each component whole to its group.
    """

    def __init__(
        self,
        activations: NDArray,
        components: NDArray,
        groups: list,
        memberships: NDArray | None = None,
    ):
        self.activations = activations
        self.components = components
        self.groups = groups
        # in the activations' dtype: float64 shares would make float32 models
        # float64
        self.memberships = (
            None
            if memberships is None
            else np.asarray(memberships, dtype=activations.dtype)
        )

    def __len__(self) -> int:
        return len(self.groups)

    def model(self, k: int) -> NDArray:
        """``V_k``, shape (n_channels, n_frames, n_bins), a new array."""
        if self.memberships is not None:
            return (self.activations * self.memberships[:, k]) @ self.components
        members = self.groups[k]
        return self.activations[..., members] @ self.components[members]

    def total(self) -> NDArray:
        """``sum_j V_j``: one product over all the components, a new array."""
        if self.memberships is not None:  # the shares of each sum to one
            return self.activations @ self.components
        members = np.concatenate(self.groups)
        return self.activations[..., members] @ self.components[members]

    def largest(self) -> NDArray:
        """``max_j V_j`` per bin, a new array."""
        best = self.model(0)
        for k in range(1, len(self)):
            np.maximum(best, self.model(k), out=best)
        return best


# Up to this power the models are scaled by one bound per frame (no product);
# beyond it, by their largest value per bin (a second pass over the sources).
# With the bound, a bin 1e-9 below its frame's bound is 1e-18 after squaring,
# far above float32's smallest normal number (1e-38): nothing underflows.
BOUNDED_POWER = 2.0


def soft_mask(models: BlockModels, k: int, mixture: NDArray, power: float):
    """``V_k^p / sum_j V_j^p`` times the mixture STFT (ratio, Wiener-like).

    The ratio is computed on scaled models, never on ``V^p`` itself, which
    overflows (``V > 3.4e38 ** (1 / p)`` in float32: at ``p = 24`` already for
    magnitudes above 40) or underflows (quiet bins at large ``p``), and gave
    nan or equal shares. For ``power <= BOUNDED_POWER`` (0.5, the default
    before shared components, among them) the models are divided by a bound
    of each frame's largest value, ``n_components * max(activations of the
    frame) * max(components)`` (no extra product); beyond it, by their
    largest value per bin, so that the largest term is exactly 1 (one more
    pass over the sources): the mask is exact to rounding for any power up to
    ``inf``, where it becomes a binary mask sharing ties equally. ``power=1``
    is one product over all the components. Where every model is zero the bin
    is shared equally, so the masks sum to one and the sources sum to the
    mixture.
    """
    ratio = models.model(k)
    if power == 1:
        total = models.total()
    else:
        if power <= BOUNDED_POWER:
            scale = models.activations.max(axis=-1, keepdims=True, initial=0)
            scale *= models.components.shape[0] * models.components.max(initial=0)
        else:
            scale = models.largest()
        scale[scale == 0] = 1  # every model is zero there: any scale will do
        ratio /= scale
        ratio **= power
        total = ratio.copy()
        for j in range(len(models)):
            if j != k:
                other = models.model(j)
                other /= scale
                other **= power
                total += other
    empty = total == 0
    total[empty] = 1
    ratio /= total
    ratio[empty] = 1 / len(models)  # no model: an equal share
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
