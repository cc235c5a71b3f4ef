"""The README's first command: the quick start finds one solo per instrument."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import PROJECT


def test_quickstart_selects_one_solo_frame_per_instrument():
    result = subprocess.run(
        [sys.executable, str(PROJECT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    solos = re.findall(r"solo of (.+)", result.stdout)
    assert len(solos) == 3
    assert len(set(solos)) == 3, result.stdout
    assert "all three" not in solos
