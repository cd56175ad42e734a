"""Notebook 01: diagnosing a fit, choosing the polynomial degree on validation data and by cross-validation."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures
from sklearn.linear_model import LinearRegression

from course_utils.checks.overfitting import check_diagnose, check_select_degree, check_select_degree_cv

from . import Exercise, Wrong

# ---------------------------------------------------------------- 01.1 diagnose


def diagnose(train_error, val_error, target_error, max_gap):
    if train_error > target_error:
        return "underfitting"
    if val_error - train_error > max_gap:
        return "overfitting"
    return "good fit"


def diagnose_gap_first(train_error, val_error, target_error, max_gap):
    if val_error - train_error > max_gap:
        return "overfitting"
    return "underfitting" if train_error > target_error else "good fit"


def diagnose_by_validation_error(train_error, val_error, target_error, max_gap):
    if train_error > target_error:
        return "underfitting"
    return "overfitting" if val_error > target_error else "good fit"


def diagnose_gap_as_ratio(train_error, val_error, target_error, max_gap):
    if train_error > target_error:
        return "underfitting"
    return "overfitting" if val_error / train_error > max_gap else "good fit"


def diagnose_always_good(train_error, val_error, target_error, max_gap):
    return "good fit"


def diagnose_capitalised(*args):
    return diagnose(*args).capitalize()


def diagnose_as_flags(train_error, val_error, target_error, max_gap):
    return train_error > target_error, val_error - train_error > max_gap


# ---------------------------------------------------------------- 01.2 select_degree


def mse_by_degree(x_fit, y_fit, x_eval, y_eval, degrees):
    return [np.mean((np.polynomial.Polynomial.fit(x_fit, y_fit, d)(x_eval) - y_eval) ** 2) for d in degrees]


def select_degree(x_train, y_train, x_val, y_val, degrees):
    return degrees[int(np.argmin(mse_by_degree(x_train, y_train, x_val, y_val, degrees)))]


def select_degree_polyfit(x_train, y_train, x_val, y_val, degrees):
    errors = [np.mean((np.polyval(np.polyfit(x_train, y_train, d), x_val) - y_val) ** 2) for d in degrees]
    return degrees[errors.index(min(errors))]


def argmin_position(x_train, y_train, x_val, y_val, degrees):
    return int(np.argmin(mse_by_degree(x_train, y_train, x_val, y_val, degrees)))


def fits_on_train_and_validation(x_train, y_train, x_val, y_val, degrees):
    x_both, y_both = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    return degrees[int(np.argmin(mse_by_degree(x_both, y_both, x_val, y_val, degrees)))]


def by_training_error(x_train, y_train, x_val, y_val, degrees):
    return degrees[int(np.argmin(mse_by_degree(x_train, y_train, x_train, y_train, degrees)))]


def lowest_degree(x_train, y_train, x_val, y_val, degrees):
    return min(degrees)


def sorts_in_place(x_train, y_train, x_val, y_val, degrees):
    order = np.argsort(x_train)
    x_train.sort()
    return select_degree(x_train, y_train[order], x_val, y_val, degrees)


def degree_as_float(x_train, y_train, x_val, y_val, degrees):
    return float(select_degree(x_train, y_train, x_val, y_val, degrees))


# ---------------------------------------------------------------- 01.3 select_degree_cv


def select_degree_cv(x, y, degrees, k):
    folds = np.array_split(np.arange(len(x)), k)
    scores = []
    for d in degrees:
        errors = []
        for held_out in folds:
            rest = np.setdiff1d(np.arange(len(x)), held_out)
            fit = np.polynomial.Polynomial.fit(x[rest], y[rest], d)
            errors.append(np.mean((fit(x[held_out]) - y[held_out]) ** 2))
        scores.append(np.mean(errors))
    return degrees[int(np.argmin(scores))]


def select_degree_cv_sklearn(x, y, degrees, k):
    scores = [-cross_val_score(make_pipeline(PolynomialFeatures(d), LinearRegression()), x[:, None], y,
                               cv=KFold(k), scoring="neg_mean_squared_error").mean() for d in degrees]
    return degrees[int(np.argmin(scores))]


def cv_error(x, y, d, k, fit_on_all=False, score_on_rest=False, folds_used=None):
    errors = []
    for held_out in np.array_split(np.arange(len(x)), k)[:folds_used]:
        rest = np.setdiff1d(np.arange(len(x)), held_out)
        fit_rows = np.arange(len(x)) if fit_on_all else rest
        score_rows = rest if score_on_rest else held_out
        fit = np.polynomial.Polynomial.fit(x[fit_rows], y[fit_rows], d)
        errors.append(np.mean((fit(x[score_rows]) - y[score_rows]) ** 2))
    return np.mean(errors)


def cv_scored_on_training_folds(x, y, degrees, k):
    return degrees[int(np.argmin([cv_error(x, y, d, k, score_on_rest=True) for d in degrees]))]


def cv_fitted_on_everything(x, y, degrees, k):
    return degrees[int(np.argmin([cv_error(x, y, d, k, fit_on_all=True) for d in degrees]))]


def cv_first_fold_only(x, y, degrees, k):
    return degrees[int(np.argmin([cv_error(x, y, d, k, folds_used=1) for d in degrees]))]


def cv_argmin_position(x, y, degrees, k):
    return int(np.argmin([cv_error(x, y, d, k) for d in degrees]))


def cv_shuffles_in_place(x, y, degrees, k):
    order = np.random.default_rng(0).permutation(len(x))
    x[:], y[:] = x[order], y[order]
    return select_degree_cv(x, y, degrees, k)


def cv_returns_the_errors(x, y, degrees, k):
    return [cv_error(x, y, d, k) for d in degrees]


EXERCISES = [
    Exercise("01.1 diagnose", check_diagnose, right=(diagnose,), wrong={
        "gap checked before underfitting": Wrong(diagnose_gap_first, "underfitting comes first"),
        "validation error against the target": Wrong(diagnose_by_validation_error, "only the gap (0.03) decides"),
        "gap as a ratio": Wrong(diagnose_gap_as_ratio, "the gap (0.02) is within max_gap"),
        "always good fit": Wrong(diagnose_always_good, "cannot even fit its training data"),
        "capitalised label": Wrong(diagnose_capitalised, "returned 'Underfitting'; expected 'underfitting'"),
        "returns two flags": Wrong(diagnose_as_flags, "diagnose returned tuple", kind="type"),
    }),
    Exercise("01.2 select_degree", check_select_degree, right=(select_degree, select_degree_polyfit), wrong={
        "returns the argmin index instead of the degree": Wrong(argmin_position, "the position of the best degree"),
        "fits on train + validation": Wrong(fits_on_train_and_validation, "fitted on training + validation data"),
        "chooses on training error": Wrong(by_training_error, "lowest *training* error"),
        "always the simplest model": Wrong(lowest_degree, "has validation error"),
        "sorts x_train in place": Wrong(sorts_in_place, "changed its input arrays in place", kind="in-place"),
        "returns a float": Wrong(degree_as_float, "select_degree returned float", kind="type"),
    }),
    Exercise("01.3 select_degree_cv", check_select_degree_cv, right=(select_degree_cv, select_degree_cv_sklearn),
             wrong={
        "scores on the training folds": Wrong(cv_scored_on_training_folds, "scored on points it had seen"),
        "fits on all the data": Wrong(cv_fitted_on_everything, "fitted on all the data"),
        "one fold only": Wrong(cv_first_fold_only, "scoring on the first fold alone"),
        "returns the argmin index": Wrong(cv_argmin_position, "the position of the best degree"),
        "shuffles x and y in place": Wrong(cv_shuffles_in_place, "changed x or y in place", kind="in-place"),
        "returns the list of errors": Wrong(cv_returns_the_errors, "select_degree_cv returned list", kind="type"),
    }),
]
