"""Separate a collection of audio files, on one machine or on a dask cluster.

Usage::

    python separate_collection.py OUTPUT [FILES ...] [--jobs N]
    python separate_collection.py OUTPUT [FILES ...] --scheduler tcp://host:8786
    python separate_collection.py OUTPUT [FILES ...] --local-cluster 2

Without FILES, a demo collection of four synthetic mixtures is written to
OUTPUT/inputs first. Each file is separated into 3 sources by
``skl_sepnmf.batch.separate_file``, the function ``skl-sepnmf separate`` calls:
OUTPUT/<file name>/source_<k>.wav, written as soon as each is resynthesized,
then summary.json. Run it again and the files already done are skipped; a
file that fails is reported and the others go on.

The loop is one joblib call. On one machine it runs ``--jobs`` processes; with
``--scheduler`` (an existing dask.distributed cluster) or ``--local-cluster N``
(N local worker processes, for trying it out) the very same call runs on the
cluster's workers, through ``joblib.parallel_backend("dask")``. The workers
read and write the paths given, so on a real cluster these must be on a file
system every worker sees.
"""

import argparse
import contextlib
from pathlib import Path

from joblib import Parallel, delayed, parallel_backend

from skl_sepnmf import SNPA, SpectrogramSeparator
from skl_sepnmf.batch import InputError, separate_file
from skl_sepnmf.datasets import make_mixture
from skl_sepnmf.io import write_audio


def separate(path: Path, output: Path, separator) -> str:
    """Separate one file into output/<name>; a line saying what happened."""
    try:
        summary = separate_file(path, output, separator, figure=False)
    except InputError as error:  # unreadable input, unwritable output: go on
        return f"{path.name}: failed: {error}"
    if "skipped" in summary:
        return f"{path.name}: {summary['skipped']}"
    return f"{path.name}: {len(summary['sources'])} sources"


def demo_collection(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(4):
        mixture, _, sr = make_mixture(n_sources=3, random_state=seed)
        paths.append(folder / f"mixture_{seed}.wav")
        write_audio(paths[-1], mixture, sr, overwrite=True)
    return paths


@contextlib.contextmanager
def dask_client(args):
    """A dask client when asked for one (closed on exit), else None."""
    if args.scheduler is None and args.local_cluster is None:
        yield None
        return
    from dask.distributed import Client, LocalCluster

    if args.scheduler is not None:
        with Client(args.scheduler) as client:
            yield client
        return
    workers = LocalCluster(
        n_workers=args.local_cluster,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with workers, Client(workers) as client:
        yield client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one machine")
    parser.add_argument("--scheduler", help="address of a dask.distributed scheduler")
    parser.add_argument("--local-cluster", type=int, help="start N local dask workers")
    args = parser.parse_args()
    files = args.files or demo_collection(args.output / "inputs")

    separator = SpectrogramSeparator(SNPA(n_components=3), n_fft=1024, random_state=0)
    tasks = (delayed(separate)(path, args.output, separator) for path in files)
    with dask_client(args) as client:
        if client is None:
            done = Parallel(n_jobs=args.jobs)(tasks)
        else:
            print(f"on the dask cluster at {client.scheduler.address}")
            with parallel_backend("dask"):
                done = Parallel()(tasks)
    print("\n".join(done))


if __name__ == "__main__":
    main()
