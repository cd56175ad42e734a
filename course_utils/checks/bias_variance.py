"""Checkers for the exercises of notebook 02 (bias, variance and double descent)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from . import Verdict, attempt, report

__all__ = ["check_decompose", "check_ridge_prediction_variance", "check_simulate"]


def _numbers(answer, count: int) -> list[float] | None:
    """``answer`` as ``count`` floats, or None when it is not that many numbers."""
    try:
        values = [float(v) for v in answer]
    except (TypeError, ValueError):
        return None
    return values if len(values) == count else None


def _changed(before, after) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after))


def _decompose(predictions, f_test):
    average = predictions.mean(axis=0)
    return np.mean((average - f_test) ** 2), np.mean(predictions.var(axis=0))


def check_decompose(decompose: Callable[..., Any]) -> Verdict:
    """Exercise 02.1: ``decompose(predictions, f_test)`` → ``(bias2, variance)``.

    ``predictions`` is (n_datasets, n_test): row d holds the predictions of the
    model fitted to training set d; ``f_test`` holds the true function at the test inputs.
    """
    rng = np.random.default_rng(5)
    for n_datasets, n_test in [(6, 7), (25, 40), (3, 120)]:
        f_test = np.sin(np.linspace(0, 3, n_test))
        spread = rng.uniform(0.05, 0.5, n_test)  # a different spread at every input, so axes cannot be swapped
        predictions = f_test + rng.normal(0.3, 0.2) + rng.normal(0, spread, (n_datasets, n_test))
        given = predictions.copy(), f_test.copy()
        answer, unanswered = attempt(decompose, *given, name="decompose")
        if unanswered is not None:
            return unanswered
        if _changed([predictions, f_test], given):
            return report(False, "decompose changed its input arrays in place (e.g. errors = predictions; "
                                 "errors -= f_test makes errors the same array as predictions). Compute new "
                                 "arrays: predictions - f_test.")
        if (numbers := _numbers(answer, 2)) is None:
            return report(False, f"decompose must return two numbers (bias2, variance); got "
                                 f"{type(answer).__name__} {answer!r}")
        (got_bias2, got_variance), (bias2, variance) = numbers, _decompose(predictions, f_test)
        bias_ok, var_ok = np.isclose(got_bias2, bias2), np.isclose(got_variance, variance)
        if bias_ok and var_ok:
            continue
        average = predictions.mean(axis=0)
        if bias_ok and np.isclose(got_variance, np.mean(predictions.var(axis=0, ddof=1))):
            return report(False, "your variance divides by n − 1. Here the spread of these exact predictions is "
                                 "wanted (ddof=0), so that bias² + variance equals the mean squared error exactly.")
        if (np.isclose(got_variance, np.mean(predictions.var(axis=1)))
                or np.isclose(got_bias2, np.mean((predictions.mean(axis=1) - f_test.mean()) ** 2))):
            return report(False, "you averaged over the wrong axis: the average prediction is taken over training "
                                 "sets (axis 0), separately at every test input.")
        if np.isclose(got_bias2, np.mean((predictions - f_test) ** 2)):
            return report(False, "your bias² is the mean squared error of all predictions, which is bias² + "
                                 "variance. Square the error of the *average* prediction instead.")
        if np.isclose(got_bias2, np.mean(average - f_test)) or np.isclose(got_bias2, np.mean(np.abs(average - f_test))):
            return report(False, "bias² is the mean of the *squared* differences (average prediction − truth)².")
        if np.isclose(got_bias2, np.mean(average - f_test) ** 2):
            return report(False, "square the difference at every test input first, then average over inputs; "
                                 "squaring the averaged difference lets errors of opposite sign cancel.")
        wrong, got, want = ("bias²", got_bias2, bias2) if not bias_ok else ("variance", got_variance, variance)
        return report(False, f"for {n_datasets} training sets and {n_test} test inputs your {wrong} is {got:.4g}; "
                             f"expected {want:.4g}.")
    return report(True, "On three prediction tables your bias² and variance add up to the mean squared distance "
                        "of the predictions from the truth.")


class _MeanPredictor:
    """Predicts the mean training label everywhere: bias² and variance are known in closed form."""

    def fit(self, x, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, x):
        return np.full(len(x), self.mean_)


def _simulation_cases():
    """(description, model factory, draw(d), x_test, f_test, n_datasets, known terms or None)."""
    rng = np.random.default_rng(17)
    cases = []
    # 1. The mean predictor with fixed training inputs: variance σ²/n, noise σ², bias² from f alone.
    n, sigma = 20, 0.5
    x_fixed = rng.uniform(0, 1, (n, 1))
    x_test = np.linspace(0, 1, 9)[:, None]
    line = lambda x: 2.0 * x[:, 0] - 0.5  # noqa: E731
    f_test = line(x_test)
    known = (float(np.mean((line(x_fixed).mean() - f_test) ** 2)), sigma ** 2 / n, sigma ** 2)

    def draw_mean(d, x=x_fixed, sigma=sigma, f=line, f_test=f_test):
        r = np.random.default_rng(1000 + d)
        return x, f(x) + sigma * r.standard_normal(len(x)), f_test + sigma * r.standard_normal(len(f_test))
    cases.append(("the mean predictor", _MeanPredictor, draw_mean, x_test, f_test, 400, known))  # cheap: many draws
    # 2. Linear regression on a linear truth with random inputs in 3 dimensions: unbiased.
    beta = rng.normal(size=3)
    x_test = rng.normal(size=(12, 3))

    def draw_linear(d, beta=beta, x_test=x_test):
        r = np.random.default_rng(2000 + d)
        x = r.normal(size=(15, 3))
        return x, x @ beta + 0.3 * r.standard_normal(15), x_test @ beta + 0.3 * r.standard_normal(len(x_test))
    cases.append(("linear regression", LinearRegression, draw_linear, x_test, x_test @ beta, 25, None))
    # 3. Shallow trees and ridge on a sine: biased, with noise 0.2.
    x_test = np.linspace(0, 1, 25)[:, None]
    wave = lambda x: np.sin(2 * np.pi * x[:, 0])  # noqa: E731

    def draw_sine(d, x_test=x_test, f=wave):
        r = np.random.default_rng(3000 + d)
        x = r.uniform(0, 1, (30, 1))
        return x, f(x) + 0.2 * r.standard_normal(30), f(x_test) + 0.2 * r.standard_normal(len(x_test))
    cases.append(("a depth-2 tree", lambda: DecisionTreeRegressor(max_depth=2, random_state=0), draw_sine,
                  x_test, wave(x_test), 20, None))
    cases.append(("ridge", lambda: Ridge(alpha=3.0), draw_sine, x_test, wave(x_test), 20, None))
    return cases


def _simulate(make_model, draw, x_test, f_test, n_datasets) -> dict[str, float]:
    """The three terms, and the numbers the usual mistakes compute instead."""
    predictions, labels = [], []
    for d in range(n_datasets):
        x, y, y_test = draw(d)
        predictions.append(make_model().fit(x, y).predict(x_test))
        labels.append(y_test)
    predictions, labels = np.array(predictions), np.array(labels)
    average = predictions.mean(axis=0)
    return {"bias2": np.mean((average - f_test) ** 2), "variance": np.mean(predictions.var(axis=0)),
            "noise": np.mean((labels - f_test) ** 2),
            "bias2 against labels": np.mean((average - labels) ** 2),
            "bias2 as mean squared error": np.mean((predictions - f_test) ** 2),
            "variance ddof=1": np.mean(predictions.var(axis=0, ddof=1)),
            "noise as spread of labels": np.mean(labels.var(axis=1))}


SIMULATION_MISTAKES = {
    "bias2 against labels": "your bias² contains the noise: it compares the average prediction with noisy test "
                            "labels. Bias is measured against the true function, f_test.",
    "bias2 as mean squared error": "your bias² is the mean squared error of all predictions, bias² + variance. "
                                   "Square the error of the *average* prediction over the draws instead.",
    "variance ddof=1": "your variance divides by n_datasets − 1; use the spread of these exact predictions "
                       "(ddof=0), as in Exercise 2.1, so that the terms add up exactly.",
    "noise as spread of labels": "your noise is the spread of each draw's labels around their own mean, which "
                                 "also holds how f varies over x. Noise is the spread around the truth: "
                                 "y_test − f_test.",
}


def check_simulate(simulate: Callable[..., Any]) -> Verdict:
    """Exercise 02.2: ``simulate(make_model, draw, x_test, f_test, n_datasets)`` → ``(bias2, variance, noise)``."""
    known_line = ""
    for name, make_model, draw, x_test, f_test, n_datasets, known in _simulation_cases():
        given = x_test.copy(), f_test.copy()
        answer, unanswered = attempt(simulate, make_model, draw, *given, n_datasets, name="simulate",
                                     shown=f"simulate with {name}")
        if unanswered is not None:
            return unanswered
        if _changed([x_test, f_test], given):
            return report(False, "simulate changed x_test or f_test in place (e.g. gap = f_test; gap -= average "
                                 "makes gap the same array as f_test). Compute new arrays instead.")
        if (numbers := _numbers(answer, 3)) is None:
            return report(False, f"simulate must return three numbers (bias2, variance, noise); got "
                                 f"{type(answer).__name__} {answer!r}")
        expected = _simulate(make_model, draw, x_test, f_test, n_datasets)
        got = dict(zip(("bias2", "variance", "noise"), numbers))
        if all(np.isclose(got[t], expected[t], rtol=1e-7, atol=1e-12) for t in got):
            if known is not None:
                known_line = (f" For the mean predictor theory says variance σ²/n = {known[1]:.4f} and noise "
                              f"σ² = {known[2]:.3f}; your simulation gave {got['variance']:.4f} and "
                              f"{got['noise']:.3f} from {n_datasets} draws (a Monte-Carlo error of about "
                              f"{np.sqrt(2 / (n_datasets - 1)):.0%} on a variance).")
            continue
        if got["variance"] == 0 or np.isclose(got["variance"], 0.0, atol=1e-12):
            return report(False, f"with {name} your variance is 0: every draw gave the same predictions. Call "
                                 "draw(d) for d = 0, 1, …, n_datasets − 1 and fit a fresh make_model() to each "
                                 "draw's own training set.")
        for term in ("bias2", "variance", "noise"):
            if np.isclose(got[term], expected[term], rtol=1e-7, atol=1e-12):
                continue
            for mistake, message in SIMULATION_MISTAKES.items():
                if mistake.startswith(term) and np.isclose(got[term], expected[mistake], rtol=1e-7):
                    return report(False, f"with {name}: {message}")
            return report(False, f"with {name} your {term} is {got[term]:.4g}; an independent simulation over "
                                 f"the same {n_datasets} draws gives {expected[term]:.4g}.")
    return report(True, "Your three terms match an independent simulation over the same draws for four "
                        f"models.{known_line}")


def _prediction_variance(X, x_test, noise, alpha, mistake=None):
    """Var[x_test·w] of ridge fitted to y = f(X) + N(0, noise²), and what the usual mistakes compute instead."""
    gram = X.T @ X + (0.0 if mistake == "no alpha" else alpha) * np.eye(X.shape[1])
    scale = noise if mistake == "sigma" else noise ** 2
    if mistake == "least-squares covariance":
        return scale * np.einsum("ij,ij->i", x_test @ np.linalg.inv(gram), x_test)
    smoother = X @ np.linalg.solve(gram, x_test.T)  # column i: weights of y in the prediction at x_test[i]
    return scale * (smoother ** 2).sum(axis=0)


VARIANCE_MISTAKES = {
    "least-squares covariance": "σ²(XᵀX + αI)⁻¹ is not ridge's covariance: the weights are a linear function "
                                "of y, w = A y, so their covariance is σ²·A·Aᵀ; only with α = 0 does that reduce "
                                "to σ²(XᵀX)⁻¹.",
    "sigma": "noise is the standard deviation σ of the labels; a variance scales with σ², not σ.",
    "no alpha": "your variance does not depend on alpha: the penalty enters the matrix you invert.",
}


def check_ridge_prediction_variance(ridge_prediction_variance: Callable[..., Any]) -> Verdict:
    """Exercise 02.3: ``ridge_prediction_variance(X, x_test, noise, alpha)``, one variance per test input."""
    rng = np.random.default_rng(23)
    for n, p, m, noise, alpha in [(30, 5, 7, 0.3, 1.0), (12, 8, 4, 1.5, 0.5), (50, 3, 10, 0.2, 10.0),
                                  (10, 15, 5, 0.7, 0.3)]:
        X, x_test = rng.normal(size=(n, p)), rng.normal(size=(m, p))
        given = X.copy(), x_test.copy()
        answer, unanswered = attempt(ridge_prediction_variance, *given, noise, alpha,
                                     name="ridge_prediction_variance",
                                     shown=f"ridge_prediction_variance(X of shape {X.shape}, x_test, {noise}, {alpha})")
        if unanswered is not None:
            return unanswered
        if _changed([X, x_test], given):
            return report(False, "ridge_prediction_variance changed X or x_test in place (e.g. X -= X.mean(0)); "
                                 "the caller's design must stay as it was. The model here has no intercept: "
                                 "use X as it is.")
        if isinstance(answer, (float, int, np.floating, np.integer)) or not hasattr(answer, "__len__"):
            return report(False, f"ridge_prediction_variance returned {type(answer).__name__}; return a NumPy "
                                 f"array with one variance per test input (shape ({m},)).")
        try:
            answer = np.asarray(answer, dtype=float)
        except (TypeError, ValueError):
            return report(False, f"ridge_prediction_variance returned {type(answer).__name__}; return a NumPy "
                                 "array of numbers.")
        expected = _prediction_variance(X, x_test, noise, alpha)
        if answer.shape == (m, m) and np.allclose(np.diag(answer), expected):
            return report(False, f"you returned the {m} × {m} covariance matrix of all predictions; the variance "
                                 "of each prediction is its diagonal. Return shape ({m},).")
        if answer.shape != (m,):
            return report(False, f"ridge_prediction_variance returned shape {answer.shape}; expected one variance "
                                 f"per test input, shape ({m},).")
        if np.allclose(answer, expected, rtol=1e-8, atol=1e-12):
            continue
        for mistake, message in VARIANCE_MISTAKES.items():
            try:
                variant = _prediction_variance(X, x_test, noise, alpha, mistake)
            except np.linalg.LinAlgError:  # without alpha, more features than samples leave XᵀX singular
                continue
            if np.allclose(answer, variant, rtol=1e-8):
                return report(False, message)
        worst = int(np.argmax(np.abs(answer - expected)))
        return report(False, f"for X of shape {X.shape}, noise {noise} and alpha {alpha}, the variance at test "
                             f"input {worst} should be {expected[worst]:.4g}; you return {answer[worst]:.4g}.")
    return report(True, "Your variances match an independent computation on four designs, one of them with more "
                        "features than samples.")
