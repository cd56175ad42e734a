"""Checkers for the exercises of notebook 08 (early stopping)."""
from __future__ import annotations

import numpy as np

from ..timeseries import make_windows as reference_windows
from . import Verdict, attempt, report


def check_shrinkage(shrinkage) -> Verdict:
    """Exercise 08.1: ``shrinkage(s, lr, steps, lam)`` → (gradient-descent factor, ridge factor)."""
    s, lr, steps, lam = np.array([0.001, 0.01, 0.1, 1.0]), 0.5, 20, 0.1
    answer, unanswered = attempt(shrinkage, s, lr, steps, lam, name="shrinkage")
    if unanswered is not None:
        return unanswered
    try:
        gd, ridge = (np.asarray(a, dtype=float) for a in answer)
    except (TypeError, ValueError):
        return report(False, f"shrinkage must return a pair (gd, ridge) of arrays; got {answer!r}")
    if gd.shape != s.shape or ridge.shape != s.shape:
        return report(False, f"each factor must have one value per eigenvalue, shape {s.shape}; "
                              f"got {gd.shape} and {ridge.shape}")
    want_gd, want_ridge = 1 - (1 - lr * s) ** steps, s / (s + lam)
    if not np.allclose(gd, want_gd, rtol=1e-6, atol=1e-12):
        if np.allclose(gd, (1 - lr * s) ** steps):
            why = "you returned (1 − ηs)^t, the part of the solution that is *not yet* learned; the factor is 1 minus it."
        elif np.allclose(gd, 1 - (1 - lr * s) ** (steps + 1)) or np.allclose(gd, 1 - (1 - lr * s) ** (steps - 1)):
            why = "the exponent is off by one: after t steps from zero the factor is 1 − (1 − ηs)^t."
        elif np.allclose(gd, 1 - np.exp(-lr * s * steps)):
            why = "1 − exp(−ηst) is the continuous-time approximation; use the exact 1 − (1 − ηs)^t."
        else:
            why = "check the formula 1 − (1 − ηs)^t."
        return report(False, f"the gradient-descent factor for s={s.tolist()}, η={lr}, t={steps} should be "
                              f"{np.round(want_gd, 4).tolist()}; got {np.round(gd, 4).tolist()}: {why}")
    if not np.allclose(ridge, want_ridge, rtol=1e-6, atol=1e-12):
        if np.allclose(ridge, lam / (s + lam)):
            why = "λ/(s + λ) is how much ridge *removes*; the factor it keeps is s/(s + λ)."
        elif np.allclose(ridge, 1 / (s + lam)):
            why = "that is the inverse of (H + λI) alone; multiply by s to get the factor applied to ŵ."
        else:
            why = "check the formula s/(s + λ)."
        return report(False, f"the ridge factor for s={s.tolist()}, λ={lam} should be "
                              f"{np.round(want_ridge, 4).tolist()}; got {np.round(ridge, 4).tolist()}: {why}")
    return report(True, "both factors are right: large eigenvalues are kept (≈ 1), small ones shrunk (≈ 0), "
                        "and they match when λ ≈ 1/(ηt).")


def check_make_windows(make_windows) -> Verdict:
    """Exercise 08.2: ``make_windows(series, window)`` → chronological (inputs, next value) pairs."""
    series, window = np.arange(10.0) * 1.5 + 100, 3
    want_x, want_y = reference_windows(series, window)
    answer, unanswered = attempt(make_windows, series.copy(), window, name="make_windows")
    if unanswered is not None:
        return unanswered
    try:
        x, y = (np.asarray(a, dtype=float) for a in answer)
    except (TypeError, ValueError):
        return report(False, f"make_windows must return a pair (x, y); got {answer!r}")
    if x.shape != want_x.shape or y.shape != want_y.shape:
        hint = ""
        if x.shape[:1] == (len(series) - window + 1,) or y.shape[:1] == (len(series) - window + 1,):
            hint = " The last window has no value after it, so it cannot be a training pair."
        elif x.shape[1:] == (window + 1,):
            hint = " Each input row holds `window` values; the target is not part of it."
        return report(False, f"for a series of {len(series)} values and window {window}, x must have shape "
                              f"{want_x.shape} and y shape {want_y.shape}; got {x.shape} and {y.shape}.{hint}")
    if np.array_equal(x, want_x) and np.array_equal(y, want_y):
        return report(True, "each target is the value right after its window, and the pairs stay in time order.")
    if sorted(map(tuple, np.column_stack([x, y]))) == sorted(map(tuple, np.column_stack([want_x, want_y]))):
        return report(False, "your windows are right but not in time order: never shuffle a series before "
                              "splitting it, or the model trains on the future of its test data.")
    if np.isin(y, x).all() and np.array_equal(y, want_x[:, -1]):
        return report(False, "each target is the last value of its own window: the answer leaks into the "
                              "inputs. The target must be the value *after* the window.")
    return report(False, f"for series {series.tolist()} and window {window}, the first pair should be "
                          f"x[0]={want_x[0].tolist()}, y[0]={want_y[0]}; got x[0]={x[0].tolist()}, y[0]={y[0]}.")
