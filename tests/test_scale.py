"""Scale: memory-bounded resynthesis, float32 selection without a float64
copy, sources streamed one at a time (the STFT itself: test_spectral.py)."""

import tracemalloc

import numpy as np
import pytest

from skl_sepnmf import SNPA, SpectrogramSeparator, _selection
from skl_sepnmf._spectral import STFTConfig
from skl_sepnmf.datasets import make_mixture


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
