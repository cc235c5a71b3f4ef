"""Startup: the first separation on a fresh install, and the import cost.

What a new user waits for, each in a fresh process:

1. A new virtual environment, the package installed into it with the plot
   extra (``pip install "<checkout>[plot]"``; the install itself is not
   timed), then ``skl-sepnmf separate --demo -o <folder>`` twice: the first
   run (nothing cached yet: byte code aside, every lazy cost is paid here)
   and a warm run. Wall seconds of the whole command, and the summary's
   stage timings.
2. ``skl-sepnmf --help``, wall seconds.
3. ``python -X importtime -c "import skl_sepnmf"``: the cumulative import
   time of ``skl_sepnmf`` against that of ``sklearn.decomposition`` (which it
   imports anyway), and the wall seconds of both imports in fresh processes
   (median of ``--repeats``, alternated), plus whether numba, matplotlib or
   ``librosa.filters`` were imported.

Run alone on the machine: ``python benchmarks/bench_startup.py [--repeats 5]
[--pip-args "--no-index --find-links /opt/wheels"] [--quick]`` (``--quick``:
the current interpreter instead of a fresh environment, nothing saved).
Results go to benchmarks/results/startup.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_factorization import machine  # noqa: E402

_MODULES_PROBE = """
import json, sys
import skl_sepnmf
print(json.dumps(sorted(m for m in ("numba", "matplotlib", "librosa.filters")
                        if m in sys.modules)))
"""


def _wall_in(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    completed = subprocess.run(
        command, capture_output=True, text=True, check=True, **kwargs
    )
    return time.perf_counter() - start, completed


def fresh_environment(folder: Path, pip_args: list[str]) -> Path:
    """A new virtual environment with this checkout installed: its bin folder."""
    env = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    bin_dir = env / "bin"
    subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", *pip_args, f"{ROOT}[plot]"],
        check=True,
    )
    return bin_dir


def cumulative_import_us(python: str, module: str, folder: Path) -> int:
    """``-X importtime``'s cumulative microseconds of ``module`` in a fresh process."""
    _, completed = _wall_in(
        [python, "-X", "importtime", "-c", f"import {module}"], cwd=folder
    )
    for line in completed.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"-X importtime did not report {module}")


def run(python: str, cli: list[str], repeats: int, folder: Path):
    """Every command from ``folder``: the checkout is not on the path there
    (unless PYTHONPATH puts it there, as ``--quick`` needs)."""
    results = {}

    def _wall(command):
        return _wall_in(command, cwd=folder)

    for name in ("first", "warm"):
        out = folder / f"demo_{name}"
        seconds, _ = _wall([*cli, "separate", "--demo", "-o", str(out)])
        summary = json.loads((out / "demo" / "summary.json").read_text())
        results[f"demo_{name}"] = {
            "seconds": seconds,
            "stages": summary["timings_seconds"],
        }
        print(f"  demo ({name} run): {seconds:.2f} s", flush=True)
    results["help_seconds"] = _wall([*cli, "--help"])[0]
    walls = {"sklearn.decomposition": [], "skl_sepnmf": []}
    cumulative = {"sklearn.decomposition": [], "skl_sepnmf": []}
    for _ in range(repeats):
        for module in walls:
            walls[module].append(_wall([python, "-c", f"import {module}"])[0])
            cumulative[module].append(cumulative_import_us(python, module, folder))
    results["import"] = {
        module: {
            "wall_seconds": statistics.median(walls[module]),
            "importtime_seconds": statistics.median(cumulative[module]) / 1e6,
        }
        for module in walls
    }
    _, completed = _wall([python, "-c", _MODULES_PROBE])
    results["heavy_modules_after_import"] = json.loads(completed.stdout)
    return results


def markdown(results: dict, info: dict, repeats: int, fresh: bool) -> str:
    where = "a fresh virtual environment" if fresh else "the current interpreter"
    lines = [
        "# Startup",
        "",
        f"Each command in its own process, in {where}; wall seconds of the whole "
        "command (interpreter start and imports included).",
        "",
        "| command | seconds | stages (s) |",
        "|---|---:|---|",
    ]
    for name in ("demo_first", "demo_warm"):
        row = results[name]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in row["stages"].items())
        label = "first" if name == "demo_first" else "warm"
        lines.append(
            f"| `skl-sepnmf separate --demo` ({label} run) | {row['seconds']:.2f} | "
            f"{stages} |"
        )
    lines.append(f"| `skl-sepnmf --help` | {results['help_seconds']:.2f} | |")
    imports = results["import"]
    extra = (
        imports["skl_sepnmf"]["wall_seconds"]
        - imports["sklearn.decomposition"]["wall_seconds"]
    )
    lines += [
        "",
        f"Imports, median of {repeats} fresh processes each (`python -c "
        '"import ..."` wall seconds, and `-X importtime`\'s cumulative time):',
        "",
        "| module | wall seconds | -X importtime (s) |",
        "|---|---:|---:|",
    ]
    for module, row in imports.items():
        lines.append(
            f"| `{module}` | {row['wall_seconds']:.2f} | "
            f"{row['importtime_seconds']:.2f} |"
        )
    heavy = ", ".join(results["heavy_modules_after_import"]) or "none"
    lines += [
        "",
        f"`import skl_sepnmf` costs {extra:+.2f} s over `import "
        f"sklearn.decomposition`; numba / matplotlib / librosa.filters imported "
        f"by it: {heavy}.",
        "",
        "Machine:",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--pip-args",
        default="",
        help='extra arguments of the install, e.g. "--no-index --find-links DIR"',
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if args.quick:
            python = sys.executable
            cli = [python, "-m", "skl_sepnmf.cli"]
        else:
            print("installing into a fresh virtual environment", flush=True)
            bin_dir = fresh_environment(folder, shlex.split(args.pip_args))
            python = str(bin_dir / "python")
            cli = [str(bin_dir / "skl-sepnmf")]
        results = run(python, cli, args.repeats, folder)
    info = machine()
    table = markdown(results, info, args.repeats, not args.quick)
    print(table)
    if not args.quick:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "startup.md").write_text(table)
        payload = {"machine": info, "repeats": args.repeats, **results}
        (args.output / "startup.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
