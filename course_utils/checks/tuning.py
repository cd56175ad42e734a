"""Checkers for the exercises of notebook 10 (hyper-parameter tuning and hold-out validation)."""
from __future__ import annotations

import numpy as np

from ..data import make_sparse_regression
from . import Verdict, attempt, report

LOW, HIGH = 1e-5, 1e-1  # the weight-decay range of exercise 10.1


def check_weight_decay_distribution(make_distribution) -> Verdict:
    """Exercise 10.1: ``make_distribution()`` returns what RandomizedSearchCV should sample weight decay from."""
    distribution, unanswered = attempt(make_distribution, name="make_distribution", shown="make_distribution()")
    if unanswered is not None:
        return unanswered
    if not hasattr(distribution, "rvs"):
        return report(False, f"make_distribution() returned a {type(distribution).__name__}. RandomizedSearchCV "
                              "draws only the listed values from a list; return a continuous distribution "
                              "with an .rvs method, such as one from scipy.stats.")
    try:
        samples = np.asarray(distribution.rvs(size=4000, random_state=0), dtype=float)
    except Exception as exc:  # the learner's object: report, don't crash
        return report(False, f"sampling from it with .rvs(size=4000, random_state=0) raised {type(exc).__name__}: {exc}")
    if samples.shape != (4000,):
        return report(False, f".rvs(size=4000) returned shape {samples.shape}; expected one value per draw (4000,).")
    if samples.min() < LOW * 0.999 or samples.max() > HIGH * 1.001:
        return report(False, f"samples range from {samples.min():.3g} to {samples.max():.3g}; they must stay "
                              f"within [{LOW:g}, {HIGH:g}].")
    per_decade = np.histogram(np.log10(samples), bins=np.arange(-5, 0))[0] / len(samples)
    if per_decade[-1] > 0.6:
        return report(False, f"{per_decade[-1]:.0%} of the samples fall in the top decade [0.01, 0.1]: that is a "
                              "uniform distribution, which almost never tries 1e-5 or 1e-4. Penalty strengths act "
                              "multiplicatively: sample their logarithm uniformly (scipy.stats.loguniform).")
    if np.abs(per_decade - 0.25).max() > 0.04:
        shares = ", ".join(f"{p:.0%}" for p in per_decade)
        return report(False, f"the four decades from 1e-5 to 1e-1 get {shares} of the samples; a log-uniform "
                              "distribution gives each about 25 %.")
    return report(True, "each decade from 1e-5 to 1e-1 gets about a quarter of the trials.")


def _regression_problem():
    x, y, _ = make_sparse_regression(80, 20, 5, noise=1.0, seed=3)
    return x, y, {"alpha": [0.01, 1.0, 10.0, 100.0]}


def check_nested_score(nested_score) -> Verdict:
    """Exercise 10.2: ``nested_score(estimator, param_grid, x, y)``: 3-fold inner search, 5-fold outer mean."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, cross_val_score

    x, y, grid = _regression_problem()
    expected = cross_val_score(GridSearchCV(Ridge(), grid, cv=3), x, y, cv=5).mean()
    answer, unanswered = attempt(nested_score, Ridge(), grid, x, y, name="nested_score")
    if unanswered is not None:
        return unanswered
    if np.ndim(answer) != 0:
        return report(False, f"nested_score returned shape {np.shape(answer)}; return the mean of the outer "
                              "scores, one number.")
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return report(False, f"nested_score returned {type(answer).__name__}; return the mean of the outer "
                              "scores, one number.")
    if np.isclose(answer, expected, rtol=0, atol=1e-9):
        return report(True, f"the nested estimate {answer:.3f} scores the whole tuning procedure on data it never saw.")
    not_nested = np.isclose(answer, GridSearchCV(Ridge(), grid, cv=3).fit(x, y).best_score_, atol=1e-9)
    swapped = np.isclose(answer, cross_val_score(GridSearchCV(Ridge(), grid, cv=5), x, y, cv=3).mean(), atol=1e-9)
    if not_nested and swapped:  # on this problem both mistakes give the same number
        return report(False, f"{answer:.3f} is what one GridSearchCV reports as best_score_, and also what you get "
                             "with the inner and outer folds swapped: either way the same folds chose alpha and "
                             "scored it, so it is optimistic. Put GridSearchCV(cv=3) inside cross_val_score(cv=5).")
    if not_nested:
        return report(False, f"{answer:.3f} is best_score_ of one GridSearchCV: the same folds chose alpha and "
                             "scored it, so it is optimistic. Put the GridSearchCV inside cross_val_score.")
    if swapped:
        return report(False, "inner and outer folds are swapped: the search inside uses cv=3, the outer "
                             "cross_val_score cv=5.")
    return report(False, f"nested_score returned {answer:.4f}; expected {expected:.4f}, the mean of "
                          "cross_val_score(GridSearchCV(estimator, param_grid, cv=3), x, y, cv=5).")
