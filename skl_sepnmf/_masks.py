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


# How much a source busy with other notes gives up of a shared component
# (sharing="voices"): its share is weighed by ``exp(-BUSY_WEIGHT * busy)``,
# ``busy`` in [0, 1]. A component shared half and half goes at most ~95% to
# the free source (e**3 = 20 to 1); one given 96% to its group keeps at least
# 54% of it however busy that group is, so shares set by timbre bend where
# the timbre was in doubt and hold where it was not. Measured in the grouping
# harness (the rank-50 factorizations fixed, power-1 masks, k-means seeds 0
# and 1), against static shares: the mean SNR rose from 6.65 / 6.65 to 6.94 /
# 6.97 dB on the 11 dev mixtures of bench_quality.py, from 5.60 / 5.63 to
# 5.77 / 5.80 on the 24 held-out ones (bench_heldout.py) and from 7.18 / 6.96
# to 7.26 / 7.06 on the 16 recombined ones (bench_recombined.py), none below
# its floor. A weight of 2 gave 6.88 / 5.73 / 7.28 (seed 0), 4 (without the
# same-sound exclusion of note_rivals) lost on the recombined set (7.07). An
# unbounded weighing (without that exclusion either), the share times
# ``(1 - busy) ** 2``, gained as much on the dev (6.92) and held-out (5.74)
# sets but lost 0.25 dB on the recombined one: a bassoon + clarinet duet fell
# from 22.1 to 15.3 dB, the clarinet (its shares 0.03-0.07) taking the
# bassoon's templates wherever the bassoon's other templates sounded louder.
BUSY_WEIGHT = 3.0


def frame_shares(
    activations: NDArray, components: NDArray, memberships: NDArray, rivals: NDArray
) -> NDArray:
    """Each component's share of each source at each frame, shape
    ``activations.shape + (n_sources,)``, summing to one over the sources.

    At a frame, source k is ``busy`` for component j by the share of
    ``m_j + r_jk`` that ``r_jk`` makes: ``m_j`` the magnitude component j
    contributes there (its activation times its template's sum), ``r_jk`` the
    magnitude source k's part of j's ``rivals`` contribute (the other notes,
    each weighed by its share of k). The static share of k is weighed by
    ``exp(-BUSY_WEIGHT * busy)``, then the shares are scaled to sum to one.

    Parameters
    ----------
    activations : ndarray of shape (..., n_frames, n_components)
    components : ndarray of shape (n_components, n_bins)
    memberships : ndarray of shape (n_components, n_sources)
        The static shares, rows summing to one.
    rivals : ndarray of shape (n_components, n_components)
        Symmetric, 1 where two components are other notes than each other,
        0 elsewhere (``_grouping.note_rivals``).
    """
    magnitudes = activations * components.sum(axis=1)
    shares = np.empty(activations.shape + memberships.shape[1:], activations.dtype)
    for k in range(memberships.shape[1]):  # a few sources; frames at once
        rival = (magnitudes * memberships[:, k]) @ rivals
        busy = np.divide(
            rival, magnitudes + rival, out=np.zeros_like(rival), where=rival > 0
        )
        shares[..., k] = memberships[:, k] * np.exp(-BUSY_WEIGHT * busy)
    # > 0 where the memberships' row sums to one (exp(-3) > 0); a row of
    # zeros (no share anywhere) stays zeros, as its static model would
    total = shares.sum(axis=-1, keepdims=True)
    return np.divide(shares, total, out=np.zeros_like(shares), where=total > 0)


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
    rivals : ndarray of shape (n_components, n_components), default=None
        With ``memberships``: which components are other notes than each
        other; the shares then vary with the frame (:func:`frame_shares`).
        None keeps the same shares at every frame.
    """

    def __init__(
        self,
        activations: NDArray,
        components: NDArray,
        groups: list,
        memberships: NDArray | None = None,
        rivals: NDArray | None = None,
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
        # (n_channels, n_frames, n_components, n_sources), or the memberships
        # themselves, which broadcast the same way against the activations
        self.shares = self.memberships
        if self.memberships is not None and rivals is not None:
            self.shares = frame_shares(
                activations,
                components,
                self.memberships,
                np.asarray(rivals, dtype=activations.dtype),
            )

    def __len__(self) -> int:
        return len(self.groups)

    def model(self, k: int) -> NDArray:
        """``V_k``, shape (n_channels, n_frames, n_bins), a new array."""
        if self.shares is not None:
            return (self.activations * self.shares[..., k]) @ self.components
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
