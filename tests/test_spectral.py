"""The STFT and inverse STFT in blocks of frames (librosa-exact), and masked
sources computed on demand."""

import librosa
import numpy as np
import pytest

from skl_sepnmf import _spectral
from skl_sepnmf._masks import MASKS, mask_parameter
from skl_sepnmf._spectral import STFTConfig, default_n_fft, mel_filterbank

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


# Settings whose first or last samples lie under window tails only: librosa's
# division by the overlap-added window weight amplifies masked spectra there.
WEAK_EDGE_CONFIGS = [
    (2048, 512, None, "hann", False),
    (2048, 2048, None, "hann", True),  # hop = window: between windows too
    (512, 128, None, "hamming", False),
]


@pytest.mark.parametrize("config", WEAK_EDGE_CONFIGS)
@pytest.mark.parametrize("n_channels", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_sources_are_not_amplified_where_the_windows_barely_reach(
    config, n_channels, dtype
):
    stft = STFTConfig.resolve(*config)
    y = _signal(n_channels, 9001, dtype)
    spectra = stft.stft(y)
    masks = np.random.default_rng(1).random((3, *spectra.shape))
    masks /= masks.sum(axis=0)
    inverse = _spectral.InverseSTFT(stft, spectra.shape[-2], y.shape[-1], spectra.dtype)
    assert inverse.weak.size
    leading = y.shape[:-1]

    def sources(weak_share):
        return np.stack(
            [
                inverse(
                    leading,
                    [0],
                    lambda _, m=m: (m * spectra).astype(spectra.dtype),
                    weak_share,
                )
                for m in masks
            ]
        )

    divided = sources(None)  # librosa.istft's normalization
    mended = sources(y[..., inverse.weak] / 3)
    peak = np.abs(y).max()

    def bounded_and_summing(sources):
        # a masked source may exceed the mixture a little, not thousands of
        # times; and the sources sum to it even where the window weight is zero
        bounded = np.abs(sources).max() < 2 * peak
        return bounded, np.allclose(sources.sum(axis=0), y, rtol=0, atol=1e-5 * peak)

    assert bounded_and_summing(mended) == (True, True)
    # librosa's division: 25,000 to 38,000 times the peak with a Hann window
    # and center=False, and no sum where the weight is zero, with every setting
    assert bounded_and_summing(divided) != (True, True)
    strong = np.setdiff1d(np.arange(y.shape[-1]), inverse.weak)
    np.testing.assert_array_equal(mended[..., strong], divided[..., strong])


@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_the_default_stft_reaches_every_sample(sr):
    """Centered, hop n_fft // 4: no sample is mended, so the defaults'
    sources are librosa.istft's exactly, at any length."""
    n_fft = default_n_fft(sr)
    stft = STFTConfig.resolve(n_fft, None, None, "hann", True)
    for length in (1, n_fft // 4 - 1, n_fft, 9001, 9001 + n_fft // 8, 20 * sr + 1):
        inverse = _spectral.InverseSTFT(
            stft, stft.n_frames(length), length, np.complex64
        )
        assert inverse.weak.size == 0, length


@pytest.mark.parametrize("mask", [mask_parameter(name) for name in sorted(MASKS)])
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


@pytest.mark.parametrize(
    "sr, n_fft, n_mels", [(22050, 2048, 128), (16000, 1024, 40), (44100, 4096, 64)]
)
def test_mel_filterbank_is_librosas(sr, n_fft, n_mels):
    import librosa

    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    filters = mel_filterbank(sr, n_fft // 2 + 1, n_mels)
    np.testing.assert_allclose(filters, expected, rtol=0, atol=1e-7 * expected.max())


@pytest.mark.parametrize(
    "window",
    [
        "hann",
        "hamming",
        "blackman",
        "boxcar",
        "triang",
        ("kaiser", 4.0),
        6.0,  # a number: Kaiser's beta
        ("gaussian", 100.0),
        ("tukey", 0.25),
    ],
)
@pytest.mark.parametrize("n_fft, win_length", [(1024, 1024), (1024, 801), (512, 300)])
def test_fft_window_is_librosas(window, n_fft, win_length):
    expected = librosa.util.pad_center(
        librosa.filters.get_window(window, win_length, fftbins=True), size=n_fft
    )
    config = STFTConfig.resolve(n_fft, None, win_length, window, True)
    np.testing.assert_array_equal(config.fft_window, expected)


def test_fft_window_from_an_array_or_a_callable_is_librosas():
    import scipy.signal

    for window in (np.linspace(0.0, 1.0, 300), scipy.signal.windows.cosine):
        expected = librosa.util.pad_center(
            librosa.filters.get_window(window, 300, fftbins=True), size=512
        )
        config = STFTConfig.resolve(512, None, 300, window, True)
        np.testing.assert_array_equal(config.fft_window, expected)


@pytest.mark.parametrize(
    "window, win_length, message",
    [
        ("no-such-window", 256, "not a window scipy.signal.get_window knows"),
        (np.ones(100), 256, "an array window needs win_length=256"),
        # refused when the sizes are resolved, before any window is made
        ("hann", 1024, r"win_length \(1024\) must be at most n_fft \(512\)"),
    ],
)
def test_bad_window_is_a_clear_error(window, win_length, message):
    with pytest.raises(ValueError, match=message):
        STFTConfig.resolve(512, None, win_length, window, True).stft(np.zeros(2048))


@pytest.mark.parametrize("stored_bytes", [0, 2**30])
def test_resynthesis_reuses_the_stored_mixture_stft(stored_bytes, monkeypatch):
    """Within STORED_STFT_BYTES the mixture's blocks are computed once, for
    the magnitude, not again for each source; beyond it, once per source.
    The sources are the same either way and sum to the mixture."""
    monkeypatch.setattr(_spectral, "STORED_STFT_BYTES", stored_bytes)
    monkeypatch.setattr(_spectral, "BLOCK_BYTES", 40 * 1025 * 16)
    forward_calls = []
    rfft = _spectral.scipy.fft.rfft

    def counted_rfft(*args, **kwargs):
        forward_calls.append(1)
        return rfft(*args, **kwargs)

    monkeypatch.setattr(_spectral.scipy.fft, "rfft", counted_rfft)
    from skl_sepnmf import SNPA, SpectrogramSeparator

    y = _signal(2, 30000, np.float32)
    separator = SpectrogramSeparator(SNPA(4), n_fft=2048, power=1)
    sources = separator.fit_transform(y[None])[0]
    n_blocks = -(-separator.stft_.n_frames(y.shape[-1]) // 40)
    assert n_blocks > 1
    expected = n_blocks * (1 if stored_bytes else 1 + sources.shape[0])
    assert len(forward_calls) == expected
    scale = np.abs(y).max()
    np.testing.assert_allclose(sources.sum(axis=0), y, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize(
    "sr, n_fft",
    [
        (8000, 1024),
        (16000, 2048),
        (22050, 2048),
        (32000, 4096),
        (44100, 4096),
        (48000, 4096),
        (96000, 8192),
        (10, 2),
    ],
)
def test_the_default_window_is_the_power_of_two_closest_to_93_ms(sr, n_fft):
    """librosa's 2048 samples at 22050 Hz, kept in time (on a log scale) at
    other rates; at least 2 samples."""
    assert default_n_fft(sr) == n_fft
