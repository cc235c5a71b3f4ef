"""scikit-learn's common estimator checks, plus those it does not run itself."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    parametrize_with_checks,
)

from skl_sepnmf import NMF, SNPA, GreedySNPA, SpectrogramSeparator
from skl_sepnmf._separable import SEPARABLE

ESTIMATORS = [
    *(Estimator() for Estimator in SEPARABLE.values()),
    GreedySNPA(refinement="none"),
    # scikit-learn checks its NMF with max_iter=500 (converged enough for
    # fit_transform to equal fit().transform): the same settings here.
    NMF(max_iter=500),
    NMF(init="snpa", max_iter=500),
    NMF(init="greedy", solver="mu", max_iter=2000, tol=1e-6),
    # the checks' X (n_samples, n_features) reads as (n_mixtures, n_times)
    SpectrogramSeparator(SNPA(2), n_fft=16),
    SpectrogramSeparator(GreedySNPA(2), n_fft=16, mask="binary", n_sources=1),
]

# Every expected failure needs a reason; xfail_strict makes a fixed one an error.
_ANY_LENGTH = (
    "the columns of X are time samples: mixtures of any length are accepted, so "
    "the number of 'features' is not fixed at fit"
)
_SOURCES_AS_Y = (
    "score(X, y) needs the reference sources, y of shape (n_mixtures, n_sources, "
    "n_times), and refuses a label vector with a ValueError"
)
EXPECTED_FAILED_CHECKS: dict[type, dict[str, str]] = {
    SpectrogramSeparator: {
        "check_n_features_in": _ANY_LENGTH,
        "check_n_features_in_after_fitting": _ANY_LENGTH,
        "check_transformer_general": _ANY_LENGTH,
        "check_transformer_general(readonly_memmap=True)": _ANY_LENGTH,
        "check_fit_score_takes_y": _SOURCES_AS_Y,
        "check_pipeline_consistency": _SOURCES_AS_Y,
    }
}


def _expected_failures(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=_expected_failures, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# The separator's output is 3-D (mixtures x sources x samples): no feature names,
# no set_output (pandas / polars containers are 2-D).
TABULAR = [e for e in ESTIMATORS if not isinstance(e, SpectrogramSeparator)]


def test_separator_opts_out_of_set_output():
    separator = SpectrogramSeparator()
    assert not hasattr(separator, "set_output")
    assert not hasattr(separator, "get_feature_names_out")


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", TABULAR, ids=repr)
def test_set_output_transform(estimator):
    check_set_output_transform(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", TABULAR, ids=repr)
def test_transformer_get_feature_names_out(estimator):
    check_transformer_get_feature_names_out(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", TABULAR, ids=repr)
def test_dataframe_column_names_consistency(estimator):
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)
