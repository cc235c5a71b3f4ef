"""The batch protocol as a library function, on real audio written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from skl_sepnmf import SNPA, SpectrogramSeparator, batch
from skl_sepnmf.batch import (
    INCOMPLETE,
    SUMMARY,
    InputError,
    OutputExistsError,
    OutputMismatchError,
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
        "power": 1.0,
        "sharing": "voices",
        "n_fft": 512,
        "hop_length": 128,
        "n_fft_ms": round(512 / summary["sample_rate"] * 1000, 2),
        "hop_length_ms": round(128 / summary["sample_rate"] * 1000, 2),
    }
    assert len(summary["selected_frames"]) == 3
    assert summary["shared_components"] is False  # no n_sources: no grouping
    assert summary["grouped_by"] is None
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


# --- issue 13: no result lost, mixed or stale ------------------------------


@pytest.mark.parametrize(
    "paths, expected",
    [
        (["a/trio/mix.flac", "a/chorale/mix.flac", "solo.wav"],
         ["trio-mix", "chorale-mix", "solo"]),
        (["x/a/mix.wav", "y/a/mix.wav"], ["x-a-mix", "y-a-mix"]),
        (["d/song.wav", "d/song.flac"], ["song.wav", "song.flac"]),
        (["a/Mix.wav", "b/mix.wav"], ["a-Mix", "b-mix"]),  # case-insensitive disks
        (["recordings/song.flac"], ["song"]),
    ],
)  # fmt: skip
def test_output_folders_are_unique_and_predictable(paths, expected):
    """Issue 13 (1): inputs of the same name shared (and lost) one folder."""
    from skl_sepnmf.batch import output_folders

    assert [f.name for f in output_folders(paths, "out")] == expected
    with pytest.raises(ValueError, match="listed twice"):
        output_folders(["a/x.wav", "a/x.wav"], "out")


@pytest.fixture
def two_songs_named_mix(tmp_path):
    """Two different real excerpts, both called mix.wav, in two folders."""
    songs = []
    for name, start in (("trio", 0), ("chorale", 1)):
        y, sr = load_audio(_recording_path())
        y = y[int(start * sr) : int((start + 1.5) * sr)]
        folder = tmp_path / "in" / name
        folder.mkdir(parents=True)
        songs.append(write_audio(folder / "mix.wav", y, sr))
    return songs


def _recording_path():
    path = DATA_DIR / "dev" / "trio" / "mix.flac"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_same_name_inputs_keep_their_own_results(
    two_songs_named_mix, separator, tmp_path
):
    from skl_sepnmf.batch import output_folders

    folders = output_folders(two_songs_named_mix, tmp_path / "out")
    for song, folder in zip(two_songs_named_mix, folders, strict=True):
        summary = separate_file(song, None, separator, folder=folder, figure=False)
        assert summary["input"] == str(song) and "skipped" not in summary
    for song, folder in zip(two_songs_named_mix, folders, strict=True):
        separated = sum(load_audio(folder / f"source_{k}.wav")[0] for k in range(3))
        np.testing.assert_allclose(separated, load_audio(song)[0], atol=1e-3)
    # run alone into a folder that holds the other song: refused, not "done"
    with pytest.raises(OutputMismatchError, match="input: .*trio/mix.wav then"):
        separate_file(two_songs_named_mix[1], None, separator, folder=folders[0])


def _changed(recording, separator, tmp_path, change):
    """The arguments of separate_file after one change (the issue's reruns)."""
    arguments = {"figure": False}
    if change == "n_components":
        separator = clone(separator).set_params(estimator__n_components=2)
    elif change == "mask":
        separator = clone(separator).set_params(mask="binary")
    elif change == "audio_format":
        arguments["audio_format"] = "flac"
    elif change == "sr":
        arguments["sr"] = 8000
    elif change == "input":
        y, sr = load_audio(recording)
        recording = write_audio(tmp_path / "trio.wav", 0.5 * y, sr, overwrite=True)
    return recording, separator, arguments


@pytest.mark.parametrize(
    "change, named",
    [
        ("n_components", "estimator__n_components: 3 then, 2 now"),
        ("mask", "mask: 'soft' then, 'binary' now"),
        ("audio_format", "audio_format: 'wav' then, 'flac' now"),
        ("sr", "sr: None then, 8000 now"),
        ("input", "input: .* then, another file or content now"),
    ],
)
def test_a_rerun_that_differs_is_refused_then_redone_whole(
    recording, separator, tmp_path, change, named
):
    """Issue 13 (3, 5): "already separated" over other settings; old files kept."""
    import shutil

    own = shutil.copy(recording, tmp_path / "trio.wav")
    separate_file(own, tmp_path, separator, figure=False)
    out = tmp_path / "trio"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    own, changed, arguments = _changed(own, separator, tmp_path, change)
    with pytest.raises(OutputMismatchError, match=named):
        separate_file(own, tmp_path, changed, **arguments)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    summary = separate_file(own, tmp_path, changed, overwrite=True, **arguments)
    # every old output retired: only this run's sources, and its summary
    assert _files(out) == sorted(summary["sources"] + [SUMMARY])
    assert separate_file(own, tmp_path, changed, **arguments)["skipped"]


def test_fewer_sources_after_overwrite_leave_no_old_source(recording, tmp_path):
    """Issue 13 (5): source_3..5 of a 6-source run stayed, and were scored."""
    six = SpectrogramSeparator(SNPA(n_components=6), n_fft=512, random_state=0)
    separate_file(recording, tmp_path, six, figure=False)
    out = tmp_path / "trio"
    (out / "notes.txt").write_text("the user's own file")
    three = clone(six).set_params(estimator__n_components=3)
    separate_file(recording, tmp_path, three, figure=False, overwrite=True)
    assert _files(out) == ["notes.txt"] + [f"source_{k}.wav" for k in range(3)] + [
        SUMMARY
    ]


def test_a_failed_overwrite_never_leaves_the_old_summary(
    recording, separator, tmp_path, monkeypatch
):
    """Issue 13 (4): the old summary.json beside new sources, then "done"."""
    separate_file(recording, tmp_path, separator, figure=False)
    out = tmp_path / "trio"
    original = batch.write_audio

    def fails_at_the_second_source(target, *args, **kwargs):
        if target.name == "source_1.wav":
            raise OSError(5, "Input/output error")
        return original(target, *args, **kwargs)

    monkeypatch.setattr(batch, "write_audio", fails_at_the_second_source)
    changed = clone(separator).set_params(mask="binary")
    with pytest.raises(InputError, match="source_1.wav: cannot be written"):
        separate_file(recording, tmp_path, changed, figure=False, overwrite=True)
    assert _files(out) == [INCOMPLETE, "source_0.wav"]  # no summary of the old run
    monkeypatch.undo()
    summary = separate_file(recording, tmp_path, separator, figure=False)
    assert "skipped" not in summary  # redone, never reported as done


def test_a_users_figure_is_not_overwritten(recording, separator, tmp_path):
    """Issue 13 (2): a user's components.png was replaced without asking."""
    out = tmp_path / "trio"
    out.mkdir()
    (out / "components.png").write_bytes(b"the user's figure")
    with pytest.raises(OutputExistsError, match="components.png exist"):
        separate_file(recording, tmp_path, separator)
    assert (out / "components.png").read_bytes() == b"the user's figure"


@pytest.mark.parametrize("n_times", [16000, 1])
def test_silent_and_one_sample_inputs_give_a_complete_folder(
    separator, tmp_path, n_times
):
    """Issue 13 (12): the figure failed, the marker stayed, every rerun redid it."""
    path = write_audio(tmp_path / "quiet.wav", np.zeros(n_times), 16000)
    with pytest.warns(UserWarning, match="silent"):
        summary = separate_file(path, tmp_path / "out", separator)
    out = tmp_path / "out" / "quiet"
    assert not (out / INCOMPLETE).exists() and (out / SUMMARY).exists()
    assert any("silent" in message for message in summary["warnings"])
    for name in summary["sources"]:
        source, _ = load_audio(out / name)
        assert source.shape == (n_times,) and not source.any()
    if summary["figure"] is not None:  # matplotlib installed: the placeholder
        assert (out / summary["figure"]).stat().st_size > 0
    assert separate_file(path, tmp_path / "out", separator)["skipped"]


def test_float_input_keeps_float_sources_that_sum_to_it(separator, tmp_path):
    """Issue 13 (8): float input above 1.0 became clipped 16-bit sources."""
    import soundfile as sf

    y, sr = load_audio(_recording_path())
    loud = 3.0 * y[: 2 * sr] / np.abs(y[: 2 * sr]).max()  # peak 3.0
    path = write_audio(tmp_path / "loud.wav", loud, sr, subtype="FLOAT")
    summary = separate_file(path, tmp_path / "out", separator, figure=False)
    out = tmp_path / "out" / "loud"
    assert summary["subtype"] == "FLOAT"
    assert {sf.info(out / name).subtype for name in summary["sources"]} == {"FLOAT"}
    separated = sum(load_audio(out / name)[0] for name in summary["sources"])
    np.testing.assert_allclose(separated, loud, atol=1e-4)
    with pytest.raises(InputError, match="loud.wav: samples reach 3.*FLAC"):
        separate_file(path, tmp_path / "flac", separator, audio_format="flac")
    assert not (tmp_path / "flac").exists()


def test_a_name_that_is_not_utf8_is_separated(recording, separator, tmp_path):
    """Issue 13 (15): refused as "cannot be read as audio"."""
    import os
    import shutil

    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.wav"))
    shutil.copy(recording, odd)
    summary = separate_file(odd, tmp_path / "out", separator, figure=False)
    assert len(summary["sources"]) == 3
    assert json.loads((output_folder(odd, tmp_path / "out") / SUMMARY).read_text())


_HOLDER = """
import sys
from pathlib import Path
from skl_sepnmf.batch import _locked
with _locked(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_second_process_on_the_folder_is_refused_cleanly(
    recording, separator, tmp_path
):
    """Issue 13 (6): two processes deleted each other's marker and temporaries."""
    import os
    import subprocess
    import sys

    from skl_sepnmf.batch import LOCK, FolderBusyError

    out = tmp_path / "trio"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(Path(batch.__file__).parents[1])},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            FolderBusyError, match=rf"another process \(pid {holder.pid}"
        ):
            separate_file(recording, tmp_path, separator, figure=False)
        assert _files(out) == [LOCK]  # nothing of ours touched or left
    finally:
        holder.communicate("done\n", timeout=60)
    separate_file(recording, tmp_path, separator, figure=False)
    assert _files(out) == [f"source_{k}.wav" for k in range(3)] + [SUMMARY]
