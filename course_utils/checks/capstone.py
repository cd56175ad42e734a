"""Checkers for the exercises of notebook 13 (the capstone), which combine what the course taught."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ..claims import interval
from ..config import Config
from . import Verdict, attempt, report

if TYPE_CHECKING:   # the annotation only: the checker imports the data module when it runs
    from ..data import Dataset

__all__ = ["check_my_claim", "check_paired_interval", "check_recipe_config", "paired_interval", "recipe_config"]


# ---------------------------------------------------------------- a paired difference and its interval


def paired_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of the paired differences a - b and the ends of its two-sided 90 % t-interval.

    ``a`` and ``b`` are (replicates,), paired by position; returns ``(mean, low, high)``.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = d.std(ddof=1) / np.sqrt(len(d))
    half = stats.t.ppf(0.95, len(d) - 1) * se
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def _half_width_mistakes(a, b):
    """(half-width, message) of the usual wrong intervals around the right mean."""
    d, n = a - b, len(a)
    se = d.std(ddof=1) / np.sqrt(n)
    t90, t95 = stats.t.ppf(0.95, n - 1), stats.t.ppf(0.975, n - 1)
    unpaired = np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    unpaired_message = ("the interval is as wide as if the two configurations had run on different replicates: "
                        "you combined the spreads of a and b. They are paired (same data draw, same start), so "
                        "take the differences a - b first and use their spread.")
    return [
        (t90 * unpaired, unpaired_message),
        (stats.t.ppf(0.95, 2 * n - 2) * unpaired, unpaired_message),
        (stats.norm.ppf(0.95) * se, f"you used the normal quantile 1.645; with {n} replicates the mean of the "
                                    f"differences follows Student's t with {n - 1} degrees of freedom "
                                    f"(quantile {t90:.3f}), so the interval is wider."),
        (t95 * se, "that is the two-sided 95 % interval. The claims' rule uses one-sided 95 % bounds, which are "
                   "the ends of the two-sided 90 % interval (quantile 0.95 of Student's t)."),
        (t90 * d.std(ddof=0) / np.sqrt(n), "the standard deviation was computed with ddof=0; the sample standard "
                                           "deviation of the differences divides by n - 1."),
        (t90 * d.std(ddof=1), "the half-width uses the standard deviation of the differences; the mean's "
                              "uncertainty is its standard error, the standard deviation divided by √n."),
        (stats.t.ppf(0.95, n) * se, f"the t quantile has {n} degrees of freedom; with {n} differences it has "
                                    f"{n - 1}."),
    ]


def _three_numbers(answer) -> tuple[float, float, float] | None:
    if isinstance(answer, (tuple, list, np.ndarray)) and np.ndim(answer) == 1 and len(answer) == 3:
        try:
            return tuple(float(v) for v in answer)
        except (TypeError, ValueError):
            return None
    return None


def check_paired_interval(paired: Callable[..., Any]) -> Verdict:
    """Exercise 13.1: ``paired(a, b)`` returns (mean, low, high) of a - b, compared with ``cu.claims.interval``."""
    rng = np.random.default_rng(1101)
    for n in (8, int(rng.integers(5, 7)), int(rng.integers(12, 20))):
        shared = rng.normal(0.35, 0.05, n)           # each replicate's luck, common to both configurations
        a = np.round(shared + 0.02 + rng.normal(0, 0.01, n), 3)
        b = np.round(shared + rng.normal(0, 0.01, n), 3)
        given_a, given_b = a.copy(), b.copy()
        answer, unanswered = attempt(paired, given_a, given_b, name="paired_interval",
                                     shown=f"paired_interval(a, b) with {n} replicates")
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given_a, a) and np.array_equal(given_b, b)):
            return report(False, "paired_interval changed a or b in place (e.g. a -= b). The caller still needs "
                                 "both: compute the differences into a new array.")
        numbers = _three_numbers(answer)
        if numbers is None:
            shape = f" of length {len(answer)}" if hasattr(answer, "__len__") else ""
            return report(False, f"paired_interval returned {type(answer).__name__}{shape}; return three numbers, "
                                 "(mean, low, high), as a tuple.")
        mean, low, high = numbers
        expected, _, expected_low, expected_high = interval(a - b, 0.90)
        if np.isclose(mean, -expected, rtol=0, atol=1e-12) and not np.isclose(expected, 0, atol=1e-12):
            return report(False, "the sign is reversed: the difference is a - b (the first configuration minus the "
                                 "second), as res.difference(metric, 'A', 'B') gives it.")
        if not np.isclose(mean, expected, rtol=0, atol=1e-12):
            return report(False, f"the mean is {mean:.5f}; the mean of the {n} paired differences a - b is "
                                 f"{expected:.5f}.")
        if not np.isclose(high - mean, mean - low, rtol=1e-9, atol=1e-12):
            return report(False, "the interval is not centred on the mean: a t-interval is mean ± quantile × "
                                 "standard error.")
        if np.allclose([low, high], [expected_low, expected_high], rtol=0, atol=1e-9):
            continue
        half = (high - low) / 2
        for width, message in _half_width_mistakes(a, b):
            if np.isclose(half, width, rtol=1e-3, atol=0):  # 1.645 for 1.6449 is the same mistake
                return report(False, message)
        return report(False, f"with {n} replicates the interval is [{low:.5f}, {high:.5f}]; cu.claims.interval "
                             f"gives [{expected_low:.5f}, {expected_high:.5f}].")
    return report(True, "the same mean and interval as cu.claims.interval, the interval every claim of the course "
                        "is judged by.")


# ---------------------------------------------------------------- the recipe as a Config

RECIPE = {"batch_norm": True, "dropout": 0.1, "optimizer": "adamw", "weight_decay": 0.01, "l2": 0.0,
          "patience": 10, "restore_best": True}


def recipe_config(base: Config) -> Config:
    """``base`` with the recipe's regularizers: batch norm, dropout 0.1, AdamW decay 0.01, early stopping."""
    return dataclasses.replace(base, **RECIPE)


def _bases(rng) -> list[Config]:
    """Three random MLP configurations (the first two with an L2 term the recipe must remove) and a CNN."""
    return [Config(hidden=tuple(int(w) for w in rng.choice([32, 64, 100, 128], int(rng.integers(1, 4)))),
                   lr=float(rng.choice([1e-3, 2e-3, 5e-3])), epochs=int(rng.integers(20, 60)),
                   batch_size=int(rng.choice([50, 100])), activation=str(rng.choice(["relu", "gelu"])),
                   l2=1e-3 if i < 2 else 0.0, seed=int(rng.integers(0, 100)))
            for i in range(3)] + [Config(model="cnn", hidden=(25, 25, 25), lr=0.01)]


def check_recipe_config(make_config: Callable[..., Any]) -> Verdict:
    """Exercise 13.2: ``make_config(base)`` returns base with the regularizers of the written recipe."""
    for base in _bases(np.random.default_rng(1102)):
        answer, unanswered = attempt(make_config, base, name="recipe_config", shown="recipe_config(base)")
        if unanswered is not None:
            return unanswered
        if not isinstance(answer, Config):
            return report(False, f"recipe_config returned {type(answer).__name__}; return a course_utils Config "
                                 "(cu.Config), built from base with dataclasses.replace.")
        got = {name: getattr(answer, name) for name in RECIPE}
        if got == RECIPE and answer == recipe_config(base):
            continue
        if answer.l2 > 0 and answer.weight_decay == 0:
            return report(False, "you added an L2 penalty to the loss (l2); the recipe asks for AdamW's decoupled "
                                 "weight decay (optimizer='adamw', weight_decay), which notebook 03 shows is not "
                                 "the same thing with Adam.")
        if answer.weight_decay == RECIPE["weight_decay"] and answer.optimizer != "adamw":
            return report(False, f"weight_decay with optimizer={answer.optimizer!r} is coupled: Adam adds it to the "
                                 "gradient, like an L2 term. Decoupled decay needs optimizer='adamw'.")
        if answer.l2 != 0:
            return report(False, f"l2={answer.l2:g} is still on: the recipe replaces any L2 term in the loss by "
                                 "the decoupled decay (one technique per mechanism).")
        if np.isclose(answer.dropout, 1 - RECIPE["dropout"]):
            return report(False, f"dropout={answer.dropout:g} is the probability to KEEP a unit; Config.dropout is "
                                 "the probability to drop one.")
        for name, wanted in RECIPE.items():
            if got[name] != wanted:
                return report(False, f"{name} is {got[name]!r}; the recipe asks for {wanted!r}.")
        changed = [f.name for f in dataclasses.fields(Config)
                   if f.name not in RECIPE and getattr(answer, f.name) != getattr(base, f.name)]
        return report(False, f"the recipe's fields are right, but {', '.join(changed)} differ from base: keep every "
                             "other field of base (start from base with dataclasses.replace, not from Config()).")
    return report(True, "every recipe field is set and every other field of base is kept, for MLPs and a CNN.")


# ---------------------------------------------------------------- a claim of your own

METRICS = ("train_acc", "val_acc", "test_acc", "gap")
REGULARIZERS = ("dropout", "input_dropout", "batch_norm", "input_noise", "weight_decay", "l1", "l2",
                "label_smoothing", "patience")
NOT_SETTINGS = {"label", "seed", "epochs", "best_epoch", "diverged", "interrupted", "gap",
                *(f"{split}_{m}" for split in ("train", "val", "test") for m in ("loss", "acc"))}


class _Recorded:
    """The replicates' data, remembering which replicates were asked for."""

    def __init__(self, draws):
        self.draws, self.asked = draws, set()

    def __call__(self, replicate: int):
        self.asked.add(int(replicate))
        return self.draws(replicate)


def _claim_problem(answer, recorded) -> str | None:
    """What keeps the answer from being a claim the course would accept, or None."""
    from ..sweep import SweepResult
    if not isinstance(answer, dict):
        return (f"my_claim returned {type(answer).__name__}; return a dict with the keys 'statement', 'runs', "
                "'metric', 'above' and 'why'.")
    missing = [key for key in ("statement", "runs", "metric", "above", "why") if key not in answer]
    if missing:
        return f"the dict has no {', '.join(repr(k) for k in missing)}."
    runs = answer["runs"]
    if not isinstance(runs, SweepResult):
        return f"'runs' is a {type(runs).__name__}; it must be what cu.sweep returned."
    labels = set(runs.table["label"])
    if labels != {"A", "B"}:
        return f"the sweep's labels are {sorted(labels)}; label the two configurations 'A' and 'B' (a dict)."
    seeds = {label: set(runs.table.loc[runs.table["label"] == label, "seed"]) for label in ("A", "B")}
    if seeds["A"] != seeds["B"]:
        return "A and B did not run on the same replicates, so they cannot be paired: give both the same seeds."
    if len(seeds["A"]) < 5:
        return f"{len(seeds['A'])} replicates; a claim about a difference needs at least 5."
    if recorded.asked != seeds["A"]:
        return ("the runs did not train on the replicates of draws: pass draws itself to cu.sweep, so that each "
                "replicate has its own data draw as well as its own start.")
    differ = [c for c in runs.table.columns if c not in NOT_SETTINGS]
    if len(differ) != 1:
        return (f"A and B differ in {', '.join(differ) or 'nothing'}: change exactly one setting, or the claim "
                "cannot say which change made the difference.")
    if differ[0] not in REGULARIZERS:
        return f"A and B differ in {differ[0]}; the claim should compare one regularization setting."
    if answer["metric"] not in METRICS:
        return f"metric {answer['metric']!r}: use one of {', '.join(METRICS)}."
    if not isinstance(answer["above"], (int, float)) or isinstance(answer["above"], bool):
        return f"'above' is {answer['above']!r}; give the threshold as a number."
    for key, words in (("statement", 5), ("why", 8)):
        if not isinstance(answer[key], str) or len(answer[key].split()) < words:
            return (f"'{key}' must be a sentence of at least {words} words"
                    + (": why is this threshold the effect size that matters?" if key == "why" else "."))
    return None


def check_my_claim(my_claim: Callable[..., Any], draws: Callable[[int], Dataset] | None = None) -> Verdict:
    """Exercise 13.3: ``my_claim(draws)`` runs a small paired sweep and returns a claim with a justified threshold.

    ``draws`` defaults to the replicates of notebook 13 (400 training examples, 20 % for validation).
    """
    import torch

    from ..data import Draws, load_mnist1d
    recorded = _Recorded(draws if draws is not None else Draws(load_mnist1d(), n_train=400, val_fraction=0.2))
    state = np.random.get_state()
    with torch.random.fork_rng():   # the notebook's random streams are left as they were
        try:
            answer, unanswered = attempt(my_claim, recorded, name="my_claim", shown="my_claim(draws)")
        finally:
            np.random.set_state(state)
    if unanswered is not None:
        return unanswered
    problem = _claim_problem(answer, recorded)
    if problem:
        return report(False, problem)
    differences = answer["runs"].difference(answer["metric"], "A", "B")
    mean, _, low, _ = interval(differences, 0.90)
    evidence = (f"A − B {answer['metric']}: mean {mean:.3f}, one-sided 95 % bound {low:.3f} over "
                f"{len(differences)} replicates, threshold {answer['above']:g}")
    if low <= answer["above"]:
        return report(False, f"your claim does not hold ({evidence}). Change the sentence to what was measured "
                             "(a smaller effect, or 'not distinguishable with this many replicates'), never the "
                             "threshold to fit the run.")
    return report(True, f"{answer['statement']} ({evidence}). The checker cannot judge your reason; reread it: "
                        "would you have chosen this threshold before seeing the result?")
