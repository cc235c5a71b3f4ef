"""Thread budget and ordered parallel map, shared by kernels and spectral code.

Both the greedy selection's score passes (:mod:`skl_sepnmf._selection`) and the
blockwise STFT / resynthesis (:mod:`skl_sepnmf._spectral`) run numpy work on a
thread pool beside the BLAS; they size their pools from the same budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor

from threadpoolctl import threadpool_info


def _blas_threads() -> int:
    """Threads the BLAS may use here: the budget for our own thread pools too."""
    counts = [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]
    return max(1, min(counts)) if counts else 1


def _ordered_map(
    pool: Executor, function: Callable, items: Iterable, ahead: int
) -> Iterator:
    """``map(function, items)`` on a thread pool, in order, with at most
    ``ahead`` calls submitted and not yet consumed (bounded memory)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
