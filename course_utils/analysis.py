"""Measurements of a learning method, not of one fitted model: the bias-variance decomposition.

``bias_variance`` simulates the thought experiment behind the decomposition:
draw many training sets from a known function, fit a fresh model to each, and
look at the spread of the predictions at fixed test inputs. Every term is
measured against the **true function**, so the irreducible noise is its own
term and never hides inside the bias.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .data import draw_rng
from .validation import check_array, check_nonnegative, check_positive_int

__all__ = ["BiasVariance", "bias_variance"]


@dataclass(frozen=True)
class BiasVariance:
    """The terms of the squared-error decomposition, averaged over the test inputs.

    ``expected_error`` is measured directly, on fresh noisy test labels, so
    ``bias2 + variance + noise`` can be compared with it; ``standard_error`` is
    the Monte-Carlo standard error of that measurement.
    """

    bias2: float            # mean over x of (average prediction − f(x))²
    variance: float         # mean over x of the variance of the prediction across training sets
    noise: float            # σ², the error even the true function makes on noisy labels
    expected_error: float   # measured mean squared error on fresh noisy test labels
    standard_error: float   # Monte-Carlo standard error of expected_error
    n_datasets: int
    predictions: np.ndarray = field(repr=False)  # (n_datasets, n_test): each training set's predictions

    @property
    def total(self) -> float:
        """bias² + variance + noise: what the decomposition says the expected error is."""
        return self.bias2 + self.variance + self.noise

    def as_dict(self) -> dict[str, float]:
        return {"bias2": self.bias2, "variance": self.variance, "noise": self.noise, "total": self.total,
                "expected_error": self.expected_error, "standard_error": self.standard_error}


def _as_features(x: np.ndarray) -> np.ndarray:
    """Estimators take 2-D inputs; a 1-D x is one feature."""
    return x[:, None] if x.ndim == 1 else x


def _fresh_model(model):
    """A new, unfitted model: ``sklearn.base.clone`` of an estimator, or a call of a factory (or class)."""
    if not isinstance(model, type) and hasattr(model, "fit") and hasattr(model, "predict"):
        from sklearn.base import clone
        return clone(model)
    made = model()
    if not (hasattr(made, "fit") and hasattr(made, "predict")):
        raise TypeError(f"the model factory must return an object with fit and predict; got {type(made).__name__}")
    return made


def bias_variance(model: Any, true_function: Callable[[np.ndarray], np.ndarray],
                  sample_inputs: Callable[[int, np.random.Generator], np.ndarray], *, noise: float,
                  n_train: int, x_test: npt.ArrayLike, n_datasets: int = 200, seed: int = 0) -> BiasVariance:
    """Decompose the expected squared test error of a learning method into bias², variance and noise.

    Parameters
    ----------
    model : estimator or callable
        A scikit-learn-style estimator (with ``fit``/``predict``; it is cloned
        for every training set), or a factory called with no arguments that
        returns a fresh one.
    true_function : callable
        ``f(x)``, the noiseless target, returning one value per row of ``x``.
    sample_inputs : callable
        ``sample_inputs(n, rng)`` draws ``n`` training inputs (1-D or 2-D array).
    noise : float
        Standard deviation σ of the Gaussian label noise: ``y = f(x) + N(0, σ²)``.
    n_train : int
        Training-set size.
    x_test : array-like of shape (n_test,) or (n_test, n_features)
        Fixed test inputs; each term is averaged over them.
    n_datasets : int
        Number of independent training sets (at least 2).
    seed : int
        Seed of the simulation.

    Notes
    -----
    With few training sets the estimated average prediction is itself noisy,
    so ``bias2`` is overestimated by about ``variance / n_datasets`` and
    ``variance`` underestimated by the same amount; their sum is unbiased.

    Returns
    -------
    BiasVariance
        ``bias2``, ``variance``, ``noise`` = σ² and the directly measured
        ``expected_error`` with its Monte-Carlo ``standard_error``.
    """
    if not callable(true_function) or not callable(sample_inputs):
        raise TypeError("true_function and sample_inputs must be callables")
    if not (callable(model) or (hasattr(model, "fit") and hasattr(model, "predict"))):
        raise TypeError(f"model must be an estimator with fit/predict or a factory; got {type(model).__name__}")
    sigma = check_nonnegative(noise, "noise")
    n_train = check_positive_int(n_train, "n_train")
    n_datasets = check_positive_int(n_datasets, "n_datasets", minimum=2)
    check_positive_int(seed, "seed", minimum=0)
    x_test = check_array(x_test, "x_test", ndim=(1, 2))
    f_test = check_array(true_function(x_test), "true_function(x_test)", ndim=1)
    if len(f_test) != len(x_test):
        raise ValueError(f"true_function must return one value per input: {len(f_test)} for {len(x_test)} inputs")

    rng = draw_rng(seed)
    predictions = np.empty((n_datasets, len(x_test)))
    test_errors = np.empty(n_datasets)  # each training set's error on its own fresh noisy test labels
    for d in range(n_datasets):
        x = check_array(sample_inputs(n_train, rng), "sample_inputs(n, rng)", ndim=(1, 2))
        if len(x) != n_train:
            raise ValueError(f"sample_inputs(n, rng) must return n = {n_train} inputs; got {len(x)}")
        y = true_function(x) + sigma * rng.standard_normal(n_train)
        fitted = _fresh_model(model).fit(_as_features(x), y)
        predictions[d] = np.asarray(fitted.predict(_as_features(x_test)), dtype=float).reshape(-1)
        y_test = f_test + sigma * rng.standard_normal(len(x_test))
        test_errors[d] = np.mean((predictions[d] - y_test) ** 2)

    average = predictions.mean(axis=0)
    return BiasVariance(bias2=float(np.mean((average - f_test) ** 2)),
                        variance=float(np.mean(predictions.var(axis=0))),
                        noise=sigma ** 2,
                        expected_error=float(test_errors.mean()),
                        standard_error=float(test_errors.std(ddof=1) / np.sqrt(n_datasets)),
                        n_datasets=n_datasets, predictions=predictions)
