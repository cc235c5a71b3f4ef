"""Every example, and the README's Python, runs as written and says what it should."""

from __future__ import annotations

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
