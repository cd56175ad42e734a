"""notebook 13: a paired interval by hand, the recipe as a Config, and a claim of one's own."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

import course_utils as cu
from course_utils.checks.capstone import (check_my_claim, check_paired_interval, check_recipe_config,
                                          paired_interval, recipe_config)

from . import Exercise, Wrong

# ---------------------------------------------------------------- 11.1 a paired difference and its interval


def interval_with_scipy(a, b):
    d = np.asarray(a) - np.asarray(b)
    low, high = stats.t.interval(0.90, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    return d.mean(), low, high


def interval_by_loop(a, b):
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1) / n)
    half = stats.t.ppf(0.95, n - 1) * se
    return [mean, mean - half, mean + half]


def _with_half_width(a, b, half_width):
    d = a - b
    half = half_width(d)
    return d.mean(), d.mean() - half, d.mean() + half


def unpaired(a, b):
    n = len(a)
    se = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    half = stats.t.ppf(0.95, n - 1) * se
    return a.mean() - b.mean(), a.mean() - b.mean() - half, a.mean() - b.mean() + half


def normal_quantile(a, b):
    return _with_half_width(a, b, lambda d: 1.645 * d.std(ddof=1) / math.sqrt(len(d)))


def two_sided_95(a, b):
    return _with_half_width(a, b, lambda d: stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))


def population_std(a, b):
    return _with_half_width(a, b, lambda d: stats.t.ppf(0.95, len(d) - 1) * d.std() / math.sqrt(len(d)))


def std_not_standard_error(a, b):
    return _with_half_width(a, b, lambda d: stats.t.ppf(0.95, len(d) - 1) * d.std(ddof=1))


def n_degrees_of_freedom(a, b):
    return _with_half_width(a, b, lambda d: stats.t.ppf(0.95, len(d)) * d.std(ddof=1) / math.sqrt(len(d)))


def reversed_difference(a, b):
    return paired_interval(b, a)


def with_the_standard_error(a, b):
    return cu.claims.interval(a - b)


def as_a_dict(a, b):
    mean, low, high = paired_interval(a, b)
    return {"mean": mean, "low": low, "high": high}


def difference_in_place(a, b):
    a -= b
    half = stats.t.ppf(0.95, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return a.mean(), a.mean() - half, a.mean() + half


# ---------------------------------------------------------------- 11.2 the recipe as a Config


def recipe_by_fields(base):
    return dataclasses.replace(base, batch_norm=True, dropout=0.1, optimizer="adamw", weight_decay=0.01, l2=0.0,
                               patience=10, restore_best=True)


def _recipe(base, **changes):
    return dataclasses.replace(recipe_config(base), **changes)


def coupled_l2_penalty(base):
    return _recipe(base, optimizer=base.optimizer, weight_decay=0.0, l2=0.01)


def weight_decay_with_adam(base):
    return _recipe(base, optimizer="adam")


def l2_left_on(base):
    return _recipe(base, l2=base.l2)


def dropout_as_keep_probability(base):
    return _recipe(base, dropout=0.9)


def no_restore_best(base):
    return _recipe(base, restore_best=False)


def no_batch_norm(base):
    return _recipe(base, batch_norm=False)


def from_a_fresh_config(base):
    return recipe_config(cu.Config())


def fields_as_a_dict(base):
    return dataclasses.asdict(recipe_config(base))


# ---------------------------------------------------------------- 11.3 a claim of one's own


def my_claim(draws):
    base = cu.Config(hidden=(100, 100), epochs=20, lr=2e-3)
    runs = cu.sweep({"A": base, "B": dataclasses.replace(base, l2=0.1)}, draws, seeds=range(5))
    return {"statement": "Without L2 the train/validation gap is more than 10 points wider than with λ = 0.1",
            "runs": runs, "metric": "gap", "above": 0.10,
            "why": "the unregularized gap is about 50 points, and a change under a fifth of it would not change "
                   "the diagnosis of overfitting"}


TINY = cu.Config(hidden=(16,), epochs=2, lr=2e-3)
REASON = "a tenth of the accuracy range is the smallest change that would alter a decision here"


def _tiny_claim(draws, b=None, seeds=range(5), above=0.05, why=REASON, metric="val_acc", data=None):
    runs = cu.sweep({"A": TINY, "B": b or dataclasses.replace(TINY, dropout=0.3)},
                    draws if data is None else data, seeds=seeds)
    return {"statement": "A small network without dropout beats it with dropout", "runs": runs, "metric": metric,
            "above": above, "why": why}


def claim_returns_the_sweep(draws):
    return _tiny_claim(draws)["runs"]


def claim_on_three_replicates(draws):
    return _tiny_claim(draws, seeds=range(3))


def claim_on_one_data_draw(draws):
    return _tiny_claim(draws, data=draws(0))


def claim_changing_two_settings(draws):
    return _tiny_claim(draws, b=dataclasses.replace(TINY, dropout=0.3, l2=0.01))


def claim_about_the_learning_rate(draws):
    return _tiny_claim(draws, b=dataclasses.replace(TINY, lr=1e-2))


def claim_that_does_not_hold(draws):
    return _tiny_claim(draws, above=0.5)


def claim_without_a_reason(draws):
    return _tiny_claim(draws, why="")


EXERCISES = [
    Exercise("13.1 a paired interval by hand", check_paired_interval,
             right=(paired_interval, interval_with_scipy, interval_by_loop), wrong={
                 "unpaired": Wrong(unpaired, "combined the spreads of a and b"),
                 "normal quantile": Wrong(normal_quantile, "normal quantile 1.645"),
                 "two-sided 95 %": Wrong(two_sided_95, "two-sided 95 % interval"),
                 "ddof=0": Wrong(population_std, "ddof=0"),
                 "standard deviation for the error": Wrong(std_not_standard_error, "standard error"),
                 "n degrees of freedom": Wrong(n_degrees_of_freedom, "degrees of freedom"),
                 "b - a": Wrong(reversed_difference, "the sign is reversed"),
                 "four numbers, as cu.claims.interval": Wrong(with_the_standard_error, "return three numbers",
                                                              kind="type"),
                 "a dict": Wrong(as_a_dict, "return three numbers", kind="type"),
                 "a -= b": Wrong(difference_in_place, "changed a or b in place", kind="in-place"),
             }),
    Exercise("13.2 the recipe as a Config", check_recipe_config, right=(recipe_config, recipe_by_fields), wrong={
        "L2 in the loss": Wrong(coupled_l2_penalty, "decoupled"),
        "weight decay with Adam": Wrong(weight_decay_with_adam, "needs optimizer='adamw'"),
        "base's L2 left on": Wrong(l2_left_on, "is still on"),
        "dropout as keep probability": Wrong(dropout_as_keep_probability, "probability to KEEP"),
        "restore-best off": Wrong(no_restore_best, "restore_best is False"),
        "no batch norm": Wrong(no_batch_norm, "batch_norm is False"),
        "from a fresh Config": Wrong(from_a_fresh_config, "keep every other field of base"),
        "a dict of fields": Wrong(fields_as_a_dict, "return a course_utils Config", kind="type"),
    }),
    Exercise("13.3 a claim of your own", check_my_claim, right=(my_claim,), wrong={
        "the sweep instead of the claim": Wrong(claim_returns_the_sweep, "return a dict", kind="type"),
        "three replicates": Wrong(claim_on_three_replicates, "needs at least 5"),
        "one data draw": Wrong(claim_on_one_data_draw, "pass draws itself"),
        "two settings changed": Wrong(claim_changing_two_settings, "change exactly one setting"),
        "not a regularizer": Wrong(claim_about_the_learning_rate, "one regularization setting"),
        "does not hold": Wrong(claim_that_does_not_hold, "never the threshold"),
        "no reason": Wrong(claim_without_a_reason, "why is this threshold"),
    }),
]
