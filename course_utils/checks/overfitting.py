"""Checkers for the exercises of notebook 01 (overfitting and underfitting)."""
from __future__ import annotations

import numpy as np

from ..data import make_noisy_sine
from . import Verdict, attempt, report


def check_diagnose(diagnose) -> Verdict:
    """Exercise 01.1: ``diagnose(train_error, val_error, target_error, max_gap)``."""
    cases = [  # (train, val, target, max_gap) -> expected, and what a wrong answer reveals
        ((0.30, 0.32, 0.10, 0.05), "underfitting", "training error 0.30 is above the target 0.10: the model cannot even fit its training data."),
        ((0.02, 0.25, 0.10, 0.05), "overfitting", "training error meets the target, but validation is 0.23 worse than training."),
        ((0.06, 0.08, 0.10, 0.05), "good fit", "training error meets the target and the gap (0.02) is within max_gap."),
        ((0.30, 0.60, 0.10, 0.05), "underfitting", "both are bad, and underfitting comes first: more regularization would not fix a model that cannot fit."),
        ((0.09, 0.12, 0.10, 0.05), "good fit", "validation error 0.12 above the target is fine here: only the gap (0.03) decides overfitting."),
    ]
    for args, expected, why in cases:
        answer, unanswered = attempt(diagnose, *args, name="diagnose", shown=f"diagnose{args}")
        if unanswered is not None:
            return unanswered
        if not (isinstance(answer, str) and answer == expected):
            return report(False, f"diagnose(train_error={args[0]}, val_error={args[1]}, target_error={args[2]}, "
                                  f"max_gap={args[3]}) returned {answer!r}; expected {expected!r}: {why}")
    return report(True, "You diagnose underfitting from the training error and overfitting from the gap.")


def check_select_degree(select_degree) -> Verdict:
    """Exercise 01.2: ``select_degree(x_train, y_train, x_val, y_val, degrees)`` picks by validation error."""
    x_train, y_train = make_noisy_sine(20, noise=0.25, seed=11)
    x_val, y_val = make_noisy_sine(200, noise=0.25, seed=12)
    degrees = list(range(0, 13))

    def errors(x, y):
        return np.array([np.mean((np.polynomial.Polynomial.fit(x_train, y_train, d)(x) - y) ** 2) for d in degrees])

    val_errors, train_errors = errors(x_val, y_val), errors(x_train, y_train)
    answer, unanswered = attempt(select_degree, x_train, y_train, x_val, y_val, degrees, name="select_degree")
    if unanswered is not None:
        return unanswered
    if not isinstance(answer, (int, np.integer)) or answer not in degrees:
        return report(False, f"select_degree returned {answer!r}; it must return one of the degrees {degrees}.")
    chosen = degrees.index(answer)
    if val_errors[chosen] <= 1.02 * val_errors.min():
        return report(True, f"degree {answer} has the lowest validation error ({val_errors[chosen]:.3f}).")
    if chosen == int(np.argmin(train_errors)):
        return report(False, f"degree {answer} has the lowest *training* error. Training error always prefers "
                              "the most flexible model; select on the validation set.")
    return report(False, f"degree {answer} has validation error {val_errors[chosen]:.3f}, but degree "
                          f"{degrees[int(np.argmin(val_errors))]} reaches {val_errors.min():.3f}.")
