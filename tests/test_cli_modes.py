"""Every mode from the command line: trained mode, phase, formats, BSS Eval,
the options' help (the skl-sepnmf command's main, in this process)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from skl_sepnmf.cli import main
from skl_sepnmf.datasets import load_stems, make_mixture, stem_files
from skl_sepnmf.io import load_audio, write_audio
from tests.conftest import DATA_DIR


def cli(capsys, *args):
    """The command in this process (no interpreter start): (code, out, err)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def solo_intro(tmp_path_factory):
    """3 s of a real duet (english horn, guitar), with its stems as the solo
    recordings: the mixture file, a stems folder and {name: stem file}."""
    source = DATA_DIR / "dev" / "duet_solointro_bwv267"
    if not source.exists():
        pytest.skip(f"{source} is absent")
    mixture, stems, sr, names = load_stems(stem_files(source, mixture_name="mix"))
    folder = tmp_path_factory.mktemp("solo_intro")
    excerpt = slice(int(7 * sr), int(10 * sr))  # both voices play
    (folder / "stems").mkdir()
    recordings = {}
    for name, stem in zip(names, stems, strict=True):
        recordings[name] = write_audio(
            folder / "stems" / f"{name}.wav", stem[excerpt], sr
        )
    mix = write_audio(folder / "duet.wav", stems[:, excerpt].sum(axis=0), sr)
    return mix, folder / "stems", recordings


def test_trained_mode_names_the_sources_after_the_recordings(
    solo_intro, tmp_path, capsys
):
    mix, stems, recordings = solo_intro
    solos = [a for n, p in recordings.items() for a in ("--solo-recording", f"{n}={p}")]
    code, _, err = cli(capsys, "separate", mix, "-o", tmp_path, "-q", *solos)
    assert code == 0, err
    folder = tmp_path / "duet"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["sources"] == [f"{name}.wav" for name in recordings]
    assert summary["parameters"]["grouping"] == "recordings"
    assert summary["parameters"]["n_sources"] == 2
    assert summary["parameters"]["solo_recordings"] == {
        name: str(path) for name, path in recordings.items()
    }
    assert summary["parameters"]["n_fft_ms"] == pytest.approx(2048 / 22050 * 1000, 0.01)
    code, out, err = cli(capsys, "evaluate", folder, stems, "--metric", "sdr", "--json")
    assert code == 0, err
    table = json.loads(out)
    assert [r["estimate"] for r in table["sources"]] == summary["sources"]
    assert set(table["mean"]) == {"snr_db", "si_sdr_db", "sdr_db", "sir_db", "sar_db"}
    # far above the 3 dB floor of mix/2 (../shared/data/README.md)
    assert table["mean"]["snr_db"] > 6
    assert table["mean"]["sir_db"] > table["mean"]["sdr_db"]
    text = cli(capsys, "evaluate", folder, stems, "--metric", "sdr")[1]
    assert "SIR dB" in text and "SAR dB" in text and "matched one-to-one on SIR" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--solo-recording", "violin"), "SOURCE=PATH"),
        (("--solo-recording", "a=x.wav", "--solo", "a=0-1"), "two modes"),
        (("--solo-recording", "a=missing.wav"), "--solo-recording a"),
        (("--solo-recording", "a=x.wav", "--solo-recording", "a=y.wav"), "twice"),
        (("--solo-recording", "a=x.wav", "--n-sources", "3"), "--n-sources 3"),
    ],
)
def test_trained_mode_errors_are_named(extra, message, tmp_path, capsys):
    write_audio(tmp_path / "mix.wav", make_mixture(2, 1.0, random_state=0)[0], 16000)
    args = ("separate", tmp_path / "mix.wav", "-o", tmp_path / "out", "-q", *extra)
    try:
        code, _, err = cli(capsys, *args)
    except SystemExit as usage:  # argparse: exit 2
        code, err = usage.code, capsys.readouterr().err
    assert code in (1, 2)
    assert message in err and "Traceback" not in err


def test_find_solos_separates_from_the_solos_it_found(tmp_path, capsys):
    """The first 10 s of a real duet whose voices each play one bar alone
    (0-3.3 s, 3.3-6.7 s): --find-solos finds both and records how much."""
    source = DATA_DIR / "dev" / "duet_solointro_bwv267"
    if not source.exists():
        pytest.skip(f"{source} is absent")
    mixture, _, sr, _ = load_stems(stem_files(source, mixture_name="mix"))
    mix = write_audio(tmp_path / "duet.wav", mixture[: 10 * sr], sr)
    args = ("separate", mix, "-o", tmp_path / "out", "-q", "--n-sources", "2")
    code, _, err = cli(capsys, *args, "--find-solos")
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "duet" / "summary.json").read_text())
    assert summary["parameters"]["find_solos"] is True
    assert len(summary["solo_seconds"]) == 2
    assert min(summary["solo_seconds"]) >= 0.25
    assert sum(summary["solo_seconds"]) < 6.7  # only inside the solo bars
    # a blind run records no solos; a rerun that differs in it is refused
    code, _, err = cli(capsys, *args)
    assert code == 1 and "find_solos" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--find-solos",), "--find-solos needs --n-sources"),
        (("--find-solos", "--solo", "a=0-0.5", "--solo", "b=0.5-1"), "two modes"),
        (("--find-solos", "--solo-recording", "a=x.wav"), "two modes"),
    ],
)
def test_find_solos_errors_are_named(extra, message, tmp_path, capsys):
    write_audio(tmp_path / "mix.wav", make_mixture(2, 1.0, random_state=0)[0], 16000)
    write_audio(tmp_path / "x.wav", make_mixture(2, 1.0, random_state=1)[0], 16000)
    args = ("separate", tmp_path / "mix.wav", "-o", tmp_path / "out", "-q", *extra)
    code, _, err = cli(capsys, *args)
    assert code in (1, 2)
    assert message in err and "Traceback" not in err


def test_griffinlim_phase_and_ogg_vorbis_output(tmp_path, capsys):
    if "OGG" not in sf.available_formats():
        pytest.skip("this libsndfile writes no OGG")
    mixture, sources, sr = make_mixture(2, 2.0, sr=8000, random_state=3)
    write_audio(tmp_path / "duet.wav", mixture, sr)
    common = ("separate", tmp_path / "duet.wav", "-q", "--method", "snpa")
    common += ("--n-sources", "2", "--n-fft", "512")
    code, _, err = cli(capsys, *common, "-o", tmp_path / "gl", "--phase",
                       "griffinlim", "--n-iter", "8", "--format", "ogg")  # fmt: skip
    assert code == 0, err
    folder = tmp_path / "gl" / "duet"
    assert sf.info(str(folder / "source_0.ogg")).subtype == "VORBIS"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["parameters"]["phase"] == "griffinlim"
    assert summary["parameters"]["n_iter"] == 8
    code, _, err = cli(capsys, *common, "-o", tmp_path / "mix", "--format", "ogg")
    assert code == 0, err
    gl = load_audio(folder / "source_0.ogg")[0]
    reused = load_audio(tmp_path / "mix" / "duet" / "source_0.ogg")[0]
    assert gl.shape == reused.shape == (16000,)
    assert not np.allclose(gl, reused, atol=1e-2)  # another phase, another wave


def test_every_option_says_what_it_does_and_its_unit():
    from skl_sepnmf.cli import _parser

    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if action.dest in ("help", "files", "estimates", "references"):
                continue
            assert action.help and len(action.help) > 10, (name, action.dest)
    usage = " ".join(commands["separate"].format_help().split())
    assert "window length, in samples" in usage and "closest to 93 ms" in usage
    assert "4096 at 44100 Hz (93 ms)" in usage
    assert "in Hz" in usage and "in seconds" in usage
    evaluate = " ".join(commands["evaluate"].format_help().split())
    assert "MDX" in evaluate and "bss_eval_sources" in evaluate


def test_evaluate_sdr_of_a_silent_estimate_is_finite(tmp_path, capsys):
    mixture, sources, sr = make_mixture(2, 1.0, sr=8000, random_state=1)
    (tmp_path / "refs").mkdir()
    (tmp_path / "ests").mkdir()
    for k, source in enumerate(sources):
        write_audio(tmp_path / "refs" / f"s{k}.wav", source, sr, subtype="FLOAT")
    write_audio(tmp_path / "ests" / "a.wav", sources[0], sr, subtype="FLOAT")
    write_audio(tmp_path / "ests" / "b.wav", np.zeros_like(sources[1]), sr)
    code, out, err = cli(capsys, "evaluate", tmp_path / "ests", tmp_path / "refs",
                         "--metric", "sdr", "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["sources"]
    assert rows[1]["estimate"] == "b.wav"
    assert [rows[1][k] for k in ("sdr_db", "sir_db", "sar_db")] == [-100.0] * 3
    assert rows[0]["sdr_db"] > 50


@pytest.mark.parametrize(
    "names, message",
    [
        (["a"], "1 source names for 2 sources"),
        (["a", "a"], "distinct"),
        (["a", "../b"], "not a file name"),
        (["a", ".hidden"], "not a file name"),
    ],
)
def test_source_names_must_be_file_names(names, message, tmp_path):
    from skl_sepnmf import SNPA, SpectrogramSeparator
    from skl_sepnmf.batch import separate_file

    mixture, _, sr = make_mixture(2, 1.0, sr=8000, random_state=0)
    song = write_audio(tmp_path / "song.wav", mixture, sr)
    separator = SpectrogramSeparator(SNPA(2), n_fft=256)
    with pytest.raises(ValueError, match=message):
        separate_file(song, tmp_path / "out", separator, source_names=names)
    assert not (tmp_path / "out" / "song").exists()  # refused before any write
