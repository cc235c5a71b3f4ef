"""Scale: librosa-exact STFT/iSTFT in blocks, memory-bounded resynthesis,
float32 selection without a float64 copy, parallel and distributed runs."""

import tracemalloc

import librosa
import numpy as np
import pytest

from skl_sepnmf import SNPA, SpectrogramSeparator, _selection, _spectral
from skl_sepnmf._spectral import STFTConfig
from skl_sepnmf.datasets import make_mixture

CONFIGS = [
    # n_fft, hop_length, win_length, window, center
    (2048, None, None, "hann", True),
    (1024, 300, 800, "hann", True),  # hop does not divide n_fft; short window
    (512, 128, None, "hamming", False),
    (1000, 333, None, ("kaiser", 4.0), True),  # odd n_fft // hop
]


def _signal(n_channels, n_times, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n_times,) if n_channels == 1 else (n_channels, n_times)
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few frames, so that every test crosses block boundaries."""
    monkeypatch.setattr(_spectral, "BLOCK_BYTES", 3 * 2049 * 16)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n_channels", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stft_equals_librosa(config, n_channels, dtype, small_blocks):
    stft = STFTConfig.resolve(*config)
    y = _signal(n_channels, 9001, dtype)
    ours = stft.stft(y)
    reference = librosa.stft(y, **stft.librosa_kwargs).swapaxes(-1, -2)
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    scale = np.abs(reference).max()
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n_channels", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length_change", [0, -777, 555])
def test_istft_equals_librosa(config, n_channels, dtype, length_change, small_blocks):
    stft = STFTConfig.resolve(*config)
    reference_stft = librosa.stft(
        _signal(n_channels, 9001, dtype), **stft.librosa_kwargs
    )
    length = 9001 + length_change
    reference = librosa.istft(reference_stft, length=length, **stft.librosa_kwargs)
    ours = stft.istft(reference_stft.swapaxes(-1, -2), length)
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


def test_round_trip_of_a_short_signal():
    stft = STFTConfig.resolve(4096, 1024, None, "hann", True)
    y = _signal(2, 300, np.float64)  # shorter than one window: zero-padded
    np.testing.assert_allclose(stft.istft(stft.stft(y), 300), y, atol=1e-12)


def test_block_path_of_float32_selection_is_the_float64_one(monkeypatch):
    """Large float32 X is converted to float64 by row blocks at each pass; the
    frames and weights are those of its float64 copy."""
    mixture, _, _ = make_mixture(n_sources=4, random_state=1)
    X = np.abs(STFTConfig.resolve(1024, 256, None, "hann", True).stft(mixture))
    X = X.astype(np.float32)
    whole = _selection.snpa_select(X.astype(np.float64), 6)
    monkeypatch.setattr(_selection, "FLOAT64_COPY_BYTES", 0)
    monkeypatch.setattr(_selection, "_CONVERT_BLOCK_ROWS", 7)
    blocks = _selection.snpa_select(X, 6)
    np.testing.assert_array_equal(blocks.indices, whole.indices)
    # same frames; FGM stops within its tolerance of the same point
    np.testing.assert_allclose(blocks.weights, whole.weights, atol=1e-6)


def _long_mixture(minutes, sr=22050):
    """Several minutes of real-looking material: the synthetic instruments of
    make_mixture, each part circularly shifted on every repeat."""
    mixture, sources, sr = make_mixture(n_sources=4, sr=sr, random_state=0)
    repeats = int(np.ceil(minutes * 60 * sr / mixture.size))
    rng = np.random.default_rng(0)
    parts = [
        np.concatenate([np.roll(s, rng.integers(s.size)) for _ in range(repeats)])
        for s in sources
    ]
    length = int(minutes * 60 * sr)
    return np.sum(parts, axis=0)[:length].astype(np.float32), sr


def test_separate_streams_sources_equal_to_transform():
    mixture, _, _ = make_mixture(n_sources=3, random_state=0)
    mixture = np.stack([mixture, 0.5 * mixture]).astype(np.float32)
    separator = SpectrogramSeparator(n_sources=3, n_fft=1024, random_state=0)
    collected = separator.fit_transform(mixture[None])[0]
    separation = separator.separate(mixture)
    assert separation.n_sources == 3 and separation.stft == separator.stft_
    streamed = np.stack(list(separation.sources))
    assert streamed.dtype == np.float32
    np.testing.assert_array_equal(streamed, collected)
    np.testing.assert_allclose(streamed.sum(axis=0), mixture, atol=1e-5)


def test_unfitted_trained_separator_cannot_separate():
    separator = SpectrogramSeparator(blind=False)
    with pytest.raises(Exception, match="not fitted"):
        separator.separate(np.zeros(4096))


def test_long_input_never_holds_all_source_spectrograms(monkeypatch):
    """Four minutes, 7 sources: the peak of traced allocations stays below the
    mixture STFT + magnitude + two sources' waveforms + a margin, far below
    the 7 complex spectrograms a whole-array resynthesis would hold. (The
    selection takes the no-float64-copy path of long recordings.)"""
    monkeypatch.setattr(_selection, "FLOAT64_COPY_BYTES", 0)
    mixture, sr = _long_mixture(minutes=4)
    separator = SpectrogramSeparator(SNPA(n_components=7), n_fft=2048)
    stft_bytes = separator.n_fft // 2 + 1
    stft_bytes *= (1 + mixture.size // 512) * np.dtype(np.complex64).itemsize
    tracemalloc.start()
    try:
        separation = separator.separate(mixture)
        total = np.zeros_like(mixture)
        for source in separation.sources:
            total += source
            del source
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    all_sources = 7 * stft_bytes
    budget = stft_bytes * 1.5 + 3 * mixture.nbytes + 64 * 2**20
    assert peak < budget < all_sources
    np.testing.assert_allclose(total, mixture, atol=1e-4)


@pytest.mark.parametrize("mask", ["soft", "binary", None])
def test_masks_on_the_lazy_stft_equal_masks_on_the_whole_one(mask, small_blocks):
    rng = np.random.default_rng(3)
    config = STFTConfig.resolve(1024, 256, None, "hann", True)
    y = _signal(2, 20000, np.float32)
    lazy = _spectral.MixtureSTFT(config, y)
    n_frames = lazy.shape[-2]
    activations = rng.random((2 * n_frames, 4)).astype(np.float32)
    components = rng.random((4, config.n_bins)).astype(np.float32)
    groups = [np.array([0, 2]), np.array([1]), np.array([3])]
    on_demand = _spectral.MaskedSources(
        lazy, activations, components, groups, mask, 2.0
    )
    whole = _spectral.MaskedSources(
        config.stft(y), activations, components, groups, mask, 2.0
    )
    assert len(on_demand.starts) > 3  # several blocks
    for k in range(3):
        np.testing.assert_array_equal(on_demand.spectrogram(k), whole.spectrogram(k))


@pytest.mark.parametrize("frames_per_block", [1, 2, 5])
def test_istft_with_blocks_shorter_than_the_overlap(frames_per_block, monkeypatch):
    """n_fft / hop = 4: blocks of 1 or 2 frames share all their rows with
    their neighbours; every row must still be added exactly once per frame."""
    stft = STFTConfig.resolve(2048, 512, None, "hann", True)
    monkeypatch.setattr(_spectral, "BLOCK_BYTES", frames_per_block * 1025 * 16)
    spectra = librosa.stft(_signal(1, 6000, np.float64), **stft.librosa_kwargs)
    reference = librosa.istft(spectra, length=6000, **stft.librosa_kwargs)
    ours = stft.istft(spectra.swapaxes(-1, -2), 6000)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
