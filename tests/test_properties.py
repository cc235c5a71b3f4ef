"""Properties of the soft masks (hypothesis), and a fuzz test of the audio loader.

The kernels' properties live with their modules' tests (test_nnls.py,
test_selection.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import strategies as st

from skl_sepnmf.io import load_audio

from .conftest import DATA_DIR

seeds = st.integers(0, 2**32 - 1)


def _real_audio_bytes():
    """One second of a real recording, as FLAC and WAV bytes."""
    path = DATA_DIR / "dev" / "trio" / "clarinet.flac"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    y, sr = sf.read(path, dtype="float32", frames=16000, start=16000)
    files = {}
    for kind in ("FLAC", "WAV"):
        buffer = io.BytesIO()
        sf.write(buffer, y, sr, format=kind)
        files[kind] = buffer.getvalue()
    return files


def _mutate(content: bytes, rng) -> bytes:
    data = bytearray(content)
    kind = rng.integers(4)
    if kind == 0:  # flip a few bytes, often in the header
        for _ in range(rng.integers(1, 8)):
            where = rng.integers(
                min(len(data), 64) if rng.random() < 0.5 else len(data)
            )
            data[where] = int(rng.integers(256))
    elif kind == 1:  # truncate
        data = data[: int(rng.integers(len(data)))]
    elif kind == 2:  # insert garbage
        where = int(rng.integers(len(data)))
        data[where:where] = rng.integers(
            0, 256, rng.integers(1, 64), dtype=np.uint8
        ).tobytes()
    else:  # delete a slice
        where = int(rng.integers(len(data)))
        del data[where : where + int(rng.integers(1, 256))]
    return bytes(data)


@pytest.mark.parametrize("kind", ["FLAC", "WAV"])
def test_loader_fuzz_gives_a_clean_error_or_a_valid_decode(tmp_path, kind):
    """200 mutations per format, seeded: never an unexpected exception, never nan."""
    original = _real_audio_bytes()[kind]
    rng = np.random.default_rng(2026)
    outcomes = {"decoded": 0, "refused": 0}
    path = tmp_path / f"fuzz.{kind.lower()}"
    for _ in range(200):
        path.write_bytes(_mutate(original, rng))
        try:
            y, sr = load_audio(path)
        except ValueError as error:
            assert str(path) in str(error)
            outcomes["refused"] += 1
            continue
        assert y.dtype == np.float32 and y.size > 0 and sr > 0
        assert np.isfinite(y).all()
        outcomes["decoded"] += 1
    assert outcomes["refused"] > 0  # the mutations do reach the error paths
