"""The checkers of notebook 02 accept answers that agree with theory: a closed form and a Monte Carlo of scikit-learn.

The exercise catalogue shows that each checker accepts these answers and only answers within rounding of its
own reference; here the same answers are held against truths computed another way.
"""
from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge

from course_utils.checks.bias_variance import check_ridge_prediction_variance, check_simulate
from exercise_catalogue.nb02_bias_variance import ridge_prediction_variance, simulate


def test_an_accepted_simulation_agrees_with_the_mean_predictors_closed_form(capsys):
    # The mean predictor on n fixed inputs: variance σ²/n, noise σ², bias² from f alone.
    rng = np.random.default_rng(17)
    n, sigma = 20, 0.5
    x = rng.uniform(0, 1, (n, 1))
    x_test = np.linspace(0, 1, 9)[:, None]
    f_test = 2.0 * x_test[:, 0] - 0.5
    bias2 = np.mean((np.mean(2.0 * x[:, 0] - 0.5) - f_test) ** 2)

    def draw(d):
        r = np.random.default_rng(1000 + d)
        return x, 2.0 * x[:, 0] - 0.5 + sigma * r.standard_normal(n), f_test + sigma * r.standard_normal(len(f_test))

    assert check_simulate(simulate).passed is True, capsys.readouterr().out
    terms = simulate(DummyRegressor, draw, x_test, f_test, n_datasets=3000)
    assert np.isclose(terms[1], sigma ** 2 / n, rtol=0.1)
    assert np.isclose(terms[2], sigma ** 2, rtol=0.05)
    assert np.isclose(terms[0], bias2, rtol=0.05, atol=sigma ** 2 / n / 100)


def test_an_accepted_ridge_variance_matches_the_spread_of_sklearn_fits(capsys):
    rng = np.random.default_rng(0)
    X, x_test, noise, alpha = rng.normal(size=(20, 4)), rng.normal(size=(3, 4)), 0.5, 2.0
    f = X @ rng.normal(size=4)
    predictions = np.array([Ridge(alpha, fit_intercept=False).fit(X, f + noise * rng.standard_normal(20))
                            .predict(x_test) for _ in range(4000)])
    assert check_ridge_prediction_variance(ridge_prediction_variance).passed is True, capsys.readouterr().out
    assert np.allclose(predictions.var(axis=0), ridge_prediction_variance(X, x_test, noise, alpha), rtol=0.1)
