"""NMF: scikit-learn's NMF under our name, plus separable starting points."""

from __future__ import annotations

import inspect

import librosa
import numpy as np
import pytest
import sklearn.decomposition
from sklearn.exceptions import ConvergenceWarning

from skl_sepnmf import NMF
from skl_sepnmf._nmf import solo_refined
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


def _beta_divergence(frames, model, beta):
    if beta == 2:
        return 0.5 * np.sum((frames - model) ** 2)
    if beta == 1:
        return np.sum(frames * np.log(frames / model) - frames + model)
    return np.sum(frames / model - np.log(frames / model) - 1)


@pytest.mark.parametrize(
    "beta_loss, beta", [("frobenius", 2), ("kullback-leibler", 1), ("itakura-saito", 0)]
)
def test_solo_refinement_silences_other_sources_and_lowers_the_divergence(
    beta_loss, beta
):
    """In a source's solo frames the other sources' activations are zero after
    refinement, and the updates never raise the beta-divergence."""
    rng = np.random.default_rng(0)
    frames = rng.random((60, 30)) + 0.1
    activations = rng.random((60, 6)) + 0.1
    components = rng.random((6, 30)) + 0.1
    groups = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    solos = [np.arange(0, 10), np.arange(10, 20)]
    start = activations.copy()
    zeroed = start.copy()
    zeroed[np.ix_(solos[0], groups[1])] = zeroed[np.ix_(solos[1], groups[0])] = 0
    previous = _beta_divergence(frames, zeroed @ components, beta)
    for n_iter in (1, 5, 20):
        refined, templates = solo_refined(
            frames,
            activations,
            components,
            groups,
            solos,
            beta_loss=beta_loss,
            n_iter=n_iter,
        )
        assert not refined[np.ix_(solos[0], groups[1])].any()
        assert not refined[np.ix_(solos[1], groups[0])].any()
        assert refined[np.ix_(solos[0], groups[0])].all()
        divergence = _beta_divergence(frames, refined @ templates, beta)
        assert divergence <= previous + 1e-9
        previous = divergence
    np.testing.assert_array_equal(activations, start)  # inputs left alone
    refined, templates = solo_refined(
        frames.astype(np.float32), activations, components, groups, solos
    )
    assert refined.dtype == templates.dtype == np.float32
