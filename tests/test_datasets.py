"""Seed protocol and stem folders, on the real recordings in ../shared/data."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf

from skl_sepnmf.datasets import load_seed_mixture, load_stems

from .conftest import DATA_DIR


def test_seed_mixture_follows_the_notebook_protocol():
    folder = DATA_DIR / "seed"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    mixture, sources, sr = load_seed_mixture(folder)
    assert sr == 22050
    assert mixture.shape == (352800,)  # the notebook's "Dimension of x"
    assert sources.shape == (7, 352800)
    np.testing.assert_allclose(sources.min(axis=1), -1 / 7, atol=1e-7)
    np.testing.assert_allclose(sources.max(axis=1), 1 / 7, atol=1e-7)
    np.testing.assert_allclose(mixture, sources.sum(axis=0), atol=1e-6)
    S = librosa.stft(mixture, n_fft=4096, hop_length=1024)
    assert S.shape == (2049, 345)  # the notebook's M


def test_seed_mixture_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="'piano1'"):
        load_seed_mixture(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_seed_mixture(tmp_path / "nowhere")


def test_stems_sum_to_the_rendered_mixture():
    folder = DATA_DIR / "dev" / "trio"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    mixture, sources, sr, names = load_stems(folder)
    assert names == ["clarinet", "piano", "strings"]
    assert sr == 16000 and sources.shape == (3, 160000)
    rendered, _ = sf.read(folder / "mix.flac", dtype="float32")
    np.testing.assert_array_equal(mixture, rendered)


def test_stems_keep_channels(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", rng.uniform(-0.4, 0.4, (800, 2)), 8000)
    mixture, sources, sr, _ = load_stems(tmp_path)
    assert sources.shape == (2, 2, 800) and mixture.shape == (2, 800)


def test_make_mixture_is_deterministic_and_sums_exactly():
    from skl_sepnmf.datasets import make_mixture

    kwargs = dict(n_sources=4, duration=3.0, sr=8000, random_state=1)
    mixture, sources, sr = make_mixture(**kwargs)
    assert sources.shape == (4, 24000) and sr == 8000
    np.testing.assert_array_equal(mixture, sources.sum(axis=0))
    again, _, _ = make_mixture(**kwargs)
    np.testing.assert_array_equal(mixture, again)
    # every source plays alone in its own slot at the start
    slot = 24000 // 5
    for i in range(4):
        alone = sources[:, i * slot : (i + 1) * slot]
        assert np.abs(alone[i]).max() > 0
        assert np.abs(np.delete(alone, i, axis=0)).max() == 0
    with pytest.raises(ValueError, match="n_sources must be 1 to 5"):
        make_mixture(n_sources=9)


def test_make_mixture_is_separable_by_snpa_at_rank_k():
    """One pitch and one solo per instrument: SNPA at rank k separates it (the
    default, KL-NMF(50) grouped by timbre, is built for many notes per
    instrument and scores 2.6 dB here: benchmarks/results/quality.md)."""
    from skl_sepnmf import SNPA, SpectrogramSeparator
    from skl_sepnmf.datasets import make_mixture

    mixture, sources, _ = make_mixture(n_sources=3, random_state=0)
    separator = SpectrogramSeparator(SNPA(3), n_sources=3, random_state=0)
    assert separator.fit(mixture[None]).score(mixture[None], sources[None]) > 10


def test_the_mixture_is_the_file_named_mix_in_any_case(tmp_path):
    from skl_sepnmf.datasets import stem_files

    for name in ("Mix.WAV", "mixture.wav", "mix_2.flac", "bass.wav"):
        sf.write(tmp_path / name, np.zeros(100), 8000)
    (tmp_path / "notes.txt").write_text("not audio")
    names = [p.name for p in stem_files(tmp_path)]
    assert names == ["bass.wav", "mix_2.flac", "mixture.wav"]
    everything = [p.name for p in stem_files(tmp_path, mixture_name=None)]
    assert everything == ["Mix.WAV", "bass.wav", "mix_2.flac", "mixture.wav"]
    *_, stems = load_stems(tmp_path)
    assert stems == ["bass", "mix_2", "mixture"]
    with pytest.raises(NotADirectoryError, match="notes.txt: not a folder"):
        stem_files(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no audio files"):
        stem_files(tmp_path / "empty")


def test_stems_of_different_lengths_are_cut_or_refused(tmp_path):
    sf.write(tmp_path / "a.wav", np.full(100, 0.1), 8000)
    sf.write(tmp_path / "b.wav", np.full(80, 0.2), 8000)
    mixture, sources, _, _ = load_stems(tmp_path)
    assert sources.shape == (2, 80)
    with pytest.raises(ValueError, match=r"lengths .* a.wav \(100,\), b.wav \(80,\)"):
        load_stems(tmp_path, truncate=False)
    sf.write(tmp_path / "c.wav", np.zeros((80, 2)), 8000)
    with pytest.raises(ValueError, match=r"channel counts .* c.wav \(2, 80\)"):
        load_stems(tmp_path)
    sf.write(tmp_path / "c.wav", np.zeros(80), 16000)
    with pytest.raises(ValueError, match=r"different sample rates \[8000, 16000\]"):
        load_stems(tmp_path)
    # the files themselves, as a list
    _, sources, sr, names = load_stems([tmp_path / "b.wav", tmp_path / "a.wav"])
    assert names == ["b", "a"] and sources.shape == (2, 80) and sr == 8000
