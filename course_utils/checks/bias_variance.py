"""Checkers for the exercises of notebook 02 (bias, variance and double descent)."""
from __future__ import annotations

import numpy as np

from . import Verdict, attempt, report


def check_decompose(decompose) -> Verdict:
    """Exercise 02.1: ``decompose(predictions, f_test)`` → ``(bias2, variance)``.

    ``predictions`` is (n_datasets, n_test): row d holds the predictions of the
    model fitted to training set d; ``f_test`` holds the true function at the test inputs.
    """
    rng = np.random.default_rng(5)
    f_test = np.sin(np.linspace(0, 3, 7))
    predictions = f_test + 0.3 + rng.normal(0, [[0.1, 0.2, 0.5, 0.1, 0.3, 0.2, 0.4]], (6, 7))
    average = predictions.mean(axis=0)
    bias2, variance = np.mean((average - f_test) ** 2), np.mean(predictions.var(axis=0))
    answer, unanswered = attempt(decompose, predictions.copy(), f_test.copy(), name="decompose")
    if unanswered is not None:
        return unanswered
    try:
        got_bias2, got_variance = (float(v) for v in answer)
    except (TypeError, ValueError):
        return report(False, f"decompose must return two numbers (bias2, variance); got {answer!r}")
    bias_ok, var_ok = np.isclose(got_bias2, bias2), np.isclose(got_variance, variance)
    if bias_ok and var_ok:
        return report(True, f"bias² = {bias2:.4f} and variance = {variance:.4f}; together they are the mean "
                            "squared distance of the predictions from the truth.")
    if np.isclose(got_variance, np.mean(predictions.var(axis=0, ddof=1))) and bias_ok:
        return report(False, "your variance divides by n − 1. Here the spread of these exact predictions is "
                              "wanted (ddof=0), so that bias² + variance equals the mean squared error exactly.")
    if np.isclose(got_variance, np.mean(predictions.var(axis=1))) or np.isclose(got_bias2, np.mean((predictions.mean(axis=1) - f_test.mean()) ** 2)):
        return report(False, "you averaged over the wrong axis: the average prediction is taken over training "
                              "sets (axis 0), separately at every test input.")
    if np.isclose(got_bias2, np.mean((predictions - f_test) ** 2)):
        return report(False, "your bias² is the mean squared error of all predictions, which is bias² + variance. "
                              "Square the error of the *average* prediction instead.")
    if np.isclose(got_bias2, np.mean(average - f_test)) or np.isclose(got_bias2, np.mean(np.abs(average - f_test))):
        return report(False, "bias² is the mean of the *squared* differences (average prediction − truth)².")
    if np.isclose(got_bias2, np.mean(average - f_test) ** 2):
        return report(False, "square the difference at every test input first, then average over inputs; "
                              "squaring the averaged difference lets errors of opposite sign cancel.")
    wrong = "bias²" if not bias_ok else "variance"
    return report(False, f"your {wrong} is {got_bias2 if not bias_ok else got_variance:.4g}; expected "
                          f"{bias2 if not bias_ok else variance:.4g}.")
