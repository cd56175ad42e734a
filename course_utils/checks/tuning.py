"""Checkers for the exercises of notebook 12 (hyper-parameter tuning and hold-out validation).

Each checker computes the right number on problems of its own, with a generator
of its own, and, when an answer differs, the numbers the usual mistakes give, so
that the message can name the mistake that was made.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import Verdict, attempt, report

__all__ = ["check_nested_score", "check_screened_score", "check_weight_decay_distribution", "check_winner_optimism",
           "winner_optimism"]

LOW, HIGH = 1e-5, 1e-1  # the weight-decay range of the log-scale exercise
TOLERANCE = 1e-9        # the same arithmetic in another order differs by far less


def _one_number(answer, name: str, what: str) -> tuple[float | None, Verdict | None]:
    """The answer as a float, or a verdict about its type or shape."""
    if np.ndim(answer) != 0:
        return None, report(False, f"{name} returned {type(answer).__name__} of shape {np.shape(answer)}; "
                                   f"return {what}, one number.")
    try:
        return float(answer), None
    except (TypeError, ValueError):
        return None, report(False, f"{name} returned {type(answer).__name__}; return {what}, one number.")


def _first_match(value: float, mistakes) -> str | None:
    """The message of the first mistake whose number equals ``value``; each is computed only when reached."""
    for number, message in mistakes:
        if np.isclose(value, number(), rtol=0, atol=TOLERANCE):
            return message
    return None


# ---------------------------------------------------------------- the winner's validation score

def winner_optimism(val_scores: np.ndarray, true_scores: np.ndarray) -> float:
    """Mean over repeats of (validation score − true score) of the configuration each repeat chose.

    ``val_scores`` is (repeats, configurations); ``true_scores`` is (configurations,).
    """
    chosen = np.argmax(val_scores, axis=1)
    return float(np.mean(val_scores[np.arange(len(val_scores)), chosen] - true_scores[chosen]))


def check_winner_optimism(optimism: Callable[..., Any]) -> Verdict:
    """Exercise 12.1: ``winner_optimism(val_scores, true_scores)``, the selection bias of the best validation score."""
    rng = np.random.default_rng(1001)
    for repeats, configs in ((int(rng.integers(60, 200)), int(rng.integers(8, 30))), (int(rng.integers(30, 60)), 3)):
        truth = rng.uniform(0.6, 0.9, configs)
        scores = np.clip(truth + rng.normal(0.0, 0.04, (repeats, configs)), 0.0, 1.0)
        given, truth_given = scores.copy(), truth.copy()
        answer, unanswered = attempt(optimism, given, truth_given, name="winner_optimism",
                                     shown=f"winner_optimism(val_scores of shape {scores.shape}, true_scores)")
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given, scores) and np.array_equal(truth_given, truth)):
            return report(False, "winner_optimism changed its input in place (e.g. val_scores.sort(axis=1)). The "
                                 "caller still needs the scores in their order: work on a copy, or use max/argmax.")
        value, wrong = _one_number(answer, "winner_optimism", "the mean over repeats")
        if wrong is not None:
            return wrong
        expected = winner_optimism(scores, truth)
        if np.isclose(value, expected, rtol=0, atol=TOLERANCE):
            continue
        mistake = _first_match(value, [
            (lambda: -expected, "the sign is reversed: optimism is the reported (validation) score minus the true "
                                "score, so it is positive when the report promises too much."),
            (lambda: float(np.mean(scores - truth)), "you averaged every configuration, so nothing was selected "
                                                     "and the bias vanishes. In each repeat keep only the "
                                                     "configuration with the best validation score."),
            (lambda: float(scores.max(axis=1).mean() - truth.max()),
             "you subtracted the best true score of all configurations; subtract the true score of the "
             "configuration that each repeat chose (it is often not the truly best one)."),
            (lambda: float(np.mean(scores.max(axis=0) - truth)),
             "you picked, for each configuration, its best repeat (axis 0); a search picks, in each repeat, "
             "its best configuration (axis 1, one row per repeat)."),
            (lambda: float(np.mean(scores[:, np.argmax(scores.mean(axis=0))] - truth[np.argmax(scores.mean(axis=0))])),
             "you chose one configuration for all repeats, by its average score. Each repeat is a separate "
             "search on its own validation set: choose within each repeat."),
        ])
        return report(False, mistake or f"on scores of shape {scores.shape} you returned {value:.4f}; the mean "
                                        f"optimism of each repeat's winner is {expected:.4f}.")
    return report(True, "the winner's validation score overstates its true score on average; the more "
                        "configurations compete on one noisy validation set, the more.")


# ---------------------------------------------------------------- log-scale sampling

def check_weight_decay_distribution(make_distribution: Callable[..., Any]) -> Verdict:
    """Exercise 12.3: ``make_distribution()`` returns what RandomizedSearchCV should sample weight decay from."""
    distribution, unanswered = attempt(make_distribution, name="make_distribution", shown="make_distribution()")
    if unanswered is not None:
        return unanswered
    if not hasattr(distribution, "rvs"):
        return report(False, f"make_distribution() returned a {type(distribution).__name__}. RandomizedSearchCV "
                              "draws only the listed values from a list or array; return a continuous "
                              "distribution with an .rvs method, such as one from scipy.stats.")
    bounds = [a for a in getattr(distribution, "args", ()) if np.ndim(a) == 0]
    if bounds and max(bounds) < 0:
        return report(False, f"its bounds {tuple(bounds)} look like exponents of ten. loguniform(a, b) takes the "
                             "values themselves, the smallest and largest weight decay.")
    try:
        samples = np.asarray(distribution.rvs(size=4000, random_state=0), dtype=float)
    except Exception as exc:  # the learner's object: report, don't crash
        return report(False, f"sampling from it with .rvs(size=4000, random_state=0) raised {type(exc).__name__}: {exc}")
    if samples.shape != (4000,):
        return report(False, f".rvs(size=4000) returned shape {samples.shape}; expected one value per draw (4000,).")
    if samples.max() <= 0:
        return report(False, f"the samples range from {samples.min():.3g} to {samples.max():.3g}: these are "
                             "exponents of ten, not weight decays. Sample the values themselves, with their "
                             "logarithm uniform (scipy.stats.loguniform).")
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


# ---------------------------------------------------------------- nested cross-validation

def _scaled_regression(seed: int, n_samples: int, n_features: int):
    """A linear problem whose features have scales from 0.01 to 100, so standardizing them matters."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_samples, n_features))
    y = z @ rng.normal(0.0, 1.0, n_features) + rng.normal(0.0, 2.0, n_samples)
    return z * 10 ** rng.uniform(-2, 2, n_features) + rng.normal(0.0, 5.0, n_features), y


def _pipeline(estimator, scale: bool = True):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    return Pipeline([("scale", StandardScaler()), ("model", clone(estimator))] if scale
                    else [("model", clone(estimator))])


def _fit_score(estimator, params, x_fit, y_fit, x_held, y_held, scale: bool = True) -> float:
    """Fit (standardizing on the fitted part only) and score on the held-out part."""
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler
    if scale:
        scaler = StandardScaler().fit(x_fit)
        x_fit, x_held = scaler.transform(x_fit), scaler.transform(x_held)
    return clone(estimator).set_params(**params).fit(x_fit, y_fit).score(x_held, y_held)


def _nested(estimator, grid, x, y, outer: int = 5, inner: int = 3, scale: bool = True) -> float:
    """The nested estimate: a search with ``inner`` folds inside, scored on ``outer`` unshuffled folds.

    Written out rather than as cross_val_score(GridSearchCV(...)), which computes the same numbers with
    ten times the overhead; GridSearchCV also keeps the first of tied candidates.
    """
    from sklearn.model_selection import KFold
    (name, values), = grid.items()  # the checker's grid has one hyper-parameter
    candidates = [{name: value} for value in values]
    scores = []
    for fit, held in KFold(outer).split(x):
        means = [np.mean([_fit_score(estimator, params, x[fit][a], y[fit][a], x[fit][b], y[fit][b], scale)
                          for a, b in KFold(inner).split(x[fit])]) for params in candidates]
        best = candidates[int(np.argmax(means))]
        scores.append(_fit_score(estimator, best, x[fit], y[fit], x[held], y[held], scale))
    return float(np.mean(scores))


def _per_outer_fold(x, y, score_fold) -> float:
    from sklearn.model_selection import KFold
    return float(np.mean([score_fold(fit, held) for fit, held in KFold(5).split(x)]))


def _nested_mistakes(estimator, grid, x, y):
    """(number, message) of the usual mistakes, each computed only when it is reached."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler
    prefixed = {f"model__{k}": v for k, v in grid.items()}
    name, values = next(iter(grid.items()))

    def search(scale=True):
        return GridSearchCV(_pipeline(estimator, scale), prefixed, cv=3)

    def tuned_on_test_fold(fit, held):
        return max(_pipeline(clone(estimator).set_params(**{name: v})).fit(x[fit], y[fit]).score(x[held], y[held])
                   for v in values)

    return [
        (lambda: _per_outer_fold(x, y, tuned_on_test_fold),
         "in each outer fold you chose the hyper-parameter by its score on the outer test fold and reported that "
         "score: the test fold took part in the choice. Choose inside the outer training part only (3 inner "
         "folds), then score the winner once on the outer test fold."),
        (lambda: _per_outer_fold(x, y, lambda fit, held: search().fit(x[fit], y[fit]).best_score_),
         "you averaged the inner searches' best_score_: each is the score of the configuration that won on those "
         "same inner folds, so it is optimistic. Score each search's refit winner on its outer test fold."),
        (lambda: float(search().fit(x, y).best_score_),
         "this is best_score_ of one search on all the data: the same folds chose the hyper-parameter and scored "
         "it, so it is optimistic. The search must run inside an outer loop."),
        (lambda: _per_outer_fold(x, y, lambda fit, held: search().fit(x, y).score(x[held], y[held])),
         "the model you scored on each outer test fold was tuned and trained on all the data, that fold "
         "included. Fit the search on the outer training part only."),
        (lambda: _nested(estimator, grid, StandardScaler().fit_transform(x), y, scale=False),
         "you fitted the scaler on all the data before splitting, so every test fold's mean and scale leaked into "
         "the training. Put the StandardScaler in a Pipeline with the model, so that it is fitted on each "
         "training part only."),
        (lambda: _nested(estimator, grid, x, y, scale=False),
         "the features are not standardized. Their scales range from 0.01 to 100, and a ridge penalty treats "
         "every coefficient alike: standardize inside every fit (a Pipeline of StandardScaler and the model)."),
        (lambda: _nested(estimator, grid, x, y, outer=3, inner=5),  # last: check_nested_score reads it
         "inner and outer folds are swapped: the search inside uses 3 folds, the outer loop 5."),
    ]


def check_nested_score(nested_score: Callable[..., Any]) -> Verdict:
    """Exercise 12.2: ``nested_score(estimator, param_grid, x, y)``: standardized, 3-fold search in 5 outer folds."""
    from sklearn.linear_model import Ridge

    grid = {"alpha": [0.3, 10.0, 300.0]}
    for seed, n_samples, n_features in ((11, 90, 12), (12, 120, 20)):
        x, y = _scaled_regression(seed, n_samples, n_features)
        given = x.copy()
        answer, unanswered = attempt(nested_score, Ridge(), {"alpha": list(grid["alpha"])}, given, y.copy(),
                                     name="nested_score")
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, x):
            return report(False, "nested_score changed x in place (e.g. x -= x.mean(0) to standardize). The caller "
                                 "still needs its data, and scaling all of x at once lets the test folds leak into "
                                 "the scaler: scale inside each fit, with a Pipeline.")
        value, wrong = _one_number(answer, "nested_score", "the mean of the outer scores")
        if wrong is not None:
            return wrong
        expected = _nested(Ridge(), grid, x, y)
        if np.isclose(value, expected, rtol=0, atol=TOLERANCE):
            continue
        mistakes = _nested_mistakes(Ridge(), grid, x, y)
        mistake = _first_match(value, mistakes)
        swapped_number, swapped = mistakes[-1]
        if mistake == mistakes[2][1] and np.isclose(value, swapped_number(), rtol=0, atol=TOLERANCE):
            # when every search picks the same value, swapping the folds gives best_score_ of a 3-fold search
            mistake = (f"{value:.4f} is best_score_ of one 3-fold search on all the data, and also what inner and "
                       "outer folds swapped give on this problem. Either way the same folds chose the "
                       "hyper-parameter and scored it: search with 3 folds inside each of 5 outer folds.")
        return report(False, mistake or f"nested_score returned {value:.4f} on a problem where the nested estimate "
                                        f"is {expected:.4f}. Check the recipe: 5 unshuffled outer folds; in each, "
                                        "a 3-fold search over a standardizing pipeline on the outer training part; "
                                        "its refit winner scored once on the outer test fold.")
    return report(True, "on two problems your outer loop scores the whole tuning procedure, scaler included, on "
                        "data it never saw.")


# ---------------------------------------------------------------- screening features before cross-validation

def _noise_problem(seed: int, n_samples: int, n_features: int):
    """Features and balanced labels that are independent: any honest estimate is near 50 %."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_samples, n_features)), rng.permutation(np.arange(n_samples) % 2)


def _screened(x, y, k: int, select_on_all: bool = False) -> float:
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    if select_on_all:
        return float(cross_val_score(LogisticRegression(), SelectKBest(f_classif, k=k).fit_transform(x, y), y,
                                     cv=5).mean())
    return float(cross_val_score(make_pipeline(SelectKBest(f_classif, k=k), LogisticRegression()), x, y,
                                 cv=5).mean())


def check_screened_score(screened_score: Callable[..., Any]) -> Verdict:
    """Exercise 12.4: ``screened_score(x, y, k)``, 5-fold CV of k-best screening + logistic regression, honestly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    leaky = []
    for seed, n_samples, n_features, k in ((21, 60, 300, 10), (22, 80, 500, 20)):
        x, y = _noise_problem(seed, n_samples, n_features)
        given = x.copy()
        answer, unanswered = attempt(screened_score, given, y.copy(), k, name="screened_score",
                                     shown=f"screened_score(x of shape {x.shape}, y, k={k})")
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, x):
            return report(False, "screened_score changed x in place. The caller still needs its data: transform "
                                 "copies (a Pipeline does).")
        value, wrong = _one_number(answer, "screened_score", "the mean accuracy over the 5 folds")
        if wrong is not None:
            return wrong
        expected = _screened(x, y, k)
        leaky.append(_screened(x, y, k, select_on_all=True))
        if np.isclose(value, expected, rtol=0, atol=TOLERANCE):
            continue
        mistake = _first_match(value, [
            (lambda: leaky[-1], f"you kept the {k} features that best separate the classes in ALL the data, then "
                                f"cross-validated: {value:.0%} on labels that are pure noise. Each held-out fold "
                                "helped choose the features. The screening is part of the model: fit it on each "
                                "training part only."),
            (lambda: float(cross_val_score(LogisticRegression(), x, y, cv=5).mean()),
             f"you used every feature; the exercise screens the k={k} best ones first (SelectKBest with f_classif)."),
        ])
        return report(False, mistake or f"screened_score returned {value:.4f}; the honest estimate on this problem "
                                        f"is {expected:.4f}. Screen with SelectKBest(f_classif, k) and fit a default "
                                        "LogisticRegression, both inside each of 5 stratified folds.")
    return report(True, f"about {np.mean(leaky):.0%} if the features are screened on all the data, but your honest "
                        "estimate stays near chance, as it must on labels that carry no signal.")
