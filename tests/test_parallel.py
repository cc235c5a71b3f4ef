"""Thread budget and ordered map."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from skl_sepnmf._parallel import _blas_threads, _ordered_map


def test_blas_threads_is_a_positive_budget():
    assert _blas_threads() >= 1


def test_ordered_map_keeps_the_order_of_its_items():
    """Later items finish first here; the results still come out in order."""

    def slow_for_small(i):
        time.sleep(0.002 * (8 - i))
        return i * i

    with ThreadPoolExecutor(4) as pool:
        results = list(_ordered_map(pool, slow_for_small, range(8), ahead=4))
    assert results == [i * i for i in range(8)]


def test_ordered_map_submits_at_most_ahead_calls_before_yielding():
    submitted = []

    def record(i):
        return i

    class CountingPool(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            submitted.append(args[1])
            return super().submit(*args, **kwargs)

    with CountingPool(2) as pool:
        results = _ordered_map(pool, record, range(10), ahead=3)
        assert next(results) == 0
        assert len(submitted) == 3  # the first result waits for the third call
        assert list(results) == list(range(1, 10))
