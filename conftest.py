"""Root pytest configuration: stable doctest output under NumPy 2."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _legacy_print_options(doctest_namespace):
    np.set_printoptions(legacy="1.25")
    yield
