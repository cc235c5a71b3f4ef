"""The batch protocol as a library function, on real audio written to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skl_sepnmf import SNPA, SpectrogramSeparator, batch
from skl_sepnmf.batch import (
    INCOMPLETE,
    SUMMARY,
    InputError,
    OutputExistsError,
    output_folder,
    separate_file,
)
from skl_sepnmf.datasets import make_mixture
from skl_sepnmf.io import load_audio, write_audio

from .conftest import DATA_DIR

SECONDS = 3.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """3 s of the dev trio's mixture (a synthetic mixture without the data)."""
    trio = DATA_DIR / "dev" / "trio" / "mix.flac"
    if trio.exists():
        y, sr = load_audio(trio)
        y = y[: int(SECONDS * sr)]
    else:
        y, _, sr = make_mixture(n_sources=3, duration=SECONDS, random_state=0)
    path = tmp_path_factory.mktemp("inputs") / "trio.wav"
    write_audio(path, y, sr, subtype="FLOAT")
    return path


@pytest.fixture
def separator():
    return SpectrogramSeparator(SNPA(n_components=3), n_fft=512, random_state=0)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writes_the_sources_and_the_summary(recording, separator, tmp_path):
    stages = []
    summary = separate_file(recording, tmp_path, separator, stage=stages.append)
    out = tmp_path / "trio"
    assert output_folder(recording, tmp_path) == out
    assert stages == ["load", "factorize", "resynthesize", "figure"]
    sources = ["source_0.wav", "source_1.wav", "source_2.wav"]
    figure = ["components.png"] if summary["figure"] else []  # matplotlib optional
    assert _files(out) == figure + sources + [SUMMARY]  # no marker, no temporary
    assert json.loads((out / SUMMARY).read_text()) == summary
    assert summary["sources"] == sources
    assert summary["input"] == str(recording)
    assert summary["parameters"] == {
        "method": "SNPA",
        "n_components": 3,
        "n_sources": None,
        "mask": "soft",
        "power": 0.5,
        "n_fft": 512,
        "hop_length": 128,
    }
    assert len(summary["selected_frames"]) == 3
    mixture, sr = load_audio(recording)
    assert summary["sample_rate"] == sr and summary["channels"] == 1
    assert summary["seconds"] == pytest.approx(SECONDS)
    separated = np.stack([load_audio(out / name)[0] for name in sources])
    assert separated.shape == (3, mixture.size)
    # the soft mask splits the mixture: the written sources add up to it
    np.testing.assert_allclose(separated.sum(axis=0), mixture, atol=1e-3)


def test_options_reach_the_files_and_the_summary(recording, separator, tmp_path):
    summary = separate_file(
        recording,
        tmp_path,
        separator,
        audio_format="flac",
        figure=False,
        sr=8000,
        parameters={"method": "snpa"},
    )
    out = tmp_path / "trio"
    assert _files(out) == [f"source_{k}.flac" for k in range(3)] + [SUMMARY]
    assert summary["figure"] is None and "figure" not in summary["timings_seconds"]
    assert summary["parameters"]["method"] == "snpa"  # the caller's name for it
    y, sr = load_audio(out / "source_0.flac")
    assert sr == 8000 and y.shape == (int(SECONDS * 8000),)
    with pytest.raises(ValueError, match="audio_format must be a format"):
        separate_file(recording, tmp_path / "x", separator, audio_format="mp4")
    assert not (tmp_path / "x").exists()


def test_a_rerun_skips_done_work(recording, separator, tmp_path, monkeypatch):
    separate_file(recording, tmp_path, separator, figure=False)
    out = tmp_path / "trio"
    before = {name: (out / name).stat().st_mtime_ns for name in _files(out)}

    def never(waveform):
        raise AssertionError("a done file was separated again")

    monkeypatch.setattr(separator, "separate", never)
    again = separate_file(recording, tmp_path, separator)
    assert again == {
        "input": str(recording),
        "skipped": "already separated (summary.json)",
    }
    assert {name: (out / name).stat().st_mtime_ns for name in _files(out)} == before


def test_results_are_not_overwritten_unless_asked(recording, separator, tmp_path):
    out = tmp_path / "trio"
    out.mkdir()
    theirs = out / "source_1.wav"
    write_audio(theirs, np.zeros(100), 8000)  # someone's file, no summary
    with pytest.raises(OutputExistsError, match="source_1.wav exist") as refused:
        separate_file(recording, tmp_path, separator, figure=False)
    assert isinstance(refused.value, InputError)
    assert refused.value.names == ["source_1.wav"] and refused.value.folder == out
    assert _files(out) == ["source_1.wav"]  # untouched, and no marker left
    assert load_audio(theirs)[0].shape == (100,)
    separate_file(recording, tmp_path, separator, figure=False, overwrite=True)
    assert load_audio(theirs)[0].shape == load_audio(recording)[0].shape
    # a done folder is redone with overwrite
    (out / "source_0.wav").write_bytes(b"stale")
    separate_file(recording, tmp_path, separator, figure=False, overwrite=True)
    assert load_audio(out / "source_0.wav")[0].shape == load_audio(recording)[0].shape


def test_an_interrupted_folder_is_redone_without_asking(recording, separator, tmp_path):
    out = tmp_path / "trio"
    out.mkdir()
    (out / INCOMPLETE).touch()
    (out / "source_0.wav").write_bytes(b"half a file")
    (out / ".source_1.wav.x1y2.part").write_bytes(b"partial")
    separate_file(recording, tmp_path, separator, figure=False)
    assert _files(out) == ["source_0.wav", "source_1.wav", "source_2.wav", SUMMARY]


def test_a_failing_write_leaves_no_temporary(
    recording, separator, tmp_path, monkeypatch
):
    import soundfile as sf

    written = []
    original = sf.SoundFile.write

    def disk_full_at_the_second_source(handle, data):
        if len(written) == 1:
            raise OSError(28, "No space left on device")
        written.append(handle.name)
        return original(handle, data)

    monkeypatch.setattr(sf.SoundFile, "write", disk_full_at_the_second_source)
    with pytest.raises(InputError, match=r"source_1.wav: cannot be written .*space"):
        separate_file(recording, tmp_path, separator, figure=False)
    out = tmp_path / "trio"
    # the first source is complete, the second absent, no temporary; the marker
    # says the folder is unfinished
    assert _files(out) == [INCOMPLETE, "source_0.wav"]
    monkeypatch.undo()

    def fail(*args, **kwargs):
        raise TypeError("not serializable")

    monkeypatch.setattr(batch, "_write_json", fail)  # the summary fails
    with pytest.raises(TypeError, match="not serializable"):
        separate_file(recording, tmp_path, separator, figure=False)
    assert _files(out) == [INCOMPLETE] + [f"source_{k}.wav" for k in range(3)]
    monkeypatch.undo()
    separate_file(recording, tmp_path, separator, figure=False)  # the rerun ends it
    assert _files(out) == [f"source_{k}.wav" for k in range(3)] + [SUMMARY]


def test_an_unreadable_input_is_an_input_error_naming_it(separator, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("text, not audio")
    with pytest.raises(InputError, match="broken.wav: cannot be read as audio"):
        separate_file(broken, tmp_path / "out", separator)
    with pytest.raises(InputError, match="missing.flac: no such audio file"):
        separate_file(tmp_path / "missing.flac", tmp_path / "out", separator)
    assert not (tmp_path / "out").exists()
