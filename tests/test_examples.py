"""Every example, and the README's Python, runs as written and says what it should."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from .conftest import DATA_DIR, PROJECT


def test_quickstart_finds_each_solo_and_separates_well(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROJECT / "examples" / "quickstart.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    solos = re.findall(r"solo of instrument (\d)", result.stdout)
    assert sorted(solos) == ["0", "1", "2"], result.stdout
    snrs = [float(v) for v in re.findall(r"SNR +([-\d.]+) dB", result.stdout)]
    assert len(snrs) == 3 and min(snrs) > 10, result.stdout
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["mixture.wav", "source_0.wav", "source_1.wav", "source_2.wav"]


def _run_example(name, *args):
    return subprocess.run(
        [sys.executable, str(PROJECT / "examples" / name), *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    ).stdout


def test_seed_experiment_reproduces_the_notebook_rows():
    seed = DATA_DIR / "seed"
    if not seed.exists():
        pytest.skip(f"{seed} is absent")
    pytest.importorskip("matplotlib")
    out = _run_example("plot_seed_experiment.py", seed)
    printed = {  # the notebook's printed min, mean, max, reconstruction
        "NMF (notebook)": [1.33, 3.50, 5.86, 7.76],
        "SNPA (notebook)": [-0.63, 0.94, 2.59, 5.64],
        "GreedySNPA (notebook)": [0.40, 1.21, 2.18, 5.64],
    }
    notebook_table = out.split("Standard dB")[0]
    for name, expected in printed.items():
        line = next(row for row in notebook_table.splitlines() if row.startswith(name))
        values = [float(v) for v in line[len(name) :].split()]
        np.testing.assert_allclose(values, expected, atol=0.1, err_msg=name)


def test_grid_search_example_ranks_every_candidate():
    dev = DATA_DIR / "dev"
    if not dev.exists():
        pytest.skip(f"{dev} is absent")
    pytest.importorskip("matplotlib")
    out = _run_example("plot_grid_search.py", dev)
    assert out.count("\n") > 12 and "best:" in out


def test_every_example_is_tested():
    """A new example must be added to the runs below or above."""
    tested = {
        "quickstart.py",
        "plot_seed_experiment.py",
        "plot_grid_search.py",
        "plot_stereo.py",
        "plot_trained_mode.py",
        "plot_cli.py",
        "plot_listening.py",  # built by sphinx-gallery below
        "separate_collection.py",
    }
    assert {p.name for p in (PROJECT / "examples").glob("*.py")} == tested


def test_collection_example_gives_the_same_files_on_a_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    import soundfile as sf

    _run_example("separate_collection.py", tmp_path / "local", "--jobs", "2")
    out = _run_example(
        "separate_collection.py", tmp_path / "dask", "--local-cluster", 2
    )
    assert "on the dask cluster at tcp://127.0.0.1:" in out
    written = sorted(
        p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.wav")
    )
    assert len(written) == 4 * (1 + 3)  # demo inputs and 3 sources each
    for name in written:
        local, _ = sf.read(tmp_path / "local" / name)
        on_cluster, _ = sf.read(tmp_path / "dask" / name)
        np.testing.assert_allclose(on_cluster, local, atol=2 / 2**15)


def test_stereo_example_keeps_the_panning():
    pytest.importorskip("matplotlib")
    out = _run_example("plot_stereo.py")
    ratios = re.findall(r"left/right level ([\d.]+) \(true ([\d.]+)\)", out)
    assert len(ratios) == 3
    for measured, true in ratios:
        assert abs(float(measured) - float(true)) < 0.1 * float(true)


def test_trained_mode_example_beats_blind():
    folder = DATA_DIR / "dev" / "solointro_bwv108.6"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    out = _run_example("plot_trained_mode.py", folder)
    blind, trained = (float(v) for v in re.findall(r"([-\d.]+) dB mean SNR", out))
    assert trained > blind + 5


def test_cli_example_runs_both_commands():
    out = _run_example("plot_cli.py")
    assert out.count("-> exit 0") == 2
    assert "mean" in out


def test_readme_python_example_runs():
    """The README's ten-line example, executed as written."""
    readme = (PROJECT / "README.md").read_text()
    block = re.search(r"## In ten lines\n\n```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF's ConvergenceWarning
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["separated"].shape == namespace["Y"].shape
    assert namespace["grid"].best_score_ > 10


class _AudioElements(html.parser.HTMLParser):
    """The data URL of every <audio>'s <source> in an HTML page."""

    def __init__(self):
        super().__init__()
        self.sources, self._in_audio = [], False

    def handle_starttag(self, tag, attrs):
        if tag == "audio":
            self._in_audio = True
        elif tag == "source" and self._in_audio:
            self.sources.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag == "audio":
            self._in_audio = False


GALLERY_CONF = """
import os
os.environ.setdefault("MPLBACKEND", "Agg")
extensions = ["sphinx_gallery.gen_gallery"]
master_doc = "index"
exclude_patterns = ["_build"]


def reset_argv(gallery_conf, script_vars):
    return [{folder!r}, "6"]


sphinx_gallery_conf = {{
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "reset_argv": reset_argv,
    "download_all_examples": False,
}}
"""


def test_listening_example_builds_with_players_that_decode(tmp_path):
    """sphinx-gallery builds "Listening to the methods" (the first 6 s of a real
    dev duet, for speed): the
    page holds one <audio> per player, each an MP3 (or WAV) that decodes to the 4-second
    excerpt, and the printed scores rank the methods as the benchmark does."""
    import base64
    import io
    import shutil

    import soundfile as sf

    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("IPython")
    pytest.importorskip("fast_bss_eval")
    folder = DATA_DIR / "dev" / "duet_bwv269"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    (tmp_path / "examples").mkdir()
    shutil.copy(PROJECT / "examples" / "plot_listening.py", tmp_path / "examples")
    (tmp_path / "examples" / "GALLERY_HEADER.rst").write_text("Gallery\n=======\n")
    (tmp_path / "conf.py").write_text(GALLERY_CONF.format(folder=str(folder)))
    (tmp_path / "index.rst").write_text(
        "Test\n====\n\n.. toctree::\n\n   auto_examples/index\n"
    )
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(tmp_path),
         str(tmp_path / "_build")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    page = (tmp_path / "_build" / "auto_examples" / "plot_listening.html").read_text()
    parser = _AudioElements()
    parser.feed(page)
    # mixture + 2 stems, then 2 sources for each of the 3 configurations
    assert len(parser.sources) == 3 + 3 * 2
    for src in parser.sources:
        header, data = src.split(",", 1)
        assert header in ("data:audio/mpeg;base64", "data:audio/wav;base64")
        samples, rate = sf.read(io.BytesIO(base64.b64decode(data)))
        assert rate == 22050 and samples.shape == (4 * 22050,)
        assert np.abs(samples).max() > 0.01  # sound, not silence
    scores = {
        label: float(re.search(rf"{label}\s+([-\d.]+)", page).group(1))
        for label in ("notebook", "defaults", "best measured")
    }
    floor = 3.0  # mix / 2 for each of two sources
    assert scores["defaults"] > floor + 5 and scores["best measured"] > floor + 5
    assert scores["notebook"] < floor
