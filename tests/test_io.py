"""Audio files: round trips, atomic writes, clear errors naming the file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

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


@pytest.fixture(scope="module")
def trio_excerpt():
    """1 s of the dev trio's mixture (stereo copy), a synthetic tone without it."""
    path = DATA_DIR / "dev" / "trio" / "mix.flac"
    if path.exists():
        y, sr = load_audio(path)
        y = y[sr : 2 * sr]
    else:
        sr = 16000
        y = 0.5 * np.sin(np.arange(sr) * 0.05).astype(np.float32)
    return np.stack([y, 0.5 * y]), sr


@pytest.mark.parametrize(
    "name, container",
    [("a.wav", "WAV"), ("a.rf64", "RF64"), ("a.aiff", "AIFF"), ("a.flac", "FLAC")],
)
def test_truncated_files_are_refused_in_every_declaring_container(
    tmp_path, trio_excerpt, name, container
):
    """Issue 13 (9): RF64 and AIFF were read from the half that is there."""
    import soundfile as sf

    y, sr = trio_excerpt
    whole = tmp_path / name
    sf.write(os.fsencode(whole), y.T, sr, format=container)
    assert load_audio(whole)[0].shape == y.shape  # the whole file reads
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    # FLAC frames are checksummed: libsndfile itself fails on a cut frame
    match = "truncated|may be truncated" if container == "FLAC" else "truncated"
    with pytest.raises(ValueError, match=f"cut_{name}.*({match})"):
        load_audio(cut)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused_naming_the_file(tmp_path, suffix, bad):
    """Issue 13 (7): nan was written as -1.0 (WAV) or a bare AssertionError."""
    y = np.zeros((2, 3000), dtype=np.float32)
    y[1, 2500] = bad
    with pytest.raises(ValueError, match=rf"a{suffix}: .*nan or inf.*sample 2500"):
        write_audio(tmp_path / f"a{suffix}", y, 8000)
    assert list(tmp_path.iterdir()) == []


def test_samples_beyond_full_scale_are_written_as_float_never_clipped(tmp_path):
    """Issue 13 (8): float input above 1.0 became clipped 16-bit sources."""
    import soundfile as sf

    loud = np.array([0.5, 1.5, -2.0, 0.25], dtype=np.float32)
    path = write_audio(tmp_path / "loud.wav", loud, 8000)
    assert sf.info(path).subtype == "FLOAT"
    np.testing.assert_array_equal(load_audio(path)[0], loud)
    assert sf.info(write_audio(tmp_path / "quiet.wav", loud / 4, 8000)).subtype == (
        "PCM_16"
    )
    for target, subtype in [("loud.flac", None), ("pcm.wav", "PCM_24")]:
        with pytest.raises(ValueError, match=f"{target}: samples reach 2.*clip"):
            write_audio(tmp_path / target, loud, 8000, subtype=subtype)


def test_names_that_are_not_utf8_are_read_and_written(tmp_path, trio_excerpt):
    """Issue 13 (15): such a name was 'cannot be read as audio'."""
    y, sr = trio_excerpt
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.wav"))
    write_audio(path, y, sr)
    assert os.fsencode(tmp_path) + b"/caf\xe9.wav" in [
        os.fsencode(p) for p in tmp_path.iterdir()
    ]
    np.testing.assert_allclose(load_audio(path)[0], y, atol=1e-4)


def test_created_files_follow_the_umask(tmp_path):
    """Issue 13 (16): mkstemp made every output mode 0600."""
    from skl_sepnmf.io import atomic_write

    previous = os.umask(0o022)
    try:
        write_audio(tmp_path / "a.wav", np.zeros(10), 8000)
        with atomic_write(tmp_path / "b.json") as temporary:
            temporary.write_text("{}")
    finally:
        os.umask(previous)
    for name in ("a.wav", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (root only): a real ENOSPC."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_names_the_file_and_leaves_no_temporary(full_disk):
    """Issue 13 (16): 'LibsndfileError: System error.' or a bare Errno 28."""
    from skl_sepnmf.io import atomic_write

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 100_000)
    with pytest.raises(OSError, match="no space left") as error:
        write_audio(full_disk / "source_0.wav", noise, 16000)
    assert error.value.filename == str(full_disk / "source_0.wav")
    with (
        pytest.raises(OSError, match="No space left") as error,
        atomic_write(full_disk / "summary.json") as temporary,
    ):
        temporary.write_text("x" * 200_000)
    assert error.value.filename == str(full_disk / "summary.json")
    assert list(full_disk.iterdir()) == []
