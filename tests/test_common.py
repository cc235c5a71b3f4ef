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

from skl_sepnmf import NMF, SNPA, GreedySNPA

ESTIMATORS = [
    SNPA(),
    GreedySNPA(),
    GreedySNPA(refinement="none"),
    # scikit-learn checks its NMF with max_iter=500 (converged enough for
    # fit_transform to equal fit().transform): the same settings here.
    NMF(max_iter=500),
    NMF(init="snpa", max_iter=500),
    NMF(init="greedy", solver="mu", max_iter=2000, tol=1e-6),
]

# Every expected failure needs a reason; xfail_strict makes a fixed one an error.
EXPECTED_FAILED_CHECKS: dict[type, dict[str, str]] = {}


def _expected_failures(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=_expected_failures, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_set_output_transform(estimator):
    check_set_output_transform(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_transformer_get_feature_names_out(estimator):
    check_transformer_get_feature_names_out(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_dataframe_column_names_consistency(estimator):
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)
