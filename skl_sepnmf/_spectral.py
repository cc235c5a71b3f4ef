"""STFT, masking and resynthesis, in blocks of frames.

Layout is frames-major: the STFT of a waveform ``(n_times,)`` or
``(n_channels, n_times)`` is ``(n_frames, n_bins)`` or
``(n_channels, n_frames, n_bins)``, i.e. librosa's ``(..., n_bins, n_frames)``
with the last two axes swapped. Each frame's spectrum is then contiguous for
the (inverse) real FFTs, and ``|STFT|`` reshaped to ``(n_channels * n_frames,
n_bins)`` is the estimators' ``X`` without a copy.

:class:`MixtureSTFT` (behind :meth:`STFTConfig.stft`) and :class:`InverseSTFT`
compute what ``librosa.stft`` and ``librosa.istft`` compute (same window, zero
padding and window-sum normalization; tested equal to 1e-5), with scipy.fft on
blocks of frames and an overlap-add vectorized over frames (a loop over the
``n_fft / hop_length`` overlapping segments only). Precision follows the
waveform: float32 audio gives complex64 spectra and float32 FFTs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from math import ceil

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from ._masks import MASKS, BlockModels, mask_key
from ._parallel import _blas_threads, _ordered_map

# Spectrum data per block of frames: large enough that the Python overhead per
# block is negligible, small enough that a block's temporaries (model, mask,
# masked spectrum, inverse FFT) stay a few tens of MB however long the audio.
BLOCK_BYTES = 4 * 2**20

# A mixture STFT up to this size (3 minutes of 44.1 kHz stereo at n_fft=4096
# in complex64) is kept whole once computed, so that resynthesis does not
# recompute its blocks once per source: 7 sources cost 8 forward FFTs of the
# mixture otherwise, as many as the 7 inverse ones. Beyond, memory stays
# bounded and the blocks are recomputed.
STORED_STFT_BYTES = 256 * 2**20


# Samples whose overlap-added window weight (the sum of squared windows over
# them) is below this fraction of its mean are barely seen by the STFT: with
# center=False the first and last few milliseconds; centered, with a Hann
# window and a hop from 0.4 n_fft, the last samples at some lengths; with a
# hop near the whole window, also the samples between two windows. Dividing
# a masked spectrum's inverse by such a weight, as librosa.istft does,
# amplified sources thousands of times (dev duet, center=False: samples of
# 1,894 where the mixture peaks at 0.90, mean SNR -27.65 dB). The sources
# divide by at least this weight there and share the rest of the mixture
# equally (InverseSTFT.share_weak). The 11 dev mixtures, six settings
# (center=False; hops of 0.5 to 1.0 n_fft), mean SNR
# (benchmarks/bench_edges.py; floor mix/k 1.32): librosa's division -11.95 dB;
# floors of 0.001, 0.01, 0.03 and 0.1 of the mean 5.18, 5.70, 5.72 and 5.58
# (0.001 leaves 6 separations below their floor at long hops; 0.1 loses
# between windows at hops over 0.74 n_fft, where librosa's division did not
# amplify). The default (centered, hop n_fft // 4) never falls below a sixth
# of the mean: it is untouched.
WEAK_WEIGHT = 0.01

# librosa's default window, 2048 samples at its default rate of 22050 Hz (93 ms),
# kept in time at other rates. Held-out pieces rendered at 44.1 kHz, mean SNR
# over three input shifts (bench_robustness.py): n_fft=2048 (46 ms) 4.79 dB
# (one of 72 separations below its floor), n_fft=4096 (93 ms) 5.84 dB, as at
# 22050 Hz with 2048 (5.77).
DEFAULT_WINDOW_SECONDS = 2048 / 22050


def default_n_fft(sr: float) -> int:
    """The power of two closest to :data:`DEFAULT_WINDOW_SECONDS` at ``sr`` (on a
    log scale), at least 2: 2048 at 16000-22050 Hz, 4096 at 32000-48000 Hz.

    A power of two keeps the FFTs fast and 22050 Hz on librosa's 2048.
    """
    return max(2, 2 ** round(float(np.log2(DEFAULT_WINDOW_SECONDS * sr))))


def block_frames(n_channels: int, n_bins: int, itemsize: int) -> int:
    """Frames per block so that one block of spectra is about BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // (n_channels * n_bins * itemsize))


@dataclass(frozen=True)
class STFTConfig:
    """librosa's STFT parameters, resolved (hop and window length filled in)."""

    n_fft: int
    hop_length: int
    win_length: int
    window: str | tuple | float
    center: bool

    @classmethod
    def resolve(cls, n_fft, hop_length, win_length, window, center):
        win_length = n_fft if win_length is None else win_length
        # at least 1: n_fft of 2 or 3 made the default hop 0 (ZeroDivisionError)
        hop_length = max(1, win_length // 4) if hop_length is None else hop_length
        if win_length > n_fft:
            raise ValueError(
                f"win_length ({win_length}) must be at most n_fft ({n_fft}): the "
                "window is zero-padded to n_fft, never cut."
            )
        if hop_length > win_length:
            raise ValueError(
                f"hop_length ({hop_length}) must be at most win_length "
                f"({win_length}): longer hops leave samples outside every frame, "
                "which no source could contain (they would not sum to the mixture)."
            )
        return cls(n_fft, hop_length, win_length, window, center)

    @property
    def librosa_kwargs(self) -> dict:
        """The parameters every librosa STFT call here shares."""
        return {
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "window": self.window,
            "center": self.center,
        }

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @cached_property
    def fft_window(self) -> NDArray[np.float64]:
        """The analysis (and synthesis) window, zero-padded to ``n_fft``.

        ``librosa.util.pad_center(librosa.filters.get_window(window, win_length,
        fftbins=True), size=n_fft)``, written with scipy.signal (which librosa
        calls for named windows) because importing ``librosa.filters`` compiles
        librosa's numba helpers: seconds on a fresh install, for an array that
        takes microseconds.
        """
        return _fft_window(self.window, self.win_length, self.n_fft)

    def padded_length(self, n_times: int) -> int:
        """Samples the STFT sees: short signals are zero-padded to ``n_fft``."""
        return max(n_times, self.n_fft)

    def n_frames(self, n_times: int) -> int:
        n_times = self.padded_length(n_times)
        if self.center:
            n_times += 2 * (self.n_fft // 2)
        return 1 + (n_times - self.n_fft) // self.hop_length

    def stft(self, y: NDArray) -> NDArray:
        """Frames-major STFT, ``librosa.stft(y).swapaxes(-1, -2)``.

        A signal shorter than ``n_fft`` is zero-padded to ``n_fft`` first
        (librosa needs one full window).
        """
        return MixtureSTFT(self, y).whole()

    def istft(self, spectra: NDArray, length: int) -> NDArray:
        """Inverse of :meth:`stft`: ``librosa.istft(spectra.swapaxes(-1, -2))``."""
        n_frames = spectra.shape[-2]
        inverse = InverseSTFT(self, n_frames, length, spectra.dtype)
        step = block_frames(
            int(np.prod(spectra.shape[:-2])), spectra.shape[-1], spectra.itemsize
        )
        return inverse(
            spectra.shape[:-2],
            range(0, n_frames, step),
            lambda first: spectra[..., first : first + step, :],
        )

    def griffinlim(self, magnitude, length, n_iter, random_state):
        """Griffin-Lim from a frames-major magnitude (librosa's algorithm)."""
        # imported here: librosa's STFT compiles its numba helpers on import
        import librosa

        return librosa.griffinlim(
            np.swapaxes(magnitude, -1, -2),
            n_iter=n_iter,
            length=length,
            random_state=random_state,
            **self.librosa_kwargs,
        )


def _fft_window(window, win_length: int, n_fft: int) -> NDArray[np.float64]:
    """librosa's window rules (a callable, an array of length ``win_length``, or
    a name / tuple / number for :func:`scipy.signal.get_window`, periodic),
    centred in ``n_fft`` samples of zeros."""
    if win_length > n_fft:
        raise ValueError(
            f"win_length={win_length} is longer than n_fft={n_fft}: the window "
            "must fit in one FFT frame (use win_length <= n_fft)."
        )
    if callable(window):
        values = window(win_length)
    elif isinstance(window, (str, tuple)) or np.isscalar(window):
        import scipy.signal  # 0.1 s of import, only when an STFT is computed

        try:
            values = scipy.signal.get_window(window, win_length, fftbins=True)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"window={window!r} is not a window scipy.signal.get_window knows "
                f"({error}); pass a name such as 'hann', a tuple such as "
                "('kaiser', 4.0), an array of win_length values or a callable."
            ) from None
    else:
        values = window
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (win_length,):
        raise ValueError(
            f"window has shape {values.shape}; an array window needs "
            f"win_length={win_length} values."
        )
    padded = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    padded[start : start + win_length] = values
    return padded


def _zero_extended(y: NDArray, first: int, last: int) -> NDArray:
    """Samples ``first:last`` of y, zeros outside ``0:y.shape[-1]`` (the
    centering pad, and the padding of signals shorter than ``n_fft``); a view
    when the range lies inside y."""
    if first >= 0 and last <= y.shape[-1]:
        return y[..., first:last]
    samples = np.zeros(y.shape[:-1] + (last - first,), dtype=y.dtype)
    lo, hi = max(first, 0), min(last, y.shape[-1])
    if hi > lo:
        samples[..., lo - first : hi - first] = y[..., lo:hi]
    return samples


class MixtureSTFT:
    """The STFT of one waveform, computed block by block of frames on demand.

    Resynthesis asks for each block of the mixture's STFT once per source.
    After :meth:`whole` has computed every block, they are kept if the whole
    STFT fits ``STORED_STFT_BYTES``; for a longer recording they are
    recomputed (the largest array saved, complex64, twice the magnitude, for
    one forward FFT per block per source).
    """

    def __init__(self, config: STFTConfig, y: NDArray):
        self.config = config
        self.real = np.float32 if y.dtype == np.float32 else np.float64
        self.y = np.asarray(y, dtype=self.real)
        self.offset = config.n_fft // 2 if config.center else 0
        self.window = config.fft_window.astype(self.real)
        self.dtype = np.dtype(np.result_type(self.real, 1j))
        self.shape = y.shape[:-1] + (config.n_frames(y.shape[-1]), config.n_bins)
        n_channels = int(np.prod(y.shape[:-1]))
        self.step = block_frames(n_channels, config.n_bins, self.dtype.itemsize)
        self.stored = None

    @property
    def starts(self) -> range:
        """First frame of each block."""
        return range(0, self.shape[-2], self.step)

    def block(self, start: int, stop: int, workers: int = 1) -> NDArray:
        """Frames ``start`` to ``stop`` (clipped to the last frame)."""
        stop = min(stop, self.shape[-2])
        if self.stored is not None and start % self.step == 0:
            stored = self.stored[start // self.step]
            if stop - start <= stored.shape[-2]:
                return stored[..., : stop - start, :]
        hop, n_fft = self.config.hop_length, self.config.n_fft
        first = start * hop - self.offset
        last = (stop - 1) * hop - self.offset + n_fft
        samples = _zero_extended(self.y, first, last)
        frames = sliding_window_view(samples, n_fft, axis=-1)[..., ::hop, :]
        return scipy.fft.rfft(frames * self.window, axis=-1, workers=workers)

    def whole(self, transform=None) -> NDArray:
        """The whole STFT, or ``transform`` of it (e.g. ``np.abs``, which then
        never exists as a complex array), filled block by block."""
        dtype = self.dtype if transform is None else self.real
        out = np.empty(self.shape, dtype=dtype)
        store = (
            self.stored is None
            and transform is not None
            and np.prod(self.shape) * self.dtype.itemsize <= STORED_STFT_BYTES
        )
        stored = []
        # the BLAS thread budget: joblib workers limit it, so the FFTs do not
        # oversubscribe the cores
        workers = _blas_threads()
        for start in self.starts:
            spectra = self.block(start, start + self.step, workers)
            stop = start + spectra.shape[-2]
            out[..., start:stop, :] = (
                spectra if transform is None else transform(spectra)
            )
            if store:
                stored.append(spectra)  # the FFT's own output: no copy
        if store:
            self.stored = stored
        return out


class _StoredSTFT:
    """A whole frames-major STFT array, with :class:`MixtureSTFT`'s interface."""

    def __init__(self, spectra: NDArray):
        self.spectra = spectra
        self.shape, self.dtype = spectra.shape, spectra.dtype
        n_channels = int(np.prod(spectra.shape[:-2]))
        self.step = block_frames(n_channels, spectra.shape[-1], spectra.itemsize)

    def block(self, start: int, stop: int, workers: int = 1) -> NDArray:
        return self.spectra[..., start:stop, :]


class InverseSTFT:
    """``librosa.istft`` of one signal, fed block by block of frames.

    Built once per mixture (the window sum-square normalization is shared by
    its sources), then called once per source with an iterable of
    ``(first_frame, spectra_block)``; only the output waveform is held whole.
    Like librosa with ``length`` given, frames past what ``length`` needs are
    ignored.
    """

    def __init__(self, config: STFTConfig, n_frames: int, length: int, dtype):
        self.config = config
        self.length = length
        self.dtype = np.float32 if np.dtype(dtype) == np.complex64 else np.float64
        hop, n_fft = config.hop_length, config.n_fft
        padded = length + 2 * (n_fft // 2) if config.center else length
        self.n_frames = min(n_frames, ceil(padded / hop))
        self.n_segments = ceil(n_fft / hop)  # hop-long segments of one frame
        self.start = n_fft // 2 if config.center else 0
        self.window = config.fft_window.astype(self.dtype)
        window_sq = self._overlap_add_constant(config.fft_window**2)
        self.window_sum = self._trim(window_sq.astype(self.dtype))
        # librosa.util.tiny: the smallest normal number of the output's precision
        self.nonzero = self.window_sum > np.finfo(self.dtype).tiny
        mean_weight = np.sum(config.fft_window**2) / hop
        self.weak_weight = self.dtype(WEAK_WEIGHT * mean_weight)
        self.weak = np.flatnonzero(self.window_sum < self.weak_weight)

    def _segments(self) -> Iterator[tuple[int, slice]]:
        """``(j, samples of frame segment j)`` for each overlapping segment."""
        hop, n_fft = self.config.hop_length, self.config.n_fft
        for j in range(self.n_segments):
            yield j, slice(j * hop, min((j + 1) * hop, n_fft))

    def _new_buffer(self, leading_shape) -> NDArray:
        # row t holds samples t * hop ... (t + 1) * hop - 1 of the padded signal
        shape = (*leading_shape, self.n_frames + self.n_segments - 1)
        return np.zeros((*shape, self.config.hop_length), dtype=self.dtype)

    def _overlap_add_constant(self, frame: NDArray) -> NDArray:
        buffer = self._new_buffer(()).astype(np.float64)
        for j, samples in self._segments():
            width = samples.stop - samples.start
            buffer[j : j + self.n_frames, :width] += frame[samples]
        return buffer.reshape(-1)

    def _trim(self, padded_signal: NDArray) -> NDArray:
        """Drop the centering pad; cut or zero-extend to ``length``."""
        signal = padded_signal[..., self.start : self.start + self.length]
        missing = self.length - signal.shape[-1]
        if missing > 0:
            signal = np.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(0, missing)])
        return signal

    def __call__(self, leading_shape, starts, block, weak_share=None) -> NDArray:
        """The waveform ``(*leading_shape, length)`` of the spectra ``block(first)``
        (frames ``first, first + 1, ...``) for each ``first`` in ``starts``.

        That is ``librosa.istft``: the overlap-added frames divided by the
        window weight wherever it is not zero; with ``weak_share`` (a masked
        source's), then mended where that weight is low (:meth:`share_weak`).

        A pool of threads (numpy and scipy.fft release the GIL) makes each
        block, inverts and windows it, and overlap-adds it into the rows of the
        output only its own frames reach; the few rows a block shares with its
        neighbours are added by this thread, in order. At most two blocks per
        thread are ahead of it.
        """
        buffer = self._new_buffer(leading_shape)
        n_fft, overlap = self.config.n_fft, self.n_segments - 1

        def overlap_added(first):
            spectra = block(first)
            count = min(spectra.shape[-2], self.n_frames - first)
            frames = scipy.fft.irfft(spectra[..., :count, :], n=n_fft, axis=-1)
            frames *= self.window
            local = np.zeros(
                (*leading_shape, count + overlap, self.config.hop_length),
                dtype=self.dtype,
            )
            for j, samples in self._segments():
                width = samples.stop - samples.start
                local[..., j : j + count, :width] += frames[..., samples]
            if count <= overlap:
                return [(first, local)]
            # rows first + overlap ... first + count - 1 hear only this block
            buffer[..., first + overlap : first + count, :] = local[
                ..., overlap:count, :
            ]
            return [
                (first, local[..., :overlap, :]),
                (first + count, local[..., count:, :]),
            ]

        starts = [first for first in starts if first < self.n_frames]
        threads = min(_blas_threads(), len(starts))
        with contextlib.ExitStack() as stack:
            if threads > 1:
                pool = stack.enter_context(ThreadPoolExecutor(threads))
                # the pool is the parallelism: one BLAS thread per block
                stack.enter_context(threadpool_limits(1))
                results = _ordered_map(pool, overlap_added, starts, 2 * threads)
            else:
                results = map(overlap_added, starts)
            for shared in results:
                for row, partial in shared:
                    buffer[..., row : row + partial.shape[-2], :] += partial
        signal = self._trim(buffer.reshape(*leading_shape, -1))
        np.divide(signal, self.window_sum, out=signal, where=self.nonzero)
        if weak_share is not None:
            self.share_weak(signal, weak_share)
        return signal

    def share_weak(self, signal: NDArray, weak_share: NDArray) -> None:
        """Mend, in place, a source's ``librosa.istft``-normalized waveform
        where the window weight is below ``WEAK_WEIGHT`` of its mean.

        Those samples are divided by that floor, not by their weight, and
        ``weak_share`` (``(*leading_shape, len(self.weak))``: the mixture's
        samples there divided by the number of sources) fills the rest:
        ``1 - weight / floor`` of it. Sources whose masks sum to one still sum
        to the mixture there, exactly (even where the weight is zero), and
        none is amplified.
        """
        if not self.weak.size:
            return
        weight = self.window_sum[self.weak]
        signal[..., self.weak] *= weight / self.weak_weight
        signal[..., self.weak] += (1 - weight / self.weak_weight) * weak_share


class MaskedSources:
    """The masked mixture STFT of each source, block by block of frames.

    Only a few blocks of one source exist at a time (those the resynthesis
    threads are working on): no spectrogram, the mixture's or a source's, is
    ever held whole when the mixture is given as a :class:`MixtureSTFT`.

    Each block of a source is ``MASKS[mask]`` (:mod:`skl_sepnmf._masks`) of
    the source models on the block's frames and the mixture's STFT there.

    Parameters
    ----------
    mixture : MixtureSTFT or ndarray of shape ([n_channels,] n_frames, n_bins)
        The mixture's frames-major STFT, computed block by block on demand, or
        as a whole array.
    activations : ndarray of shape (n_channels * n_frames, n_components)
        Channel 0's frames first, then channel 1's, and so on.
    components : ndarray of shape (n_components, n_bins)
    groups : list of ndarray
        Component indices of each source (a partition of the components).
    mask : str or None
        A key of ``MASKS``, or ``None`` (the notebook's method, key ``"none"``).
    power : float
        Exponent of the soft mask.
    memberships : ndarray of shape (n_components, n_sources), default=None
        Each component's share of each source, when components are shared
        (:class:`~skl_sepnmf._masks.BlockModels`).
    rivals : ndarray of shape (n_components, n_components), default=None
        With ``memberships``, which components are other notes than each
        other: the shares then vary with the frame
        (:func:`~skl_sepnmf._masks.frame_shares`).
    """

    def __init__(
        self,
        mixture,
        activations,
        components,
        groups,
        mask,
        power,
        memberships=None,
        rivals=None,
    ):
        if isinstance(mixture, np.ndarray):
            mixture = _StoredSTFT(mixture)
        self.mixture = mixture
        self.shape = mixture.shape
        n_frames = self.shape[-2]
        self.real = np.float32 if mixture.dtype == np.complex64 else np.float64
        n_channels = int(np.prod(self.shape[:-2]))
        self.activations = np.asarray(activations, dtype=self.real).reshape(
            n_channels, n_frames, np.shape(activations)[-1]
        )
        self.components = np.asarray(components, dtype=self.real)
        self.groups = [np.asarray(g) for g in groups]
        self.memberships = (
            None if memberships is None else np.asarray(memberships, dtype=self.real)
        )
        self.rivals = None if rivals is None else np.asarray(rivals, dtype=self.real)
        self.mask_function = MASKS[mask_key(mask)]
        self.power = power
        self.step = mixture.step

    def __len__(self) -> int:
        return len(self.groups)

    def _block(self, k: int, frames: slice) -> NDArray:
        mixture = self.mixture.block(frames.start, frames.stop)
        mixture = mixture.reshape((-1,) + mixture.shape[-2:])
        models = BlockModels(
            self.activations[:, frames],
            self.components,
            self.groups,
            self.memberships,
            self.rivals,
        )
        return self.mask_function(models, k, mixture, self.power)

    @property
    def starts(self) -> range:
        """First frame of each block."""
        return range(0, self.shape[-2], self.step)

    def block(self, k: int, first: int) -> NDArray:
        """Masked STFT of source k, frames ``first`` to ``first + step``, in the
        mixture's layout (channel axis only if the mixture has one)."""
        block = self._block(k, slice(first, first + self.step))
        return block.reshape(self.shape[:-2] + block.shape[-2:])

    def spectrogram(self, k: int) -> NDArray:
        """The whole masked STFT of source k (Griffin-Lim needs it whole)."""
        return np.concatenate([self.block(k, first) for first in self.starts], axis=-2)


def _hz_to_mel(frequencies: NDArray) -> NDArray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, log above."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    return np.where(
        frequencies >= 1000.0,
        15.0 + np.log(np.maximum(frequencies, 1000.0) / 1000.0) / _MEL_LOG_STEP,
        frequencies / _MEL_LINEAR_STEP,
    )


def _mel_to_hz(mels: NDArray) -> NDArray:
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(
        mels >= 15.0,
        1000.0 * np.exp(_MEL_LOG_STEP * (mels - 15.0)),
        mels * _MEL_LINEAR_STEP,
    )


_MEL_LINEAR_STEP = 200.0 / 3  # Hz per mel below 1 kHz
_MEL_LOG_STEP = np.log(6.4) / 27.0  # log-Hz per mel above it


def mel_filterbank(sr: float, n_bins: int, n_mels: int) -> NDArray:
    """Triangular mel filters, shape (n_mels, n_bins), on the bins 0 to sr/2.

    ``librosa.filters.mel(sr=sr, n_fft=2 * (n_bins - 1), n_mels=n_mels)``
    (Slaney scale and area normalization) to float precision, written here
    because importing ``librosa.filters`` compiles librosa's numba helpers:
    1.9 s on this project's 2-core machine, for a (n_mels, n_bins) matrix
    that takes 1 ms.
    """
    fft_frequencies = np.linspace(0.0, sr / 2, n_bins)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_frequencies[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]
