"""The references the checkers of notebook 02 compare against, tested against closed forms and Monte Carlo."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge

from course_utils.checks.bias_variance import _prediction_variance, _simulate, _simulation_cases


def test_the_mean_predictor_simulation_agrees_with_its_closed_form():
    name, make_model, draw, x_test, f_test, _, (bias2, variance, noise) = _simulation_cases()[0]
    terms = _simulate(make_model, draw, x_test, f_test, n_datasets=3000)
    assert name == "the mean predictor"
    assert np.isclose(terms["variance"], variance, rtol=0.1)
    assert np.isclose(terms["noise"], noise, rtol=0.05)
    assert np.isclose(terms["bias2"], bias2, rtol=0.05, atol=variance / 100)


def test_ridge_prediction_variance_matches_the_spread_of_sklearn_fits():
    rng = np.random.default_rng(0)
    X, x_test, noise, alpha = rng.normal(size=(20, 4)), rng.normal(size=(3, 4)), 0.5, 2.0
    f = X @ rng.normal(size=4)
    predictions = np.array([Ridge(alpha, fit_intercept=False).fit(X, f + noise * rng.standard_normal(20))
                            .predict(x_test) for _ in range(4000)])
    assert np.allclose(predictions.var(axis=0), _prediction_variance(X, x_test, noise, alpha), rtol=0.1)
