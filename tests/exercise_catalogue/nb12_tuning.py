"""notebook 12: the winner's validation score, nested cross-validation, log-scale sampling, screening leaks."""
from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from course_utils.checks.tuning import (check_nested_score, check_screened_score, check_weight_decay_distribution,
                                        check_winner_optimism, winner_optimism)

from . import Exercise, Wrong

# ---------------------------------------------------------------- 10.1 the winner's validation score


def optimism_by_loop(val_scores, true_scores):
    gaps = []
    for row in val_scores:
        best = int(np.argmax(row))
        gaps.append(row[best] - true_scores[best])
    return sum(gaps) / len(gaps)


def optimism_no_selection(val_scores, true_scores):
    return float(np.mean(val_scores - true_scores))


def optimism_against_best_truth(val_scores, true_scores):
    return float(val_scores.max(axis=1).mean() - true_scores.max())


def optimism_wrong_axis(val_scores, true_scores):
    return float(np.mean(val_scores.max(axis=0) - true_scores))


def optimism_chosen_once(val_scores, true_scores):
    best = np.argmax(val_scores.mean(axis=0))
    return float(np.mean(val_scores[:, best] - true_scores[best]))


def optimism_reversed(val_scores, true_scores):
    chosen = np.argmax(val_scores, axis=1)
    return float(np.mean(true_scores[chosen] - val_scores.max(axis=1)))


def optimism_per_repeat(val_scores, true_scores):
    chosen = np.argmax(val_scores, axis=1)
    return val_scores.max(axis=1) - true_scores[chosen]


def optimism_sorting_in_place(val_scores, true_scores):
    chosen = np.argmax(val_scores, axis=1)
    val_scores.sort(axis=1)
    return float(np.mean(val_scores[:, -1] - true_scores[chosen]))


# ---------------------------------------------------------------- 10.2 nested cross-validation by hand


def _standardized(estimator, param_grid):
    model = Pipeline([("scale", StandardScaler()), ("model", clone(estimator))])
    return model, {f"model__{name}": values for name, values in param_grid.items()}


def nested_by_hand(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    scores = []
    for fit, held in KFold(5).split(x):
        search = GridSearchCV(model, grid, cv=3).fit(x[fit], y[fit])
        scores.append(search.score(x[held], y[held]))
    return np.mean(scores)


def nested_by_composition(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    return cross_val_score(GridSearchCV(model, grid, cv=3), x, y, cv=5).mean()


def nested_both_loops_by_hand(estimator, param_grid, x, y):
    (name, values), = param_grid.items()
    scores = []
    for fit, held in KFold(5).split(x):
        inner = [np.mean([make_pipeline(StandardScaler(), clone(estimator).set_params(**{name: v}))
                          .fit(x[fit][a], y[fit][a]).score(x[fit][b], y[fit][b]) for a, b in KFold(3).split(x[fit])])
                 for v in values]
        best = values[int(np.argmax(inner))]
        model = make_pipeline(StandardScaler(), clone(estimator).set_params(**{name: best})).fit(x[fit], y[fit])
        scores.append(model.score(x[held], y[held]))
    return float(np.mean(scores))


def nested_tuned_on_outer_test_fold(estimator, param_grid, x, y):
    (name, values), = param_grid.items()
    scores = []
    for fit, held in KFold(5).split(x):
        scores.append(max(make_pipeline(StandardScaler(), clone(estimator).set_params(**{name: v}))
                          .fit(x[fit], y[fit]).score(x[held], y[held]) for v in values))
    return np.mean(scores)


def nested_reusing_inner_best_score(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    return np.mean([GridSearchCV(model, grid, cv=3).fit(x[fit], y[fit]).best_score_ for fit, _ in KFold(5).split(x)])


def best_score_of_one_search(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    return GridSearchCV(model, grid, cv=3).fit(x, y).best_score_


def search_fitted_on_all_data(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    search = GridSearchCV(model, grid, cv=3).fit(x, y)
    return np.mean([search.score(x[held], y[held]) for _, held in KFold(5).split(x)])


def scaler_fitted_on_all_data(estimator, param_grid, x, y):
    scaled = StandardScaler().fit_transform(x)
    return cross_val_score(GridSearchCV(clone(estimator), param_grid, cv=3), scaled, y, cv=5).mean()


def not_standardized(estimator, param_grid, x, y):
    return cross_val_score(GridSearchCV(clone(estimator), param_grid, cv=3), x, y, cv=5).mean()


def folds_swapped(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    return cross_val_score(GridSearchCV(model, grid, cv=5), x, y, cv=3).mean()


def outer_scores_not_averaged(estimator, param_grid, x, y):
    model, grid = _standardized(estimator, param_grid)
    return cross_val_score(GridSearchCV(model, grid, cv=3), x, y, cv=5)


def standardized_in_place(estimator, param_grid, x, y):
    x -= x.mean(axis=0)
    x /= x.std(axis=0)
    return cross_val_score(GridSearchCV(clone(estimator), param_grid, cv=3), x, y, cv=5).mean()


# ---------------------------------------------------------------- 10.3 log-scale sampling


class LogUniform:
    """A hand-made log-uniform distribution: its logarithm is uniform."""

    def rvs(self, size=None, random_state=None):
        return 10 ** np.random.default_rng(random_state).uniform(-5, -1, size)


# ---------------------------------------------------------------- 10.4 screening features honestly


def screened_in_pipeline(x, y, k):
    return cross_val_score(make_pipeline(SelectKBest(f_classif, k=k), LogisticRegression()), x, y, cv=5).mean()


def screened_by_hand(x, y, k):
    scores = []
    for fit, held in StratifiedKFold(5).split(x, y):
        keep = np.argsort(f_classif(x[fit], y[fit])[0])[::-1][:k]
        model = LogisticRegression().fit(x[fit][:, keep], y[fit])
        scores.append(model.score(x[held][:, keep], y[held]))
    return float(np.mean(scores))


def screened_on_all_data(x, y, k):
    kept = SelectKBest(f_classif, k=k).fit_transform(x, y)
    return cross_val_score(LogisticRegression(), kept, y, cv=5).mean()


def screened_by_correlation_on_all_data(x, y, k):
    correlation = np.abs([np.corrcoef(column, y)[0, 1] for column in x.T])
    return cross_val_score(LogisticRegression(), x[:, np.argsort(correlation)[-k:]], y, cv=5).mean()


def every_feature(x, y, k):
    return cross_val_score(LogisticRegression(), x, y, cv=5).mean()


def fold_scores(x, y, k):
    return cross_val_score(make_pipeline(SelectKBest(f_classif, k=k), LogisticRegression()), x, y, cv=5)


def centred_in_place(x, y, k):
    x -= x.mean(axis=0)
    return cross_val_score(make_pipeline(SelectKBest(f_classif, k=k), LogisticRegression()), x, y, cv=5).mean()


EXERCISES = [
    Exercise("12.1 the winner's validation score", check_winner_optimism,
             right=(winner_optimism, optimism_by_loop), wrong={
                 "no selection": Wrong(optimism_no_selection, "nothing was selected"),
                 "against the best true score": Wrong(optimism_against_best_truth, "subtracted the best true score"),
                 "best repeat per configuration": Wrong(optimism_wrong_axis, "its best repeat (axis 0)"),
                 "one choice for all repeats": Wrong(optimism_chosen_once, "choose within each repeat"),
                 "sign reversed": Wrong(optimism_reversed, "the sign is reversed"),
                 "one value per repeat": Wrong(optimism_per_repeat, "one number", kind="type"),
                 "sorts the scores in place": Wrong(optimism_sorting_in_place, "changed its input in place",
                                                    kind="in-place"),
             }),
    Exercise("12.2 nested cross-validation by hand", check_nested_score,
             right=(nested_by_hand, nested_by_composition, nested_both_loops_by_hand), wrong={
                 "tuned on the outer test fold": Wrong(nested_tuned_on_outer_test_fold, "chose the hyper-parameter "
                                                       "by its score on the outer test fold"),
                 "inner best_score_ as the estimate": Wrong(nested_reusing_inner_best_score,
                                                            "averaged the inner searches' best_score_"),
                 "best_score_ of one search": Wrong(best_score_of_one_search, "best_score_ of one"),
                 "search fitted on all data": Wrong(search_fitted_on_all_data, "tuned and trained on all the data"),
                 "scaler fitted on all data": Wrong(scaler_fitted_on_all_data, "fitted the scaler on all the data"),
                 "not standardized": Wrong(not_standardized, "not standardized"),
                 "inner and outer folds swapped": Wrong(folds_swapped, "swapped"),
                 "outer scores not averaged": Wrong(outer_scores_not_averaged, "one number", kind="type"),
                 "standardizes x in place": Wrong(standardized_in_place, "changed x in place", kind="in-place"),
             }),
    Exercise("12.3 log-scale sampling", check_weight_decay_distribution,
             right=(lambda: stats.loguniform(1e-5, 1e-1), lambda: stats.reciprocal(1e-5, 1e-1), LogUniform), wrong={
                 "uniform": Wrong(lambda: stats.uniform(1e-5, 1e-1 - 1e-5), "that is a uniform distribution"),
                 "exponents as bounds": Wrong(lambda: stats.loguniform(-5, -1), "look like exponents"),
                 "uniform exponent": Wrong(lambda: stats.uniform(-5, 4), "exponents of ten"),
                 "range too wide": Wrong(lambda: stats.loguniform(1e-6, 1.0), "must stay within"),
                 "a list of values": Wrong(lambda: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "returned a list", kind="type"),
                 "a grid as an array": Wrong(lambda: np.logspace(-5, -1, 5), "returned a ndarray", kind="type"),
             }),
    Exercise("12.4 screening features honestly", check_screened_score,
             right=(screened_in_pipeline, screened_by_hand), wrong={
                 "screened on all data": Wrong(screened_on_all_data, "best separate the classes in ALL the data"),
                 "correlation screening on all data": Wrong(screened_by_correlation_on_all_data,
                                                            "best separate the classes in ALL the data"),
                 "no screening": Wrong(every_feature, "you used every feature"),
                 "fold scores not averaged": Wrong(fold_scores, "one number", kind="type"),
                 "centres x in place": Wrong(centred_in_place, "changed x in place", kind="in-place"),
             }),
]
