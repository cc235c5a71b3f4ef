"""STFT, masks and resynthesis: a thin layer over librosa.

Shapes: a waveform is ``(n_times,)`` or ``(n_channels, n_times)``; its STFT is
``(n_bins, n_frames)`` or ``(n_channels, n_bins, n_frames)`` (librosa's layout);
the matrix the estimators see is ``X = |STFT|`` with one row per frame of every
channel, ``(n_channels * n_frames, n_bins)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import librosa
import numpy as np
from numpy.typing import NDArray


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
        hop_length = win_length // 4 if hop_length is None else hop_length
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

    def stft(self, y: NDArray) -> NDArray:
        # short signals are zero-padded to one window: librosa needs n_fft samples
        if y.shape[-1] < self.n_fft:
            pad = [(0, 0)] * (y.ndim - 1) + [(0, self.n_fft - y.shape[-1])]
            y = np.pad(y, pad)
        return librosa.stft(y, **self.librosa_kwargs)

    def istft(self, S: NDArray, length: int) -> NDArray:
        return librosa.istft(S, length=length, **self.librosa_kwargs)

    def griffinlim(self, magnitude, length, n_iter, random_state):
        return librosa.griffinlim(
            magnitude,
            n_iter=n_iter,
            length=length,
            random_state=random_state,
            **self.librosa_kwargs,
        )


def frames_of(magnitude: NDArray) -> NDArray:
    """``(..., n_bins, n_frames)`` -> ``(n_channels * n_frames, n_bins)``."""
    n_bins, n_frames = magnitude.shape[-2:]
    stacked = magnitude.reshape(-1, n_bins, n_frames)
    return np.ascontiguousarray(stacked.transpose(0, 2, 1).reshape(-1, n_bins))


def source_spectrogram(
    activations: NDArray, components: NDArray, members: NDArray, shape
) -> NDArray:
    """Model magnitude of one source, ``sum_c W[:, c] C[c]``, in STFT layout."""
    model = activations[:, members] @ components[members]
    n_bins, n_frames = shape[-2:]
    return model.reshape(-1, n_frames, n_bins).transpose(0, 2, 1).reshape(shape)


def masked_sources(
    mixture_stft: NDArray,
    activations: NDArray,
    components: NDArray,
    groups: list[NDArray],
    mask: str | None,
    power: float,
) -> Iterator[NDArray]:
    """Yield the complex STFT of each source, one source at a time.

    Never holds more than one source's spectrogram besides the mixture's and
    one accumulator (the mask denominator or the running winner).

    * ``mask=None``: the model magnitude with the mixture's phase (the
      notebook's method; the sources need not sum to the mixture).
    * ``"soft"``: ``V_k^p / sum_j V_j^p`` times the mixture STFT; where every
      model is zero the bin is shared equally, so the sources sum to the
      mixture exactly.
    * ``"binary"``: each bin goes whole to the source with the largest model
      (first source on ties).
    """
    shape = mixture_stft.shape
    if not groups:
        return
    dtype = np.float32 if mixture_stft.dtype == np.complex64 else np.float64

    def model(k):
        return source_spectrogram(activations, components, groups[k], shape).astype(
            dtype, copy=False
        )

    if mask is None:
        phase = np.exp(1j * np.angle(mixture_stft)).astype(mixture_stft.dtype)
        for k in range(len(groups)):
            yield model(k) * phase
        return

    if mask == "soft":
        total = np.zeros(shape, dtype=dtype)
        for k in range(len(groups)):
            total += model(k) ** power
        empty = total == 0
        share = 1.0 / len(groups)
        for k in range(len(groups)):
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = model(k) ** power / total
            ratio[empty] = share
            yield ratio * mixture_stft
        return

    best = np.full(shape, -np.inf, dtype=dtype)
    winner = np.zeros(shape, dtype=np.intp)
    for k in range(len(groups)):
        current = model(k)
        better = current > best
        best[better] = current[better]
        winner[better] = k
    for k in range(len(groups)):
        yield np.where(winner == k, mixture_stft, 0)
