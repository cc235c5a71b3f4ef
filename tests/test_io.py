"""Audio files: round trips, atomic writes, clear errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from skl_sepnmf.io import load_audio, write_audio

from .conftest import DATA_DIR


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_round_trip_keeps_channels_and_rate(tmp_path, suffix):
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)
    path = write_audio(tmp_path / f"x{suffix}", stereo, 8000, subtype="PCM_24")
    y, sr = load_audio(path)
    assert sr == 8000 and y.shape == (2, 4000) and y.dtype == np.float32
    np.testing.assert_allclose(y, stereo, atol=1e-6)
    mono, _ = load_audio(path, mono=True)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-6)
    resampled, sr = load_audio(path, sr=4000)
    assert sr == 4000 and resampled.shape == (2, 2000)


def test_existing_files_are_kept_unless_asked(tmp_path):
    path = write_audio(tmp_path / "a.wav", np.zeros(100), 8000)
    with pytest.raises(FileExistsError, match="a.wav exists"):
        write_audio(path, np.ones(100), 8000)
    write_audio(path, np.full(100, 0.5), 8000, overwrite=True)
    np.testing.assert_allclose(load_audio(path)[0], 0.5, atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary left


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown audio format"):
        write_audio(tmp_path / "a.xyz", np.zeros(10), 8000)
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 10\)"):
        write_audio(tmp_path / "a.wav", np.zeros((1, 1, 10)), 8000)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_input_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav: no such audio file"):
        load_audio(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(ValueError, match="notes.wav: cannot be read as audio"):
        load_audio(text)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.flac"):
        load_audio(empty)


def test_reads_the_dev_recordings():
    path = DATA_DIR / "dev" / "trio" / "mix.flac"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    y, sr = load_audio(path)
    assert sr == 16000 and y.shape == (160000,)


def test_atomic_write_renames_on_success_and_removes_the_temporary_on_failure(
    tmp_path,
):
    from skl_sepnmf.io import atomic_write

    path = tmp_path / "notes.txt"
    with atomic_write(path) as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".part")
        temporary.write_text("done")
    assert path.read_text() == "done"
    with pytest.raises(FileExistsError, match="notes.txt exists"), atomic_write(path):
        pass
    with pytest.raises(KeyboardInterrupt), atomic_write(path, overwrite=True) as t:
        t.write_text("half")
        raise KeyboardInterrupt  # not only Exception: any interruption
    assert path.read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_write_failing_midway_leaves_neither_file_nor_temporary(
    tmp_path, monkeypatch
):
    import soundfile as sf

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", fail)
    with pytest.raises(OSError, match="No space left"):
        write_audio(tmp_path / "a.wav", np.zeros(10), 8000)
    assert list(tmp_path.iterdir()) == []
