"""Properties of the kernels (hypothesis), and a fuzz test of the audio loader."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from skl_sepnmf._solvers import (
    _fgm_delta,
    _project_delta,
    nnls_activations,
    snpa_select,
)
from skl_sepnmf.io import load_audio

from .conftest import DATA_DIR

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, r=st.integers(1, 6), n=st.integers(1, 40))
def test_fgm_never_increases_the_objective_from_its_start(seed, r, n):
    rng = np.random.default_rng(seed)
    M = rng.random((15, n))
    U = rng.random((15, r))
    start = _project_delta(rng.random((r, n)) * 2)
    weights, _ = _fgm_delta(U.T @ U, U.T @ M, start, float(np.sum(M**2)), 100)
    assert np.linalg.norm(M - U @ weights) <= np.linalg.norm(M - U @ start) + 1e-9
    assert weights.min() >= 0
    if r > 1:
        assert weights.sum(axis=0).max() <= 1 + 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=seeds, r=st.integers(2, 6), n_mixed=st.integers(5, 60))
def test_snpa_recovers_the_pure_columns_of_separable_matrices(seed, r, n_mixed):
    """M = W [I, H'] with W well conditioned and H' in the simplex's interior."""
    rng = np.random.default_rng(seed)
    m = 3 * r
    W = np.abs(np.eye(m, r) + 0.3 * rng.random((m, r)))  # near-orthogonal columns
    assert np.linalg.cond(W) < 10
    mixing = rng.dirichlet(np.ones(r), size=n_mixed).T * rng.uniform(0.1, 0.9, n_mixed)
    M = np.hstack([W, W @ mixing])
    order = rng.permutation(M.shape[1])
    X = M[:, order].T
    pure = {int(np.flatnonzero(order == k)[0]) for k in range(r)}
    indices = snpa_select(X, r, normalize=False).indices
    assert set(indices.tolist()) == pure


@settings(max_examples=60, deadline=None)
@given(seed=seeds, r=st.integers(1, 8), n=st.integers(1, 50))
def test_activations_are_nonnegative_and_optimal(seed, r, n):
    rng = np.random.default_rng(seed)
    components = rng.random((r, 12))
    X = rng.random((n, 12))
    W, _, error = nnls_activations(X, components)
    assert W.shape == (n, r) and W.min() >= 0
    assert np.isfinite(error)
    # KKT: the gradient is >= 0 where W = 0 and ~0 where W > 0
    gradient = (W @ components - X) @ components.T
    scale = np.abs(X @ components.T).max() + 1
    assert gradient[W == 0].min(initial=0) >= -1e-8 * scale
    np.testing.assert_allclose(gradient[W > 0], 0, atol=1e-7 * scale)


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
