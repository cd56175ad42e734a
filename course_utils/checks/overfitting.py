"""Checkers for the exercises of notebook 01 (overfitting and underfitting)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data import sine
from . import Verdict, attempt, call, report

__all__ = ["check_diagnose", "check_select_degree", "check_select_degree_cv"]

LABELS = ("underfitting", "overfitting", "good fit")


def _diagnosis(train_error, val_error, target_error, max_gap) -> str:
    if train_error > target_error:
        return "underfitting"
    return "overfitting" if val_error - train_error > max_gap else "good fit"


def check_diagnose(diagnose: Callable[..., Any]) -> Verdict:
    """Exercise 01.1: ``diagnose(train_error, val_error, target_error, max_gap)``."""
    cases = [  # (train, val, target, max_gap) and what a wrong answer reveals
        ((0.30, 0.32, 0.10, 0.05), "training error 0.30 is above the target 0.10: the model cannot even fit its training data."),
        ((0.02, 0.25, 0.10, 0.05), "training error meets the target, but validation is 0.23 worse than training."),
        ((0.06, 0.08, 0.10, 0.05), "training error meets the target and the gap (0.02) is within max_gap."),
        ((0.30, 0.60, 0.10, 0.05), "both are bad, and underfitting comes first: more regularization would not fix a model that cannot fit."),
        ((0.09, 0.12, 0.10, 0.05), "validation error 0.12 above the target is fine here: only the gap (0.03) decides overfitting."),
    ]
    rng = np.random.default_rng(101)  # random cases too, so that a table of the fixed ones cannot pass
    for _ in range(30):
        train, target = rng.uniform(0.0, 0.5, 2).round(3)
        val, max_gap = round(train + rng.uniform(-0.05, 0.4), 3), round(rng.uniform(0.01, 0.2), 3)
        cases.append(((train, val, target, max_gap), "underfitting is decided by training error against the "
                                                     "target, then overfitting by the gap val − train."))
    for args, why in cases:
        expected = _diagnosis(*args)
        answer, unanswered = attempt(diagnose, *args, name="diagnose", shown=f"diagnose{args}")
        if unanswered is not None:
            return unanswered
        if not isinstance(answer, str):
            return report(False, f"diagnose returned {type(answer).__name__} ({answer!r}); it must return one of "
                                 f"the strings {', '.join(map(repr, LABELS))}.")
        if answer != expected:
            return report(False, f"diagnose(train_error={args[0]}, val_error={args[1]}, target_error={args[2]}, "
                                 f"max_gap={args[3]}) returned {answer!r}; expected {expected!r}: {why}")
    return report(True, "You diagnose underfitting from the training error and overfitting from the gap.")


def _mse_by_degree(x_fit, y_fit, x_eval, y_eval, degrees) -> np.ndarray:
    """Mean squared error on (x_eval, y_eval) of each degree's polynomial least-squares fit to (x_fit, y_fit)."""
    return np.array([np.mean((np.polynomial.Polynomial.fit(x_fit, y_fit, d)(x_eval) - y_eval) ** 2)
                     for d in degrees])


def _sine_sample(rng, n, noise=0.25):
    x = rng.uniform(0.0, 1.0, n)  # in random order, as a sample comes
    return x, sine(x) + noise * rng.standard_normal(n)


def _degree_or_verdict(answer, degrees, name, position_of_best):
    """None when ``answer`` is one of ``degrees``; else a verdict naming what it is instead."""
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)):
        return report(False, f"{name} returned {type(answer).__name__} ({answer!r}); it must return a degree, "
                             f"an int from the list {degrees}.")
    if answer == position_of_best and answer != degrees[position_of_best]:
        return report(False, f"{name} returned {answer}, the position of the best degree in the list "
                             f"(np.argmin gives positions); return the degree itself, degrees[{answer}].")
    if answer not in degrees:
        return report(False, f"{name} returned {answer}; it must return one of the degrees {degrees}.")
    return None


def _changed(before, after) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after))


def check_select_degree(select_degree: Callable[..., Any]) -> Verdict:
    """Exercise 01.2: ``select_degree(x_train, y_train, x_val, y_val, degrees)`` picks by validation error."""
    rng = np.random.default_rng(11)
    # Degrees that are not 0, 1, 2, ...: a position in the list (what np.argmin gives) is then told from a degree.
    for n_train, degrees in [(20, [1, 3, 5, 7, 9, 11, 13]), (30, [2, 4, 6, 8, 10, 12]), (14, [1, 2, 3, 5, 8, 11])]:
        (x_train, y_train), (x_val, y_val) = _sine_sample(rng, n_train), _sine_sample(rng, 200)
        given = [x_train.copy(), y_train.copy(), x_val.copy(), y_val.copy()]
        answer, unanswered = attempt(select_degree, *given, list(degrees), name="select_degree")
        if unanswered is not None:
            return unanswered
        if _changed([x_train, y_train, x_val, y_val], given):
            return report(False, "select_degree changed its input arrays in place (e.g. x_train.sort() or a "
                                 "shuffle): the caller's data are no longer what they were. Work on copies, or "
                                 "better, leave the data alone: Polynomial.fit needs no order.")
        validation = _mse_by_degree(x_train, y_train, x_val, y_val, degrees)
        best = int(np.argmin(validation))
        if (wrong := _degree_or_verdict(answer, degrees, "select_degree", best)) is not None:
            return wrong
        chosen = degrees.index(answer)
        if validation[chosen] <= 1.02 * validation.min():
            continue
        if _fits_on_validation_too(select_degree, answer, x_train, y_train, x_val, y_val, degrees):
            return report(False, f"degree {answer}: your polynomials are fitted on training + validation data. "
                                 "Fit each degree on the training set only; the validation set must stay unseen "
                                 "so that its error can judge the fit.")
        if chosen == int(np.argmin(_mse_by_degree(x_train, y_train, x_train, y_train, degrees))):
            return report(False, f"degree {answer} has the lowest *training* error. Training error always prefers "
                                 "the most flexible model; select on the validation set.")
        return report(False, f"degree {answer} has validation error {validation[chosen]:.3f}, but degree "
                             f"{degrees[best]} reaches {validation.min():.3f}.")
    return report(True, "On three samples, each with its own list of degrees, you picked the degree with the "
                        "lowest validation error.")


def _pooled_choice(x_train, y_train, x_val, y_val, degrees) -> int:
    """The degree chosen by validation error when every degree is fitted on training + validation data."""
    x_both, y_both = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    return degrees[int(np.argmin(_mse_by_degree(x_both, y_both, x_val, y_val, degrees)))]


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


def _folds(n, k):
    """Contiguous folds, as ``np.array_split(np.arange(n), k)`` and scikit-learn's unshuffled KFold make them."""
    return np.array_split(np.arange(n), k)


def _cv_scores(x, y, degrees, k, mistake=None) -> np.ndarray:
    """Mean validation MSE over k folds for each degree, or what a typical mistake computes instead."""
    folds = _folds(len(x), k)
    scores = []
    for held_out in folds[:1] if mistake == "one fold" else folds:
        rest = np.setdiff1d(np.arange(len(x)), held_out)
        score_on = rest if mistake == "training" else held_out
        scores.append([np.mean((np.polynomial.Polynomial.fit(x[rest], y[rest], d)(x[score_on]) - y[score_on]) ** 2)
                       for d in degrees])
    return np.mean(scores, axis=0)


CV_MISTAKES = {
    # Fitting on all the data, or scoring on the folds a fit was trained on, both measure training error,
    # which always picks the most flexible degree: one message names both.
    "training": "your choice is the one training error makes: each fit was scored on points it had seen (scored "
                "on its own training folds, or fitted on all the data). Fit on the other k − 1 folds only, then "
                "score on the held-out fold.",
    "one fold": "your choice matches scoring on the first fold alone, a single validation split. Cross-validation "
                "averages the held-out error over all k folds.",
}


def check_select_degree_cv(select_degree_cv: Callable[..., Any]) -> Verdict:
    """Exercise 01.3: ``select_degree_cv(x, y, degrees, k)`` picks the degree by k-fold cross-validation."""
    rng = np.random.default_rng(13)
    cases = [(24, [1, 3, 5, 7, 9, 11], 4), (30, [2, 3, 4, 6, 9, 12], 5), (21, [1, 2, 3, 5, 8, 10], 3),
             (36, [1, 3, 5, 7, 9, 11, 13], 6)]
    for n, degrees, k in cases:
        x, y = _sine_sample(rng, n, noise=0.3)
        given = [x.copy(), y.copy()]
        answer, unanswered = attempt(select_degree_cv, *given, list(degrees), k,
                                     name="select_degree_cv", shown=f"select_degree_cv(x, y, degrees, k={k})")
        if unanswered is not None:
            return unanswered
        if _changed([x, y], given):
            return report(False, "select_degree_cv changed x or y in place (a shuffle or a sort): the caller's "
                                 "data are no longer what they were. The points already come in random order: "
                                 "split them into folds as they are.")
        scores = _cv_scores(x, y, degrees, k)
        best = int(np.argmin(scores))
        if (wrong := _degree_or_verdict(answer, degrees, "select_degree_cv", best)) is not None:
            return wrong
        if scores[degrees.index(answer)] <= 1.02 * scores.min():
            continue
        for mistake, message in CV_MISTAKES.items():
            if degrees[int(np.argmin(_cv_scores(x, y, degrees, k, mistake)))] == answer:
                return report(False, f"with k={k}, degrees {degrees}: {message}")
        return report(False, f"with k={k} you chose degree {answer}, whose cross-validated error is "
                             f"{scores[degrees.index(answer)]:.3f}; degree {degrees[best]} reaches {scores.min():.3f}.")
    return report(True, "On four samples and fold counts you picked the degree with the lowest k-fold "
                        "cross-validated error.")
