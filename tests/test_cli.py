"""The skl-sepnmf command, run as a user runs it (subprocess)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from skl_sepnmf.batch import LOCK
from skl_sepnmf.datasets import make_mixture
from skl_sepnmf.io import load_audio, write_audio

from .conftest import DATA_DIR


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "skl_sepnmf.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A mono and a stereo mixture with their stems on disk."""
    folder = tmp_path_factory.mktemp("inputs")
    mixture, sources, sr = make_mixture(
        n_sources=2, duration=2.0, sr=8000, random_state=3
    )
    write_audio(folder / "duet.wav", mixture, sr)
    stereo = np.stack([mixture, 0.5 * mixture])
    write_audio(folder / "duet_stereo.flac", stereo, sr)
    stems = folder / "stems"
    stems.mkdir()
    for k, source in enumerate(sources):
        write_audio(stems / f"instrument_{k}.wav", source, sr, subtype="FLOAT")
    write_audio(stems / "mix.wav", mixture, sr, subtype="FLOAT")
    return folder


def test_separate_mono_and_stereo_in_parallel(inputs, tmp_path):
    result = run(
        "separate", inputs / "duet.wav", inputs / "duet_stereo.flac",
        "-o", tmp_path, "--n-sources", "2", "--n-fft", "512", "--jobs", "2",
        "--method", "snpa",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    mono, sr = load_audio(tmp_path / "duet" / "source_0.wav")
    assert sr == 8000 and mono.shape == (16000,)
    stereo, _ = load_audio(tmp_path / "duet_stereo" / "source_1.wav")
    assert stereo.shape == (2, 16000)  # channels kept
    summary = json.loads((tmp_path / "duet" / "summary.json").read_text())
    assert summary["sources"] == ["source_0.wav", "source_1.wav"]
    assert len(summary["selected_frames"]) == 2
    assert summary["parameters"]["n_fft"] == 512
    assert set(summary["timings_seconds"]) == {
        "load",
        "factorize",
        "resynthesize",
        "write",
        "figure",
    }


def test_separate_then_evaluate_against_the_stems(inputs, tmp_path):
    # make_mixture gives each instrument one pitch: separable at rank k
    run(
        "separate", inputs / "duet.wav", "-o", tmp_path, "--n-sources", "2", "-q",
        "--method", "snpa",
    )  # fmt: skip
    result = run("evaluate", tmp_path / "duet", inputs / "stems", "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert [row["reference"] for row in scores["sources"]] == [
        "instrument_0.wav",
        "instrument_1.wav",
    ]
    assert scores["mean"]["snr_db"] > 10  # the synthetic duet is separable
    table = run("evaluate", tmp_path / "duet", inputs / "stems")
    assert "SI-SDR" in table.stdout and "mean" in table.stdout


def test_demo_writes_sources_figure_and_summary(tmp_path):
    result = run("separate", "--demo", "-o", tmp_path, "-q")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    expected = ["source_0.wav", "source_1.wav", "source_2.wav", "summary.json"]
    if "components.png" in names:  # matplotlib (the plot extra) is installed
        expected.insert(0, "components.png")
    assert names == expected


def test_a_bad_input_fails_alone(inputs, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("this is text, not audio")
    result = run(
        "separate", broken, tmp_path / "missing.flac", inputs / "duet.wav",
        "-o", tmp_path / "out", "--n-sources", "2", "-q",
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("broken.wav" in line and "cannot be read" in line for line in lines)
    assert any(
        "missing.flac" in line and "no such audio file" in line for line in lines
    )
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out" / "duet" / "summary.json").exists()


def test_rerun_skips_done_inputs_and_never_overwrites(inputs, tmp_path):
    args = ("separate", inputs / "duet.wav", "-o", tmp_path, "--n-sources", "2")
    assert run(*args).returncode == 0
    first = (tmp_path / "duet" / "source_0.wav").read_bytes()
    again = run(*args)
    assert again.returncode == 0 and "already separated" in again.stderr
    # a source file without its summary: refused, not overwritten
    (tmp_path / "duet" / "summary.json").unlink()
    refused = run(*args)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    assert (tmp_path / "duet" / "source_0.wav").read_bytes() == first
    overwrite = ("--overwrite", "--mask", "binary", "--grouping", "activations")
    assert run(*args, *overwrite, "--sharing", "hard").returncode == 0
    summary = json.loads((tmp_path / "duet" / "summary.json").read_text())
    assert summary["parameters"]["grouping"] == "activations"
    assert summary["parameters"]["sharing"] == "hard"
    assert summary["shared_components"] is False
    assert summary["grouped_by"] == "activations"


def test_mask_grouping_and_sharing_choices_are_the_registry_keys():
    from skl_sepnmf._grouping import GROUPINGS, SHARINGS
    from skl_sepnmf._masks import MASKS

    usage = run("separate", "--help").stdout
    for option, registry in (
        ("--mask", sorted(MASKS)),
        ("--grouping", sorted(GROUPINGS)),
        ("--sharing", list(SHARINGS)),
    ):
        choices = re.search(option + r" \{([^}]*)\}", usage).group(1)
        assert choices.split(",") == registry


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "required"),
        (("separate", "-o", "x"), "no input files"),
        (("separate", "a.wav"), "-o/--output"),
        (("separate", "a.wav", "-o", "x", "--n-fft", "0"), "positive integer"),
        (("separate", "a.wav", "-o", "x", "--method", "pca"), "invalid choice"),
        (("separate", "a.wav", "-o", "x", "--solo", "violin:0-3"), "SOURCE=START-END"),
        (("separate", "a.wav", "-o", "x", "--solo", "violin=0-a"), "SOURCE=START-END"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        (["--n-fft", "1"], "n_fft"),
        (["--n-fft", "2"], None),  # a hop of 1: valid (was a ZeroDivisionError)
        (["--power", "inf"], "finite"),
        (["--power", "nan"], "finite"),
        (["--n-sources", "4", "--n-components", "3"], "--n-sources 4 is more than"),
        (["--hop-length", "4096"], "at most win_length"),
        (["--solo", "a=0-1", "--solo", "b=0.5-2"], "--solo"),
    ],
)
def test_options_are_checked_once_before_any_file(options, message, capsys):
    """Issue 13 (13): reported once per file, after loading it, exit 1."""
    from skl_sepnmf.cli import main

    try:
        code = main(["separate", "a.wav", "b.wav", "-o", "x", "-q", *options])
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    errors = capsys.readouterr().err
    if message is None:  # the option is valid: the missing files fail, each
        assert code == 1 and "a.wav" in errors and "b.wav" in errors
        return
    assert code == 2 and message in errors
    assert errors.count("error") == 1  # once, not once per file
    assert "a.wav" not in errors  # before any file is read


def test_version_and_help():
    from skl_sepnmf import __version__

    assert run("--version").stdout.strip() == f"skl-sepnmf {__version__}"
    for command in ("separate", "evaluate"):
        assert "examples:" in run(command, "--help").stdout
    if shutil.which("skl-sepnmf"):  # the installed console script
        installed = subprocess.run(
            ["skl-sepnmf", "--version"], capture_output=True, text=True
        )
        assert __version__ in installed.stdout


def test_a_rerun_resumes_an_interrupted_one(inputs, tmp_path):
    """Killed mid-write: a marker, one source, a temporary. The rerun redoes it."""
    out = tmp_path / "duet"
    out.mkdir()
    (out / ".skl-sepnmf-incomplete").touch()
    (out / "source_0.wav").write_bytes(b"half a file")
    (out / ".source_1.wav.x1y2.part").write_bytes(b"partial")
    result = run("separate", inputs / "duet.wav", "-o", tmp_path, "--n-sources", "2")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["components.png", "source_0.wav", "source_1.wav", "summary.json"]
    assert load_audio(out / "source_0.wav")[0].shape == (16000,)


def test_an_output_that_is_a_file_is_a_usage_error(inputs, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should go")
    result = run("separate", inputs / "duet.wav", "-o", blocker, "-q")
    assert result.returncode == 2  # an option, refused before any input is read
    assert "not_a_folder: exists and is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_killed_run_leaves_only_complete_files_and_a_rerun_finishes(tmp_path):
    """SIGKILL in the middle of a batch, then the same command again."""
    import signal
    import time

    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(6):
        mixture, _, sr = make_mixture(n_sources=3, duration=20.0, random_state=k)
        write_audio(inputs / f"song{k}.wav", mixture, sr)
    args = [
        sys.executable,
        "-m",
        "skl_sepnmf.cli",
        "separate",
        "-o",
        str(tmp_path / "out"),
    ]
    args += [str(p) for p in sorted(inputs.iterdir())] + ["--n-sources", "3", "-q"]
    process = subprocess.Popen(args, stderr=subprocess.PIPE)
    out = tmp_path / "out"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once the first input is done
        if any(out.glob("*/summary.json")):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list(out.glob("*/summary.json"))) < 6  # the batch was interrupted
    for folder in out.iterdir():
        for source in folder.glob("source_*.wav"):
            y, _ = load_audio(source)  # every visible source file is complete
            assert y.shape == (320000,)
            if not (folder / "summary.json").exists() and any(folder.iterdir()):
                # sources or not, an unfinished folder is marked (or holds only
                # the lock file of the killed process, which binds no one)
                names = {p.name for p in folder.iterdir()}
                assert ".skl-sepnmf-incomplete" in names or names == {LOCK}
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*/summary.json"))) == 6
    assert not list(out.glob("*/.skl-sepnmf-incomplete"))
    assert not list(out.glob("*/.*.part"))


def test_guided_separation_from_the_command_line(tmp_path):
    """--solo NAME=START-END per source: the guided mode, n_sources from the
    names, their segments in summary.json; bad segments fail that input."""
    mixture, _, sr = make_mixture(n_sources=2, duration=4.0, sr=8000, random_state=3)
    write_audio(tmp_path / "duet.wav", mixture, sr)
    solos = ("--solo", "low=0-0.5", "--solo", "high=1-1.5", "--solo", "low=2-2.2")
    result = run("separate", tmp_path / "duet.wav", "-o", tmp_path / "out", *solos)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "duet"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["parameters"]["solo"] == {
        "low": [[0.0, 0.5], [2.0, 2.2]],
        "high": [[1.0, 1.5]],
    }
    assert sorted(p.name for p in folder.glob("source_*")) == [
        "source_0.wav",
        "source_1.wav",
    ]
    late = run(
        "separate",
        tmp_path / "duet.wav",
        "-o",
        tmp_path / "late",
        "--solo",
        "a=0-1",
        "--solo",
        "b=3-9",
    )
    assert late.returncode == 1
    assert "solo_segments[1][0]" in late.stderr and "ends after" in late.stderr


@pytest.fixture(scope="module")
def two_mixes(tmp_path_factory):
    """1.5 s of two dev mixtures, each saved as <song>/mix.flac (same names)."""
    dev = DATA_DIR / "dev"
    if not (dev / "trio" / "mix.flac").exists():
        pytest.skip(f"{dev} is absent")
    folder = tmp_path_factory.mktemp("mixes")
    paths = []
    for song in ("trio", "chorale_bwv255"):
        y, sr = load_audio(dev / song / "mix.flac")
        (folder / song).mkdir()
        paths.append(write_audio(folder / song / "mix.flac", y[: int(1.5 * sr)], sr))
    return paths


def test_inputs_of_the_same_name_in_parallel_keep_their_own_results(
    two_mixes, tmp_path
):
    """Issue 13 (1): the second was "already separated", or overwrote the first."""
    out = tmp_path / "o"
    result = run("separate", *two_mixes, "-o", out, "--n-sources", "3",
                 "--method", "snpa", "--n-fft", "512", "--jobs", "2",
                 "--format", "flac")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for path, name in zip(two_mixes, ("trio-mix", "chorale_bwv255-mix"), strict=True):
        assert f"{path} -> {out / name}: 3 sources" in result.stderr
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["input"] == str(path)
        separated = sum(load_audio(out / name / s)[0] for s in summary["sources"])
        np.testing.assert_allclose(separated, load_audio(path)[0], atol=2e-3)


def test_two_commands_on_one_folder_never_mix_their_results(two_mixes, tmp_path):
    """Issue 13 (6): two real processes on the same output folder at once."""
    out = tmp_path / "o"
    command = [sys.executable, "-m", "skl_sepnmf.cli", "separate", str(two_mixes[0]),
               "-o", str(out), "--method", "snpa", "--n-fft", "512"]  # fmt: skip
    first = subprocess.Popen(
        [*command, "--n-components", "3"], stderr=subprocess.PIPE, text=True
    )
    second = subprocess.Popen(
        [*command, "--n-components", "2"], stderr=subprocess.PIPE, text=True
    )
    errors = [p.communicate(timeout=300)[1] for p in (first, second)]
    codes = [first.returncode, second.returncode]
    assert "Traceback" not in "".join(errors)
    assert 0 in codes, errors
    for code, error in zip(codes, errors, strict=True):
        if code:  # refused: busy, or done by the other with other options
            assert "another process" in error or "other settings" in error, error
    summary = json.loads((out / "mix" / "summary.json").read_text())
    # one run's files only, and the summary of that run
    assert sorted(p.name for p in (out / "mix").glob("source_*")) == summary["sources"]
    assert not list((out / "mix").glob(".*"))  # no marker, lock or temporary left


def test_the_demo_never_writes_over_a_users_file(tmp_path):
    """Issue 13 (2): --demo replaced the user's own o/demo.wav."""
    mine = tmp_path / "demo.wav"
    mine.write_bytes(b"RIFF my own recording")
    result = run("separate", "--demo", "-o", tmp_path, "-q")
    assert result.returncode == 1
    assert "demo.wav exists and is not the demo's mixture" in result.stderr
    assert mine.read_bytes() == b"RIFF my own recording"
    from skl_sepnmf.cli import _demo_input

    mine.unlink()
    made = _demo_input(tmp_path)
    written = made.stat().st_mtime_ns
    assert _demo_input(tmp_path) == made  # its own file: reused, not rewritten
    assert made.stat().st_mtime_ns == written


def test_evaluate_finds_the_mixture_by_one_rule_and_scores_silence_lowest(
    tmp_path, capsys
):
    """Issue 13 (10, 11): a missing estimate gave a mean SI-SDR of 100; the
    mixture is the file named mix in any case, and mixed_strings is a stem."""
    from skl_sepnmf.cli import main

    trio = DATA_DIR / "dev" / "trio"
    if not trio.exists():
        pytest.skip(f"{trio} is absent")
    references, estimates = tmp_path / "refs", tmp_path / "est"
    references.mkdir()
    estimates.mkdir()
    for source, name in (("piano", "viola"), ("strings", "mixed_strings")):
        y, sr = load_audio(trio / f"{source}.flac")
        write_audio(references / f"{name}.flac", y[:sr], sr)
    mixture, _ = load_audio(trio / "mix.flac")
    write_audio(references / "Mix.flac", mixture[:sr], sr)
    write_audio(estimates / "source_0.wav", load_audio(references / "viola.flac")[0],
                sr, subtype="FLOAT")  # fmt: skip
    write_audio(estimates / "source_1.wav", np.zeros(sr), sr)  # a silent output
    assert main(["evaluate", str(estimates), str(references), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = {row["reference"]: row for row in table["sources"]}
    assert sorted(rows) == ["mixed_strings.flac", "viola.flac"]  # Mix.flac left out
    assert rows["viola.flac"]["estimate"] == "source_0.wav"
    assert rows["mixed_strings.flac"]["snr_db"] == -100.0
    assert rows["mixed_strings.flac"]["si_sdr_db"] == -100.0
    assert table["mean"]["si_sdr_db"] == 0.0  # (+100 - 100) / 2, was 100
