"""Masks on a block of source models: the registry, each mask's definition."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from skl_sepnmf import SNPA, SpectrogramSeparator
from skl_sepnmf._masks import (
    BUSY_WEIGHT,
    MASKS,
    NOTEBOOK_MASK,
    BlockModels,
    binary_mask,
    frame_shares,
    mask_key,
    mask_parameter,
    model_magnitude,
    soft_mask,
)
from skl_sepnmf._spectral import MaskedSources
from skl_sepnmf.datasets import make_mixture

seeds = st.integers(0, 2**32 - 1)


def _block(rng, n_groups, n_channels=2, n_frames=7, n_bins=9, silent=0.3):
    """Random models (some components silent) and a random complex mixture."""
    n_components = 2 * n_groups
    activations = rng.random((n_channels, n_frames, n_components))
    activations[rng.random(activations.shape) < silent] = 0
    components = rng.random((n_components, n_bins))
    groups = np.array_split(np.arange(n_components), n_groups)
    shape = (n_channels, n_frames, n_bins)
    mixture = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return BlockModels(activations, components, groups), mixture


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n_groups=st.integers(1, 5), power=st.sampled_from([0.5, 1.0, 2.0]))
def test_soft_masks_sum_to_one_on_every_bin(seed, n_groups, power):
    rng = np.random.default_rng(seed)
    models, mixture = _block(rng, n_groups)
    total = sum(soft_mask(models, k, mixture, power) for k in range(n_groups))
    np.testing.assert_allclose(total, mixture, atol=1e-12)


def _memberships(groups, n_components):
    whole = np.zeros((n_components, len(groups)))
    for k, group in enumerate(groups):
        whole[group, k] = 1.0
    return whole


@pytest.mark.parametrize("power", [0.5, 1.0, 3.0])
def test_whole_memberships_give_the_models_of_the_groups(power):
    """Memberships of 0 and 1 are the groups themselves: same models, same
    masks."""
    rng = np.random.default_rng(3)
    models, mixture = _block(rng, 3)
    whole = _memberships(models.groups, models.components.shape[0])
    shared = BlockModels(models.activations, models.components, models.groups, whole)
    for k in range(3):
        np.testing.assert_allclose(shared.model(k), models.model(k), atol=1e-12)
        for mask in MASKS.values():
            np.testing.assert_allclose(
                mask(shared, k, mixture, power),
                mask(models, k, mixture, power),
                atol=1e-12,
            )


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n_groups=st.integers(1, 4), power=st.sampled_from([0.5, 1, 2, 5]))
def test_shared_components_split_their_models_and_the_mixture(seed, n_groups, power):
    """Shares summing to one: the source models sum to the whole model, each
    component's model split by its shares; soft and binary masks still
    partition the mixture, and the notebook's magnitudes add up to the
    model."""
    rng = np.random.default_rng(seed)
    models, mixture = _block(rng, n_groups)
    n_components = models.components.shape[0]
    shares = rng.random((n_components, n_groups))
    shares /= shares.sum(axis=1, keepdims=True)
    shared = BlockModels(models.activations, models.components, models.groups, shares)
    parts = [shared.model(k) for k in range(n_groups)]
    np.testing.assert_allclose(sum(parts), shared.total(), atol=1e-10)
    first = models.activations[..., :1] * shares[0, 0] @ models.components[:1]
    rest = (models.activations[..., 1:] * shares[1:, 0]) @ models.components[1:]
    np.testing.assert_allclose(parts[0], first + rest, atol=1e-10)
    total = sum(soft_mask(shared, k, mixture, power) for k in range(n_groups))
    np.testing.assert_allclose(total, mixture, atol=1e-10)
    binary = sum(binary_mask(shared, k, mixture, power) for k in range(n_groups))
    np.testing.assert_allclose(binary, mixture, atol=1e-12)
    magnitudes = sum(
        np.abs(model_magnitude(shared, k, mixture, power)) for k in range(n_groups)
    )
    np.testing.assert_allclose(magnitudes, shared.total(), atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n_groups=st.integers(1, 4), power=st.sampled_from([0.5, 1, 2]))
def test_frame_shares_split_the_models_and_the_mixture(seed, n_groups, power):
    """Shares that vary with the frame still sum to one for every component
    at every frame: the source models sum to the whole model and the soft
    masks partition the mixture; without rivals they are the static ones."""
    rng = np.random.default_rng(seed)
    models, mixture = _block(rng, n_groups)
    n_components = models.components.shape[0]
    shares = rng.random((n_components, n_groups))
    shares /= shares.sum(axis=1, keepdims=True)
    rivals = np.triu(rng.random((n_components, n_components)) < 0.5, 1)
    rivals = (rivals | rivals.T).astype(float)
    varying = BlockModels(
        models.activations, models.components, models.groups, shares, rivals
    )
    assert varying.shares.shape == models.activations.shape + (n_groups,)
    np.testing.assert_allclose(varying.shares.sum(axis=-1), 1.0)
    parts = [varying.model(k) for k in range(n_groups)]
    np.testing.assert_allclose(sum(parts), varying.total(), atol=1e-10)
    total = sum(soft_mask(varying, k, mixture, power) for k in range(n_groups))
    np.testing.assert_allclose(total, mixture, atol=1e-10)
    static = BlockModels(models.activations, models.components, models.groups, shares)
    none = BlockModels(
        models.activations, models.components, models.groups, shares, 0 * rivals
    )
    for k in range(n_groups):
        np.testing.assert_allclose(none.model(k), static.model(k), atol=1e-12)


def test_frame_shares_of_a_stereo_block_are_each_channels_own():
    """A channel's shares depend on its own frames only (one factorization,
    masks per channel)."""
    rng = np.random.default_rng(0)
    activations = rng.random((2, 7, 6)) * (rng.random((2, 7, 6)) < 0.6)
    components = rng.random((6, 9))
    shares = rng.random((6, 3))
    shares /= shares.sum(axis=1, keepdims=True)
    rivals = 1.0 - np.eye(6)
    stereo = frame_shares(activations, components, shares, rivals)
    for channel in range(2):
        np.testing.assert_allclose(
            stereo[channel],
            frame_shares(activations[channel], components, shares, rivals),
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_shared_note_goes_to_the_source_free_at_that_frame(dtype):
    """Components: source 0's note, source 1's note, and a third note shared
    half and half. Frame 0: source 0 plays its note with the shared one,
    which goes mostly to source 1 (e ** 3 to 1 at most); frame 1: source 1
    plays, and it goes to source 0; frame 2: it sounds alone, half and half.
    A component given 96% to its source keeps more than half however busy
    that source is."""
    activations = np.array([[1e3, 0, 1], [0, 1e3, 1], [0, 0, 1]], dtype=dtype)
    components = np.ones((3, 5), dtype=dtype)
    shares = np.array([[1, 0], [0, 1], [0.5, 0.5]])
    rivals = 1.0 - np.eye(3)
    varying = frame_shares(activations, components, shares.astype(dtype), rivals)
    assert varying.dtype == dtype
    busy = 1e3 / (1e3 + 1)
    expected = 1 / (1 + np.exp(-BUSY_WEIGHT * busy))
    np.testing.assert_allclose(varying[0, 2], [1 - expected, expected], rtol=1e-5)
    np.testing.assert_allclose(varying[1, 2], [expected, 1 - expected], rtol=1e-5)
    np.testing.assert_allclose(varying[2, 2], [0.5, 0.5])
    np.testing.assert_allclose(varying[:, 0], [[1, 0]] * 3)  # whole stays whole
    leaning = np.array([[1, 0], [0, 1], [0.96, 0.04]], dtype=dtype)
    kept = frame_shares(activations, components, leaning, rivals)[0, 2, 0]
    assert 0.5 < kept < 0.96
    nowhere = np.array([[1, 0], [0, 1], [0, 0]], dtype=dtype)  # no share: none
    np.testing.assert_array_equal(
        frame_shares(activations, components, nowhere, rivals)[:, 2], 0.0
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_masks_share_bins_where_every_model_is_zero(dtype):
    rng = np.random.default_rng(0)
    models, mixture = _block(rng, 3, silent=1.0)  # all-zero models
    models.activations = models.activations.astype(dtype)
    models.components = models.components.astype(dtype)
    for k in range(3):
        np.testing.assert_allclose(soft_mask(models, k, mixture, 1.0), mixture / 3)


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_soft_mask_is_the_ratio_of_powered_models(power):
    rng = np.random.default_rng(1)
    models, mixture = _block(rng, 3, silent=0)
    powered = np.stack([models.model(k) ** power for k in range(3)])
    models_sum = np.stack([models.model(k) for k in range(3)]).sum(axis=0)
    np.testing.assert_allclose(models.total(), models_sum)
    for k in range(3):
        expected = powered[k] / powered.sum(axis=0) * mixture
        np.testing.assert_allclose(soft_mask(models, k, mixture, power), expected)


@pytest.mark.parametrize("power", [0.5, 1.0, 24.0, 80.0, 1e3, 1e6, np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_mask_is_stable_for_any_power(dtype, power):
    """Issue 13 (7): power=24 overflowed float32 (nan masks, full-scale noise);
    large powers underflowed quiet bins to equal shares."""
    rng = np.random.default_rng(3)
    models, mixture = _block(rng, 4, silent=0)
    # magnitudes of real spectrograms: up to hundreds, down to 1e-6
    models.activations = (models.activations * 300).astype(dtype)
    models.activations[0, 0] *= 1e-8  # a very quiet frame
    models.components = models.components.astype(dtype)
    masked = [soft_mask(models, k, mixture, power) for k in range(4)]
    assert all(np.isfinite(m).all() for m in masked)
    np.testing.assert_allclose(sum(masked), mixture, rtol=1e-5, atol=1e-6)
    values = np.stack([models.model(k).astype(np.float64) for k in range(4)])
    if power == np.inf:  # the limit: each bin whole to its loudest model
        expected = values == values.max(axis=0)
    else:
        logs = power * np.log(values / values.max(axis=0))
        expected = np.exp(logs) / np.exp(logs).sum(axis=0)
    gains = np.stack([m / mixture for m in masked]).real
    np.testing.assert_allclose(gains, expected, atol=1e-3)


def test_a_higher_power_sharpens_the_soft_mask():
    rng = np.random.default_rng(2)
    models, mixture = _block(rng, 2, silent=0)
    louder = models.model(0) > models.model(1)
    gains = [np.abs(soft_mask(models, 0, mixture, p) / mixture) for p in (1, 2)]
    assert np.all(gains[1][louder] >= gains[0][louder])
    assert np.all(gains[1][~louder] <= gains[0][~louder])


def test_binary_mask_gives_each_bin_to_the_largest_model_first_on_ties():
    rng = np.random.default_rng(3)
    models, mixture = _block(rng, 3, silent=0.5)
    models.components[:, :2] = 1.0  # bins 0 and 1: ties between equal groups
    models.activations[..., :] = models.activations[..., :1]
    stacked = np.stack([models.model(k) for k in range(3)])
    winner = np.argmax(stacked, axis=0)  # argmax: the first on ties
    assert np.any(np.sum(stacked == stacked.max(axis=0), axis=0) > 1)  # ties exist
    for k in range(3):
        np.testing.assert_array_equal(
            binary_mask(models, k, mixture, 1.0), np.where(winner == k, mixture, 0)
        )


def test_none_is_the_model_magnitude_with_the_mixture_phase():
    rng = np.random.default_rng(4)
    models, mixture = _block(rng, 2, silent=0)
    mixture[0, 0, :3] = 0  # no phase there: the model's magnitude, phase 0
    for k in range(2):
        spectra = model_magnitude(models, k, mixture, 2.0)  # power unused
        np.testing.assert_allclose(np.abs(spectra), models.model(k))
        np.testing.assert_allclose(spectra[0, 0, :3], models.model(k)[0, 0, :3])
        nonzero = mixture != 0
        np.testing.assert_allclose(
            spectra[nonzero] / np.abs(spectra[nonzero]),
            mixture[nonzero] / np.abs(mixture[nonzero]),
        )


def test_the_notebook_mask_key_is_none_for_the_separator():
    assert mask_parameter(NOTEBOOK_MASK) is None and mask_key(None) == NOTEBOOK_MASK
    for name in MASKS:
        assert mask_key(mask_parameter(name)) == name
    with pytest.raises(InvalidParameterError, match="'mask' parameter"):
        SpectrogramSeparator(mask=NOTEBOOK_MASK).fit(np.ones((1, 4096)))


@pytest.fixture(scope="module")
def mixture():
    return make_mixture(n_sources=3, random_state=0)[0]


@pytest.mark.parametrize("name", sorted(MASKS))
def test_every_mask_separates_make_mixture(name, mixture):
    separator = SpectrogramSeparator(
        SNPA(n_components=6), n_sources=3, mask=mask_parameter(name), random_state=0
    )
    sources = separator.fit_transform(mixture[None])[0]
    assert sources.shape == (3,) + mixture.shape and np.isfinite(sources).all()
    if name in ("soft", "binary"):  # both partition the mixture STFT
        np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MASKS))
def test_masked_sources_call_the_registry(name):
    """MaskedSources applies MASKS[name] to each block, nothing of its own."""
    rng = np.random.default_rng(5)
    models, mixture = _block(rng, 2, n_frames=10, silent=0)
    activations = models.activations.reshape(-1, models.components.shape[0])
    masks = MaskedSources(
        mixture, activations, models.components, models.groups,
        mask_parameter(name), 2.0,
    )  # fmt: skip
    masks.step = 3  # several blocks, the last one short
    for k in range(2):
        np.testing.assert_allclose(
            masks.spectrogram(k), MASKS[name](models, k, mixture, 2.0), rtol=1e-12
        )


def test_the_docs_list_every_mask():
    docs = Path(__file__).parents[1] / "docs"
    guides = [(docs / page).read_text() for page in ("user_guide.rst", "api.rst")]
    for name in MASKS:
        assert all(f'``"{name}"``' in text for text in guides)
        spelled = "None" if mask_parameter(name) is None else f'"{name}"'
        assert spelled in SpectrogramSeparator.__doc__.split("power :")[0]


@pytest.mark.parametrize("power", [24.0, 1e6])
def test_large_powers_separate_real_audio_into_finite_sources(power):
    """Issue 13 (7): --power 24 wrote NaN masks as full-scale noise."""
    from skl_sepnmf.io import load_audio

    from .conftest import DATA_DIR

    path = DATA_DIR / "dev" / "trio" / "mix.flac"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    y, sr = load_audio(path)
    y = 30 * y[:sr]  # loud: magnitudes in the hundreds, 24th powers overflow
    separator = SpectrogramSeparator(SNPA(n_components=3), n_fft=1024, power=power)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, no nan
        sources = separator.set_params(sr=sr).fit_transform(y[None])[0]
    assert np.isfinite(sources).all()
    np.testing.assert_allclose(sources.sum(axis=0), y, atol=1e-4)
