"""Checkers for the exercises of notebook 01 (overfitting and underfitting)."""
from __future__ import annotations

import numpy as np

from ..data import make_noisy_sine
from . import Verdict, attempt, call, report


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
    # Odd degrees, not 0, 1, 2, ...: a position in the list (what np.argmin gives) is then told from a degree.
    degrees = [1, 3, 5, 7, 9, 11, 13]
    scores = _scores(x_train, y_train, x_val, y_val, degrees)
    best = degrees[int(np.argmin(scores["validation"]))]
    answer, unanswered = attempt(select_degree, x_train, y_train, x_val, y_val, degrees, name="select_degree")
    if unanswered is not None:
        return unanswered
    is_int = isinstance(answer, (int, np.integer)) and not isinstance(answer, (bool, np.bool_))
    if is_int and answer == degrees.index(best) and answer != best:
        return report(False, f"select_degree returned {answer}, the position of the best degree in the list "
                             f"(np.argmin gives positions); return the degree itself, degrees[{answer}].")
    if not is_int or answer not in degrees:
        return report(False, f"select_degree returned {answer!r}; it must return one of the degrees {degrees}.")
    chosen = degrees.index(answer)
    if scores["validation"][chosen] <= 1.02 * scores["validation"].min():
        return report(True, f"degree {answer} has the lowest validation error ({scores['validation'][chosen]:.3f}).")
    if _fits_on_validation_too(select_degree, answer, x_train, y_train, x_val, y_val, degrees):
        return report(False, f"degree {answer}: your polynomials are fitted on training + validation data. Fit "
                             "each degree on the training set only; the validation set must stay unseen so that "
                             "its error can judge the fit.")
    if chosen == int(np.argmin(scores["training"])):
        return report(False, f"degree {answer} has the lowest *training* error. Training error always prefers "
                              "the most flexible model; select on the validation set.")
    return report(False, f"degree {answer} has validation error {scores['validation'][chosen]:.3f}, but degree "
                          f"{best} reaches {scores['validation'].min():.3f}.")


def _scores(x_train, y_train, x_val, y_val, degrees) -> dict[str, np.ndarray]:
    """Mean squared error of each degree fitted on the training set, on the training and validation sets."""
    fits = [np.polynomial.Polynomial.fit(x_train, y_train, d) for d in degrees]
    return {"training": np.array([np.mean((f(x_train) - y_train) ** 2) for f in fits]),
            "validation": np.array([np.mean((f(x_val) - y_val) ** 2) for f in fits])}


def _pooled_choice(x_train, y_train, x_val, y_val, degrees) -> int:
    """The degree chosen by validation error when every degree is fitted on training + validation data."""
    x_both, y_both = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    return degrees[int(np.argmin(_scores(x_both, y_both, x_val, y_val, degrees)["validation"]))]


def _fits_on_validation_too(select_degree, answer, x_train, y_train, x_val, y_val, degrees) -> bool:
    """Does the answer follow the pooled choice, here and on a second validation set that moves it?

    The second set lies on the line y = 5, far from the sine, which changes the pooled choice; an answer
    that follows it on both sets comes from fitting on the validation data too.
    """
    x_far = np.linspace(0.0, 1.0, 400)
    y_far = np.full_like(x_far, 5.0)
    pooled_here = _pooled_choice(x_train, y_train, x_val, y_val, degrees)
    pooled_far = _pooled_choice(x_train, y_train, x_far, y_far, degrees)
    if answer != pooled_here or pooled_far == pooled_here:
        return False
    answer_far, problem = call(select_degree, x_train, y_train, x_far, y_far, degrees)
    return problem is None and answer_far == pooled_far
