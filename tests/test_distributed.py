"""The same code on a real dask.distributed cluster (2 worker processes on the
loopback interface) gives the sequential results."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV

from skl_sepnmf import NMF, SNPA, SpectrogramSeparator
from skl_sepnmf.datasets import make_mixture

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster_client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def collection():
    """Four 3-source mixtures and their true sources."""
    pairs = [make_mixture(n_sources=3, random_state=seed)[:2] for seed in range(4)]
    mixtures = np.stack([mixture for mixture, _ in pairs])
    sources = np.stack([sources for _, sources in pairs])
    return mixtures, sources


def test_batch_separation_on_the_cluster_equals_sequential(cluster_client, collection):
    mixtures, _ = collection
    # SNPA: exact selection, so the cluster's run equals the sequential one
    # to rounding (a KL-NMF's 200 multiplicative updates amplify the BLAS
    # threads' rounding differences)
    separator = SpectrogramSeparator(SNPA(3), n_fft=1024, random_state=0)
    sequential = separator.fit_transform(mixtures)
    with distributed.get_task_stream(cluster_client) as tasks, parallel_backend("dask"):
        on_cluster = separator.fit_transform(mixtures)
    # the work ran on the two worker processes
    assert {task["worker"] for task in tasks.data} == set(
        cluster_client.scheduler_info()["workers"]
    )
    np.testing.assert_allclose(on_cluster, sequential, rtol=0, atol=1e-6)


def test_grid_search_on_the_cluster_equals_sequential(cluster_client, collection):
    mixtures, sources = collection
    grid = {"estimator": [SNPA(3), NMF(3, max_iter=100, random_state=0)]}

    def search():
        return GridSearchCV(
            SpectrogramSeparator(n_fft=1024, random_state=0), grid, cv=2
        ).fit(mixtures, sources)

    sequential = search()
    with distributed.get_task_stream(cluster_client) as tasks, parallel_backend("dask"):
        on_cluster = search()
    assert tasks.data  # the fits ran on the cluster
    assert on_cluster.best_params_ == sequential.best_params_
    np.testing.assert_allclose(
        on_cluster.cv_results_["mean_test_score"],
        sequential.cv_results_["mean_test_score"],
        rtol=0,
        atol=1e-6,
    )
