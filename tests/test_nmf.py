"""NMF: scikit-learn's NMF under our name, plus separable starting points."""

from __future__ import annotations

import inspect

import librosa
import numpy as np
import pytest
import sklearn.decomposition
from sklearn.exceptions import ConvergenceWarning

from skl_sepnmf import NMF
from skl_sepnmf._separable import SEPARABLE


def test_signature_and_defaults_are_sklearns():
    ours = inspect.signature(NMF)
    theirs = inspect.signature(sklearn.decomposition.NMF)
    assert ours == theirs
    assert NMF().get_params() == sklearn.decomposition.NMF().get_params()


@pytest.mark.parametrize(
    "params", [{}, {"solver": "mu", "beta_loss": "kullback-leibler"}]
)
def test_results_equal_sklearns(trio_spectrogram, params):
    """Same parameters, same numbers: librosa's decompose default is reproduced."""
    X = trio_spectrogram[:200]
    kwargs = dict(n_components=4, random_state=0, max_iter=50, **params)
    with pytest.warns(ConvergenceWarning):
        ours = NMF(**kwargs).fit_transform(X)
    with pytest.warns(ConvergenceWarning):
        theirs = sklearn.decomposition.NMF(**kwargs).fit_transform(X)
    np.testing.assert_array_equal(ours, theirs)


def test_librosa_decompose_with_our_nmf_equals_its_default(trio_spectrogram):
    S = trio_spectrogram.T[:, :150]
    with pytest.warns(ConvergenceWarning):
        W1, H1 = librosa.decompose.decompose(
            S, n_components=3, transformer=NMF(3, random_state=0, max_iter=30)
        )
    with pytest.warns(ConvergenceWarning):
        W2, H2 = librosa.decompose.decompose(
            S, transformer=sklearn.decomposition.NMF(3, random_state=0, max_iter=30)
        )
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(H1, H2)


@pytest.mark.parametrize("init, Selector", SEPARABLE.items(), ids=SEPARABLE.keys())
def test_separable_start_is_the_selection(trio_spectrogram, init, Selector):
    """With no iteration budget to move, the start shows through: components are
    refined from the selected frames and the error is no worse than the start's."""
    X = trio_spectrogram
    selector = Selector(5).fit(X)
    model = NMF(5, init=init, max_iter=200, tol=1e-6)
    W = model.fit_transform(X)
    assert W.shape == (X.shape[0], 5) and W.min() >= 0
    assert model.reconstruction_err_ <= selector.reconstruction_err_ * (1 + 1e-9)
    # deterministic: no random_state needed
    np.testing.assert_array_equal(
        NMF(5, init=init, max_iter=200, tol=1e-6).fit_transform(X), W
    )


def test_mu_solver_moves_every_entry_of_the_separable_start(trio_spectrogram):
    model = NMF(4, init="snpa", solver="mu", max_iter=20)
    with pytest.warns(ConvergenceWarning):
        model.fit(trio_spectrogram)
    assert np.all(model.components_ > 0)


def test_separable_start_with_too_few_distinct_frames_is_a_clear_error():
    X = np.vstack([np.eye(3)] * 4)
    with pytest.raises(
        ValueError, match=r"found only 3 distinct frames for n_components=5"
    ):
        NMF(5, init="snpa").fit(X)
