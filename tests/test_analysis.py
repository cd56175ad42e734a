"""The bias-variance decomposition: exact cases, the identity with the measured error, and input checks."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from course_utils.analysis import BiasVariance, bias_variance


def line(x):
    return 2.0 * np.asarray(x, dtype=float) - 1.0


def uniform(n, rng):
    return rng.uniform(0.0, 1.0, n)


X_TEST = np.linspace(0.0, 1.0, 25)


class Constant:
    """Predicts a fixed value whatever the data: zero variance, known bias."""

    def __init__(self, value=0.0):
        self.value = value

    def fit(self, x, y):
        return self

    def predict(self, x):
        return np.full(len(x), self.value)


class TrainingMean:
    def fit(self, x, y):
        self.mean_ = y.mean()
        return self

    def predict(self, x):
        return np.full(len(x), self.mean_)


def test_constant_model_has_no_variance_and_exact_bias():
    result = bias_variance(lambda: Constant(0.5), line, uniform, noise=0.3, n_train=10, x_test=X_TEST, n_datasets=5)
    assert result.variance == 0.0
    assert result.bias2 == pytest.approx(np.mean((0.5 - line(X_TEST)) ** 2))
    assert result.noise == pytest.approx(0.09)
    assert result.total == pytest.approx(result.bias2 + result.variance + result.noise)
    assert result.predictions.shape == (5, len(X_TEST))


def test_correct_model_without_noise_has_zero_error():
    result = bias_variance(LinearRegression(), line, uniform, noise=0.0, n_train=10, x_test=X_TEST, n_datasets=4)
    assert result.bias2 < 1e-20 and result.variance < 1e-20 and result.expected_error < 1e-20


def test_noise_is_not_folded_into_bias():
    """A correctly specified model has ~zero bias whatever the label noise: σ² goes to its own term."""
    result = bias_variance(LinearRegression(), line, uniform, noise=1.0, n_train=50, x_test=X_TEST, n_datasets=400)
    assert result.bias2 < 0.01
    assert result.noise == 1.0
    assert result.expected_error == pytest.approx(1.0 + result.variance, abs=5 * result.standard_error)


def test_training_mean_variance_matches_theory():
    """The mean of n noisy labels of a constant function has variance σ²/n and no bias."""
    result = bias_variance(TrainingMean, lambda x: np.full(len(x), 3.0), uniform, noise=2.0, n_train=8,
                           x_test=X_TEST, n_datasets=4000, seed=1)
    assert result.variance == pytest.approx(4.0 / 8, rel=0.08)
    assert result.bias2 < 0.01


@pytest.mark.parametrize("model", [DecisionTreeRegressor(max_depth=3, random_state=0), LinearRegression()])
def test_decomposition_matches_measured_error(model):
    result = bias_variance(model, np.sin, uniform, noise=0.3, n_train=20, x_test=X_TEST, n_datasets=300, seed=2)
    assert abs(result.total - result.expected_error) < 3 * result.standard_error


def test_estimator_is_cloned_not_refitted_in_place():
    model = LinearRegression()
    bias_variance(model, line, uniform, noise=0.1, n_train=5, x_test=X_TEST, n_datasets=3)
    assert not hasattr(model, "coef_")


def test_two_dimensional_inputs_and_reproducibility():
    beta = np.array([1.0, -2.0, 0.5])

    def f(x):
        return x @ beta

    def gaussian(n, rng):
        return rng.standard_normal((n, 3))

    x_test = np.random.default_rng(0).standard_normal((40, 3))
    a = bias_variance(LinearRegression(), f, gaussian, noise=0.5, n_train=20, x_test=x_test, n_datasets=20, seed=3)
    b = bias_variance(LinearRegression(), f, gaussian, noise=0.5, n_train=20, x_test=x_test, n_datasets=20, seed=3)
    c = bias_variance(LinearRegression(), f, gaussian, noise=0.5, n_train=20, x_test=x_test, n_datasets=20, seed=4)
    assert isinstance(a, BiasVariance)
    assert a.as_dict() == b.as_dict()
    assert a.as_dict() != c.as_dict()
    assert set(a.as_dict()) == {"bias2", "variance", "noise", "total", "expected_error", "standard_error"}


@pytest.mark.parametrize("kwargs, match", [
    ({"noise": -0.1}, "noise must be"),
    ({"n_train": 0}, "n_train must be"),
    ({"n_datasets": 1}, "n_datasets must be"),
    ({"seed": -1}, "seed must be"),
    ({"x_test": np.array([np.nan, 1.0])}, "x_test contains"),
    ({"x_test": np.ones((2, 2, 2))}, "x_test must be"),
])
def test_rejects_bad_arguments(kwargs, match):
    arguments = dict(noise=0.1, n_train=5, x_test=X_TEST, n_datasets=3, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        bias_variance(LinearRegression(), line, uniform, **arguments)


def test_rejects_bad_callables():
    with pytest.raises(TypeError, match="model must be"):
        bias_variance(42, line, uniform, noise=0.1, n_train=5, x_test=X_TEST)
    with pytest.raises(TypeError, match="factory must return"):
        bias_variance(lambda: 42, line, uniform, noise=0.1, n_train=5, x_test=X_TEST)
    with pytest.raises(TypeError, match="callables"):
        bias_variance(LinearRegression(), "f", uniform, noise=0.1, n_train=5, x_test=X_TEST)
    with pytest.raises(ValueError, match="one value per input"):
        bias_variance(LinearRegression(), lambda x: np.zeros(3), uniform, noise=0.1, n_train=5, x_test=X_TEST)
    with pytest.raises(ValueError, match="must return n = 5"):
        bias_variance(LinearRegression(), line, lambda n, rng: rng.uniform(size=n + 1), noise=0.1, n_train=5,
                      x_test=X_TEST)
