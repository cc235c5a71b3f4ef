"""Shared fixtures: where the reference data lives, and the literal port."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROJECT = TESTS.parent
SHARED = PROJECT.parent / "shared"
GOLDEN_DIR = SHARED / "golden"
DATA_DIR = SHARED / "data"
LOCAL_GOLDEN = TESTS / "data"


def golden_path(case: str) -> Path | None:
    """The golden file of ``case``: the local copy, else ../shared/golden, else None."""
    name = f"golden_{case}.npz"
    for folder in (LOCAL_GOLDEN, GOLDEN_DIR):
        if (folder / name).exists():
            return folder / name
    return None


def load_reference_port():
    """Import ``benchmarks/reference_port.py`` (not part of the package)."""
    path = PROJECT / "benchmarks" / "reference_port.py"
    spec = importlib.util.spec_from_file_location("reference_port", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference_port():
    return load_reference_port()


@pytest.fixture(scope="session")
def trio_spectrogram():
    """|STFT|.T of data/dev/trio/mix.flac (n_fft=1024, hop=256): real music."""
    path = DATA_DIR / "dev" / "trio" / "mix.flac"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    import librosa
    import soundfile as sf

    y, _ = sf.read(path, dtype="float32")
    return abs(librosa.stft(y, n_fft=1024, hop_length=256)).T
