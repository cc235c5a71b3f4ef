"""Quick start: find the solo frames of a mixture with SNPA.

Synthesizes a short piece for three instruments (harmonic tones with distinct
timbres), each playing alone for a moment before all three play together,
then selects 3 frames of its magnitude spectrogram with SNPA and prints where
they are. Separable NMF assumes that each source is heard alone somewhere; the
selected frames are those solo moments, and every other frame is a nonnegative
mix of them.

Run: ``python examples/quickstart.py``
"""

import librosa
import numpy as np

from skl_sepnmf import SNPA

SR = 22050
N_FFT, HOP = 2048, 512


def tone(f0, seconds, harmonic_decay):
    """A note with harmonics falling off as harmonic_decay ** k (its timbre)."""
    t = np.arange(int(seconds * SR)) / SR
    partials = [
        harmonic_decay**k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(8)
    ]
    envelope = np.minimum(1, 20 * t) * np.exp(-t / seconds)
    return envelope * np.sum(partials, axis=0)


instruments = {
    "flute-like (A4, pure)": tone(440.0, 1.0, 0.1),
    "reed-like (D3, bright)": tone(146.8, 1.0, 0.8),
    "string-like (E5, mellow)": tone(659.3, 1.0, 0.4),
}
solo = np.concatenate(list(instruments.values()))  # one second each, alone
together = np.sum([np.tile(v, 2) for v in instruments.values()], axis=0)
mixture = np.concatenate([solo, together])

X = np.abs(librosa.stft(mixture, n_fft=N_FFT, hop_length=HOP)).T  # frames x bins
snpa = SNPA(n_components=3).fit(X)

print(f"spectrogram: {X.shape[0]} frames x {X.shape[1]} frequency bins")
print(f"selected frames (rows of X): {snpa.indices_.tolist()}")
times = librosa.frames_to_time(snpa.indices_, sr=SR, hop_length=HOP)
for frame, seconds in zip(snpa.indices_, times, strict=True):
    playing = list(instruments)[int(seconds)] if seconds < 3 else "all three"
    print(f"  frame {frame:4d} at {seconds:5.2f} s: solo of {playing}")
activations = snpa.transform(X)
print(
    f"activations: {activations.shape}, reconstruction error "
    f"{snpa.reconstruction_err_ / np.linalg.norm(X):.1%} of ||X||"
)
