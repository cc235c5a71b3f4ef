"""Every bad input gets the right exception and a message that says what to do.

One table per layer: estimators, separator, metrics, audio files. Each row
names the case, the call, the exception type and a regex of its message.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import soundfile as sf

from skl_sepnmf import NMF, SpectrogramSeparator
from skl_sepnmf._separable import SEPARABLE
from skl_sepnmf.io import load_audio, write_audio
from skl_sepnmf.metrics import match_sources, si_sdr, snr

from .conftest import DATA_DIR

rng = np.random.default_rng(0)
GOOD = rng.random((20, 6))


def _with(value, where=(3, 2)):
    X = GOOD.copy()
    X[where] = value
    return X


ESTIMATOR_CASES = [
    (
        "negative value",
        lambda E: E(2).fit(_with(-1.0)),
        r"Negative values in data passed to \w+ \(input X\)",
    ),
    ("nan", lambda E: E(2).fit(_with(np.nan)), "Input X contains NaN"),
    ("inf", lambda E: E(2).fit(_with(np.inf)), "Input X contains infinity"),
    (
        "more components than frames",
        lambda E: E(30).fit(GOOD),
        r"n_components=30 is larger than the number of samples \(frames\) in X, "
        r"20; .* Use n_components <= 20",
    ),
    (
        "waveform instead of a spectrogram",
        lambda E: E(2).fit(GOOD[0]),
        "Expected 2D array",
    ),
    ("empty", lambda E: E(2).fit(np.empty((0, 6))), "0 sample"),
    (
        "negative at transform",
        lambda E: E(2).fit(GOOD).transform(-GOOD),
        r"Negative values in data passed to \w+ \(input X\)",
    ),
    (
        "wrong width at transform",
        lambda E: E(2).fit(GOOD).transform(GOOD[:, :4]),
        "features",
    ),
]


@pytest.mark.parametrize("Estimator", SEPARABLE.values(), ids=SEPARABLE.keys())
@pytest.mark.parametrize(
    "case, call, message", ESTIMATOR_CASES, ids=[c[0] for c in ESTIMATOR_CASES]
)
def test_separable_estimators_refuse_bad_input(Estimator, case, call, message):
    with pytest.raises(ValueError, match=message):
        call(Estimator)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: NMF(2, init="snpa").fit(_with(-1.0)),
            r"Negative values in data passed to NMF \(input X, init='snpa'\)",
        ),
        (lambda: NMF(2, init="greedy").fit(_with(np.nan)), "NaN"),
        (lambda: NMF(30, init="snpa").fit(GOOD), r"n_components=30 .* 20"),
        (lambda: NMF(2).fit(_with(-1.0)), "Negative values in data"),
    ],
)
def test_nmf_refuses_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


SEPARATOR_CASES = [
    ("nan in a waveform", np.array([[0.0, np.nan] * 600]), "NaN"),
    ("inf in a waveform", np.array([[0.0, np.inf] * 600]), "infinity"),
    (
        "complex STFT instead of a waveform",
        np.ones((1, 1200), dtype=complex),
        "Complex",
    ),
    ("4-D array", np.ones((1, 2, 3, 1200)), r"\(n_mixtures, n_times\)"),
    ("a list holding a 3-D array", [np.ones(1200), np.ones((1, 2, 600))], r"X\[1\]"),
    ("no mixture", np.empty((0, 1200)), "0 sample"),
]


@pytest.mark.parametrize(
    "case, X, message", SEPARATOR_CASES, ids=[c[0] for c in SEPARATOR_CASES]
)
def test_separator_refuses_bad_waveforms(case, X, message):
    with pytest.raises(ValueError, match=message):
        SpectrogramSeparator(n_sources=2, n_fft=256).fit(X)


SEPARATE_CASES = [
    ("a batch instead of one mixture", np.ones((1, 2, 1200)), "waveform must have"),
    ("nan in the waveform", np.array([0.0, np.nan] * 600), "waveform contains NaN"),
    ("complex samples", np.ones(1200, dtype=complex), "Complex"),
]


@pytest.mark.parametrize(
    "case, waveform, message", SEPARATE_CASES, ids=[c[0] for c in SEPARATE_CASES]
)
def test_separate_refuses_bad_waveforms(case, waveform, message):
    with pytest.raises(ValueError, match=message):
        SpectrogramSeparator(n_sources=2, n_fft=256).separate(waveform)


def test_silent_audio_gives_silent_sources_and_a_warning():
    with pytest.warns(UserWarning, match="a mixture is silent"):
        sources = SpectrogramSeparator(n_sources=2).fit_transform(np.zeros((1, 3000)))
    assert sources.shape == (1, 2, 3000) and not sources.any()


METRIC_CASES = [
    ("lengths differ", lambda: snr(np.ones(100), np.ones(90)), r"\(100,\) and \(90,\)"),
    (
        "channels differ",
        lambda: si_sdr(np.ones((2, 50)), np.ones((3, 50))),
        "broadcast",
    ),
    (
        "stereo references, mono estimates",
        lambda: match_sources(np.ones((2, 2, 50)), np.ones((2, 50))),
        "same channels and length",
    ),
    ("nan in an estimate", lambda: snr(np.ones(4), [1, np.nan, 1, 1]), "nan or inf"),
    (
        "references of the wrong length in score",
        lambda: (
            SpectrogramSeparator(n_sources=1, n_fft=256)
            .fit(np.ones((1, 600)))
            .score(np.ones((1, 600)), np.ones((1, 1, 500)))
        ),
        r"same channels and length",
    ),
]


@pytest.mark.parametrize(
    "case, call, message", METRIC_CASES, ids=[c[0] for c in METRIC_CASES]
)
def test_metrics_name_the_shapes(case, call, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=message):
            call()


def _wav_bytes(n=8000):
    buffer = io.BytesIO()
    sf.write(buffer, rng.uniform(-0.5, 0.5, n), 8000, format="WAV")
    return buffer.getvalue()


def _real_flac():
    path = DATA_DIR / "dev" / "trio" / "clarinet.flac"
    return path.read_bytes() if path.exists() else None


UNREADABLE = "cannot be read as audio"
WAV = _wav_bytes()
FILE_CASES = [
    ("missing file", None, FileNotFoundError, "no such audio file"),
    ("empty file", b"", ValueError, UNREADABLE),
    ("text named .wav", b"just some notes\n" * 10, ValueError, UNREADABLE),
    ("WAV with a corrupt header", b"RIFX" + WAV[4:], ValueError, UNREADABLE),
    ("WAV with zero channels", WAV[:22] + b"\0\0" + WAV[24:], ValueError, UNREADABLE),
    ("truncated WAV", WAV[:8000], ValueError, "truncated WAV file"),
    ("unsupported format", b"%PDF-1.4\n" + bytes(200), ValueError, UNREADABLE),
]


@pytest.mark.parametrize(
    "case, content, error, message", FILE_CASES, ids=[c[0] for c in FILE_CASES]
)
def test_unreadable_files_name_the_file_and_the_cause(
    tmp_path, case, content, error, message
):
    path = tmp_path / ("input.pdf" if case == "unsupported format" else "input.wav")
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message) as raised:
        load_audio(path)
    assert path.name in str(raised.value)


def test_truncated_flac_is_refused(tmp_path):
    content = _real_flac()
    if content is None:
        pytest.skip("../shared/data is absent")
    path = tmp_path / "cut.flac"
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="cut.flac: cannot be read as audio"):
        load_audio(path)


def test_unwritable_destination_is_an_os_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError) as raised:
        write_audio(blocker / "out.wav", np.zeros(10), 8000)
    # the destination itself, not the temporary file next to it
    assert str(blocker / "out.wav") in str(raised.value)
    assert ".part" not in str(raised.value)
    assert blocker.read_text() == "not a folder"
