"""What importing the package and separating with the defaults import.

Importing ``librosa.filters`` / ``librosa.util`` compiles librosa's numba
helpers (tens of seconds on a fresh install) and matplotlib costs half a
second: the separation path needs neither. Each check runs in a fresh
interpreter, which records who first imports ``numba`` or ``matplotlib``.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Installed first in the child: a meta-path finder that notes the functions on
# the stack when a watched module is first asked for. It then refuses
# matplotlib, as if the plot extra were not installed: the figure stage skips
# its figure (drawing it would only cost time here), and nothing else may fail.
RECORDER = textwrap.dedent(
    """
    import json, sys, traceback
    WATCHED = ("numba", "matplotlib")
    first_import = {}

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in WATCHED and top not in first_import:
                first_import[top] = [f.name for f in traceback.extract_stack()]
            if top == "matplotlib":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Recorder())

    def asked():
        return {name: first_import.get(name) for name in WATCHED}
    """
)


def test_separation_imports_neither_numba_nor_matplotlib(tmp_path):
    """``import skl_sepnmf``, a default separation, then the command line's
    ``separate`` on a short file: numba is never imported, matplotlib only by
    the figure stage."""
    code = RECORDER + textwrap.dedent(
        """
        import numpy as np
        import skl_sepnmf
        from skl_sepnmf import SpectrogramSeparator
        from skl_sepnmf.datasets import make_mixture
        from skl_sepnmf.io import write_audio

        mixture, _, sr = make_mixture(n_sources=2, duration=1.0, random_state=0)
        sources = SpectrogramSeparator(n_sources=2, sr=sr).fit_transform(mixture[None])
        assert np.allclose(sources.sum(axis=1), mixture[None], atol=1e-6)
        library = asked()

        from skl_sepnmf.cli import main

        write_audio("mix.wav", mixture, sr)
        assert main(["separate", "mix.wav", "-o", "out", "--n-sources", "2"]) == 0
        print(json.dumps({"library": library, "cli": asked()}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["library"] == {"numba": None, "matplotlib": None}, seen["library"]
    assert seen["cli"]["numba"] is None, seen["cli"]["numba"]
    assert "_figure" in seen["cli"]["matplotlib"], seen["cli"]["matplotlib"]
    assert len(list((tmp_path / "out").rglob("source_*.wav"))) == 2
