"""SPA, SNPA and GreedySNPA as estimators: orientation, attributes, errors, audio."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skl_sepnmf import SNPA, SPA, GreedySNPA
from skl_sepnmf._separable import SEPARABLE

from .conftest import golden_path

ESTIMATORS = pytest.mark.parametrize(
    "Estimator", SEPARABLE.values(), ids=SEPARABLE.keys()
)


@pytest.fixture
def separable_X():
    rng = np.random.default_rng(0)
    templates = rng.random((4, 30)) ** 3
    mixing = rng.dirichlet(np.ones(4), size=50) * 0.8
    return np.vstack([mixing[:20] @ templates, templates, mixing[20:] @ templates])


@ESTIMATORS
def test_components_are_the_selected_rows(Estimator, separable_X):
    estimator = Estimator(n_components=4).fit(separable_X)
    assert sorted(estimator.indices_.tolist()) == [20, 21, 22, 23]
    np.testing.assert_array_equal(
        estimator.components_, separable_X[estimator.indices_]
    )
    assert estimator.n_components_ == 4
    assert estimator.reconstruction_err_ < 1e-8


@ESTIMATORS
def test_transform_inverse_transform_round_trip(Estimator, separable_X):
    estimator = Estimator(n_components=4)
    W = estimator.fit_transform(separable_X)
    assert W.shape == (separable_X.shape[0], 4)
    assert W.min() >= 0
    np.testing.assert_allclose(estimator.transform(separable_X), W)
    np.testing.assert_allclose(estimator.inverse_transform(W), separable_X, atol=1e-8)


@ESTIMATORS
def test_float32_stays_float32_and_selects_the_same_frames(Estimator, trio_spectrogram):
    as64 = Estimator(n_components=5).fit(trio_spectrogram.astype(np.float64))
    as32 = Estimator(n_components=5)
    W = as32.fit_transform(trio_spectrogram.astype(np.float32))
    np.testing.assert_array_equal(as32.indices_, as64.indices_)
    assert W.dtype == np.float32
    assert as32.components_.dtype == np.float32
    assert as32.inverse_transform(W).dtype == np.float32


@ESTIMATORS
def test_fewer_components_than_asked_warns_and_sets_n_components_(
    Estimator, separable_X
):
    # SPA and SNPA need the 4 pure frames; the greedy score may first pick an
    # interior frame (the heuristic's known weakness), so it can need one more.
    with pytest.warns(UserWarning, match=r"only [45] of the n_components=6") as record:
        estimator = Estimator(n_components=6).fit(separable_X)
    assert record[0].filename == __file__
    assert estimator.n_components_ in (4, 5)
    if Estimator in (SPA, SNPA):
        assert estimator.n_components_ == 4
    assert estimator.transform(separable_X).shape[1] == estimator.n_components_


@pytest.mark.parametrize("Estimator", [SPA, SNPA])
def test_n_components_none_selects_until_the_tolerance(Estimator, separable_X):
    estimator = Estimator().fit(separable_X)
    assert sorted(estimator.indices_.tolist()) == [20, 21, 22, 23]


@pytest.mark.parametrize("normalize", [True, False])
def test_spa_starts_with_snpas_pick_on_real_music(trio_spectrogram, normalize):
    spa = SPA(6, normalize=normalize).fit(trio_spectrogram)
    snpa = SNPA(6, normalize=normalize).fit(trio_spectrogram)
    assert spa.indices_[0] == snpa.indices_[0]
    assert spa.n_components_ == 6 and spa.n_iter_ == 6
    assert spa.transform(trio_spectrogram).min() >= 0


@ESTIMATORS
def test_inverse_transform_checks_the_number_of_columns(Estimator, separable_X):
    estimator = Estimator(n_components=4).fit(separable_X)
    with pytest.raises(ValueError, match=r"expects activations with 4 columns"):
        estimator.inverse_transform(np.ones((3, 5)))


def test_greedy_refinement_options_differ_and_are_validated(trio_spectrogram):
    X = trio_spectrogram
    fitted = {r: GreedySNPA(4, refinement=r).fit(X) for r in ("none", "once", "full")}
    assert fitted["none"].indices_.tolist() != fitted["full"].indices_.tolist()
    # n_iter_: first-pass picks plus replacements, as the kernel counted them
    assert [fitted[r].n_iter_ for r in ("none", "once", "full")] == [4, 5, 8]
    with pytest.raises(ValueError, match="refinement"):
        GreedySNPA(refinement="twice").fit(X)


def test_librosa_decompose_returns_the_selected_columns(trio_spectrogram):
    """``librosa.decompose.decompose(S, transformer=SNPA(7))``: templates = S[:, J]."""
    S = trio_spectrogram.T
    transformer = SNPA(n_components=7)
    templates, activations = librosa.decompose.decompose(S, transformer=transformer)
    assert templates.shape == (S.shape[0], 7)
    assert activations.shape == (7, S.shape[1])
    np.testing.assert_array_equal(templates, S[:, transformer.indices_])


def test_real_music_matches_the_reference_selection(trio_spectrogram):
    """Audio decoded here (soundfile + librosa.stft) gives the golden's frames."""
    path = golden_path("trio")
    if path is None:
        pytest.skip("golden_trio.npz is absent")
    golden = np.load(path)
    for key, estimator in {
        "r6_snpa_n1_J": SNPA(6),
        "r6_greedy2_n1_J": GreedySNPA(6),
    }.items():
        np.testing.assert_array_equal(
            estimator.fit(trio_spectrogram).indices_, golden[key]
        )


def test_estimators_clone_and_compose_in_a_pipeline(trio_spectrogram):
    pipe = make_pipeline(
        FunctionTransformer(np.sqrt, feature_names_out="one-to-one"), clone(SNPA(3))
    )
    W = pipe.fit_transform(trio_spectrogram)
    assert W.shape == (trio_spectrogram.shape[0], 3)
    assert list(pipe.get_feature_names_out()) == ["snpa0", "snpa1", "snpa2"]


@ESTIMATORS
def test_all_zero_input_gives_no_components_and_no_nan(Estimator):
    X = np.zeros((10, 4))
    with pytest.warns(UserWarning, match="selected only 0 of the n_components=2"):
        estimator = Estimator(2).fit(X)
    assert estimator.n_components_ == 0 and estimator.n_iter_ == 0
    assert estimator.indices_.shape == (0,) and estimator.components_.shape == (0, 4)
    assert estimator.reconstruction_err_ == 0.0
    assert estimator.transform(np.ones((3, 4))).shape == (3, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # n_components=None asked for nothing
        assert Estimator().fit(X).n_components_ == 0
