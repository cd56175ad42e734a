"""Checkers for the exercises of notebook 08 (early stopping), and the references they compare against.

``early_stop`` is the stopping rule the notebook teaches, written out on a
sequence of validation losses; the unit tests and ``check_early_stop`` compare
it with the ``EarlyStopping`` that ``cu.fit`` uses. ``train_with_early_stopping``
is the same rule around a training loop, restoring the best weights.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from ..timeseries import make_windows as reference_windows
from ..training import EarlyStopping
from . import Verdict, attempt, report

__all__ = ["check_early_stop", "check_make_windows", "check_shrinkage", "check_train_with_early_stopping",
           "early_stop", "train_with_early_stopping"]


def early_stop(val_losses: Iterable[float], patience: int, min_delta: float = 0.0, restore_best: bool = True) -> tuple[int, int]:
    """(stop epoch, epoch whose weights are kept), both 1-based, for a sequence of validation losses.

    An epoch improves only if it beats the best loss so far by more than ``min_delta``; training stops after
    ``patience`` epochs in a row without improvement, or at the end of the sequence.
    """
    best, best_epoch, waited = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return epoch, best_epoch if restore_best else epoch


def train_with_early_stopping(model: torch.nn.Module, train_epoch: Callable[[torch.nn.Module], object],
                              validation_loss: Callable[[torch.nn.Module], float], patience: int,
                              max_epochs: int) -> int:
    """Train ``model`` one epoch at a time until ``patience`` epochs bring no lower validation loss.

    Returns the number of epochs trained and leaves the model with the weights of its best epoch.
    ``state_dict()`` holds references to the live tensors, so the best weights are kept as a copy.
    """
    best, best_state, waited = math.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        train_epoch(model)
        loss = validation_loss(model)
        if loss < best:
            best, best_state, waited = loss, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    return epoch


# ------------------------------------------------------------------------------------ 08.1: early stopping

def _library(losses, patience, min_delta, restore_best):
    """The answer of the EarlyStopping that cu.fit uses."""
    stopper = EarlyStopping(patience, min_delta)
    for epoch, loss in enumerate(losses, start=1):
        stopper.update(float(loss), epoch)
        if stopper.should_stop:
            break
    return epoch, stopper.best_epoch if restore_best else epoch


def _variant(losses, patience, min_delta, restore_best, *, improves, extra_wait=0, restore="best", shift=0):
    """A typical mistaken version of the rule, to name the learner's mistake by its answers."""
    best, best_epoch, waited, previous = math.inf, 0, 0, math.inf
    for epoch, loss in enumerate(losses, start=1):
        if improves(loss, best, previous, min_delta):
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience + extra_wait:
                break
        previous = loss
    kept = {"best": best_epoch if restore_best else epoch, "last": epoch, "always best": best_epoch}[restore]
    return epoch + shift, kept + shift


def _strict(loss, best, previous, delta):
    return loss < best - delta


MISTAKES = [
    (dict(improves=_strict, extra_wait=1),
     "patience is off by one: you stopped after patience + 1 epochs without improvement. Stop as soon as "
     "`patience` epochs in a row have not improved (waited >= patience)."),
    (dict(improves=lambda loss, best, previous, delta: loss <= best - delta),
     "an epoch that is exactly min_delta better counted as an improvement: it must be better by MORE than "
     "min_delta (a strict <), so that noise-sized gains do not reset the clock."),
    (dict(improves=lambda loss, best, previous, delta: loss < best),
     "min_delta is ignored: any decrease reset the clock. An improvement must beat the best by more than min_delta."),
    (dict(improves=lambda loss, best, previous, delta: loss < best + delta),
     "min_delta is applied the wrong way: a loss slightly WORSE than the best counted as an improvement. "
     "Subtract min_delta from the best, do not add it."),
    (dict(improves=lambda loss, best, previous, delta: loss < previous - delta),
     "you compared each loss with the previous epoch's; compare it with the best loss so far, or a slow "
     "zig-zag upwards never stops."),
    (dict(improves=_strict, restore="last"),
     "you restored the weights of the last epoch trained; restore_best=True keeps the weights of the best epoch "
     "(the last ones are patience epochs into overfitting)."),
    (dict(improves=_strict, restore="always best"),
     "with restore_best=False nothing is restored: the weights kept are the last epoch's."),
    (dict(improves=_strict, shift=-1),
     "your epochs are counted from 0; count them from 1 (the first epoch is epoch 1)."),
]


def _cases():
    """Hand-made curves that separate the usual mistakes, then random ones (lists and NumPy arrays)."""
    cases = [([1.0, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0, 1.1], 3, 0.0, True),
             ([2.0, 1.5, 1.25, 1.25, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0], 2, 0.25, True),   # exact ties with min_delta
             ([2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3], 3, 0.5, True),
             ([3.0, 2.0, 2.5, 1.9, 2.4, 1.8, 2.3, 2.9, 3.5, 4.0, 4.5], 2, 0.05, True),
             ([1.0, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0, 1.1], 3, 0.0, False),
             ([1.0, 0.9, 0.8, 0.7], 2, 0.0, True)]                                    # never stops early
    rng = np.random.default_rng(8)
    for _ in range(300):
        curve = np.cumsum(rng.normal(0, 0.1, int(rng.integers(5, 40)))) + 3
        cases.append((curve if rng.random() < 0.5 else curve.tolist(), int(rng.integers(1, 8)),
                      float(rng.choice([0.0, 0.01, 0.1])), bool(rng.random() < 0.8)))
    return cases


def check_early_stop(early_stop_fn: Callable[..., Any]) -> Verdict:
    """Exercise 08.1: ``early_stop(val_losses, patience, min_delta, restore_best)`` → (stop, restored epoch)."""
    cases = _cases()
    answers = []
    for losses, patience, min_delta, restore_best in cases:
        given = copy.copy(losses)
        answer, unanswered = attempt(early_stop_fn, given, patience, min_delta, restore_best, name="early_stop",
                                     shown=f"early_stop(val_losses, patience={patience}, min_delta={min_delta}, "
                                           f"restore_best={restore_best})")
        if unanswered is not None:
            return unanswered
        if len(given) != len(losses) or not np.array_equal(np.asarray(given, dtype=float),
                                                             np.asarray(losses, dtype=float)):
            return report(False, "early_stop changed the list of validation losses it was given (e.g. with pop, "
                                 "sort or reverse); read it without changing it, the caller still needs it.")
        try:
            pair = tuple(int(v) for v in answer)
        except (TypeError, ValueError):
            pair = ()
        if len(pair) != 2 or isinstance(answer, (str, dict)):
            return report(False, "early_stop must return a pair (stop_epoch, restored_epoch) of whole epoch "
                                 f"numbers; got {type(answer).__name__} {answer!r}.")
        answers.append(pair)
    expected = [_library(*case) for case in cases]
    if answers == expected:
        return report(True, f"the same stop and restored epochs as the course's EarlyStopping on {len(cases)} "
                            "loss curves, with patience, min_delta and restore_best.")
    for options, why in MISTAKES:
        if answers == [_variant(*case, **options) for case in cases]:
            return report(False, why)
    index = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
    losses, patience, min_delta, restore_best = cases[index]
    return report(False, f"for val_losses={np.round(np.asarray(losses, dtype=float), 3).tolist()}, "
                         f"patience={patience}, min_delta={min_delta}, restore_best={restore_best} the answer "
                         f"should be (stop, restored) = {expected[index]}; yours is {answers[index]}.")


# ------------------------------------------------------------------------ 08.2: early stopping in a training loop

class _ScriptedTraining:
    """A training run whose epoch e sets known weights and whose validation loss at epoch e is scripted."""

    def __init__(self, losses, seed):
        generator = torch.Generator().manual_seed(seed)
        self.losses = losses
        self.weights = [torch.randn(2, 3, generator=generator) for _ in losses]
        self.epoch = 0

    def train_epoch(self, model):
        if self.epoch == len(self.losses):
            raise RuntimeError(f"train_epoch called a {self.epoch + 1}th time, beyond max_epochs={len(self.losses)}")
        with torch.no_grad():
            model.weight.copy_(self.weights[self.epoch])   # in place, as an optimizer step is
        self.epoch += 1

    def validation_loss(self, model):
        return self.losses[self.epoch - 1] if self.epoch else math.inf


def check_train_with_early_stopping(train: Callable[..., Any]) -> Verdict:
    """Exercise 08.2: ``train_with_early_stopping(model, train_epoch, validation_loss, patience, max_epochs)``."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_train_with_early_stopping(train)


def _check_train_with_early_stopping(train) -> Verdict:
    cases = [([1.0, 0.7, 0.8, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0], 3),
             ([2.0, 1.0, 1.5, 1.6, 1.7, 1.8], 2),
             ([1.0, 0.9, 0.8, 0.7, 0.6], 2)]                 # still improving at max_epochs
    for seed, (losses, patience) in enumerate(cases):
        run = _ScriptedTraining(losses, seed)
        model = torch.nn.Linear(3, 2)
        answer, unanswered = attempt(train, model, run.train_epoch, run.validation_loss, patience, len(losses),
                                     name="train_with_early_stopping",
                                     shown=f"train_with_early_stopping(..., patience={patience}, "
                                           f"max_epochs={len(losses)})")
        if unanswered is not None:
            return unanswered
        stop, best = _library(losses, patience, 0.0, True)
        if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
            return report(False, "train_with_early_stopping must return the number of epochs trained, an int; "
                                 f"got {type(answer).__name__}.")
        if run.epoch != stop:
            return report(False, f"with validation losses {losses} and patience {patience} training should stop "
                                 f"after epoch {stop} (the best is epoch {best}); train_epoch ran {run.epoch} times. "
                                 "Stop as soon as `patience` epochs in a row bring no lower loss.")
        if answer != run.epoch:
            return report(False, f"you trained {run.epoch} epochs but returned {answer}: return the number of "
                                 "epochs trained.")
        if torch.equal(model.weight, run.weights[best - 1]):
            continue
        if torch.equal(model.weight, run.weights[run.epoch - 1]):
            return report(False, f"the model ends with the weights of epoch {run.epoch}, the last one trained, not "
                                 f"those of the best epoch {best}. Restore the best weights at the end, and keep "
                                 "them as a copy: model.state_dict() holds references to the live tensors, which "
                                 "every later training step overwrites.")
        return report(False, f"the model does not end with the weights of the best epoch ({best}).")
    return report(True, "stops after `patience` epochs without a new best, runs to max_epochs when the loss keeps "
                        "falling, and leaves the model with the weights of its best epoch.")


# ---------------------------------------------------------------------------- 08.3: the two shrinkage factors

def check_shrinkage(shrinkage: Callable[..., Any]) -> Verdict:
    """Exercise 08.3: ``shrinkage(s, lr, steps, lam)`` → (gradient-descent factor, ridge factor)."""
    rng = np.random.default_rng(3)
    cases = [(np.array([0.001, 0.01, 0.1, 1.0]), 0.5, 20, 0.1),
             (np.sort(10 ** rng.uniform(-3, 0, 6)), float(rng.uniform(0.1, 0.9)), int(rng.integers(5, 200)),
              float(10 ** rng.uniform(-3, 0)))]
    for s, lr, steps, lam in cases:
        given = s.copy()
        answer, unanswered = attempt(shrinkage, given, lr, steps, lam, name="shrinkage")
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, s):
            return report(False, "shrinkage changed its input array s in place (e.g. s *= lr); compute new arrays.")
        try:
            gd, ridge = (np.asarray(a, dtype=float) for a in answer)
        except (TypeError, ValueError):
            return report(False, f"shrinkage must return a pair (gd, ridge) of arrays; got {type(answer).__name__}.")
        if gd.shape != s.shape or ridge.shape != s.shape:
            return report(False, f"each factor must have one value per eigenvalue, shape {s.shape}; "
                                 f"got {gd.shape} and {ridge.shape}")
        verdict = _shrinkage_mistake(gd, ridge, s, lr, steps, lam)
        if verdict is not None:
            return verdict
    return report(True, "both factors are right: large eigenvalues are kept (≈ 1), small ones shrunk (≈ 0), "
                        "and they match when λ ≈ 1/(ηt).")


def _shrinkage_mistake(gd, ridge, s, lr, steps, lam) -> Verdict | None:
    want_gd, want_ridge = 1 - (1 - lr * s) ** steps, s / (s + lam)
    values = f"s={np.round(s, 4).tolist()}, η={lr:.3g}, t={steps}"
    if not np.allclose(gd, want_gd, rtol=1e-6, atol=1e-12):
        if np.allclose(gd, (1 - lr * s) ** steps):
            why = ("you returned (1 − ηs)^t, the part of the solution that is *not yet* learned; the factor is 1 "
                   "minus it.")
        elif np.allclose(gd, 1 - (1 - lr * s) ** (steps + 1)) or np.allclose(gd, 1 - (1 - lr * s) ** (steps - 1)):
            why = "the exponent is off by one: after t steps from zero the factor is 1 − (1 − ηs)^t."
        elif np.allclose(gd, 1 - np.exp(-lr * s * steps)):
            why = "1 − exp(−ηst) is the continuous-time approximation; use the exact 1 − (1 − ηs)^t."
        else:
            why = "check the formula 1 − (1 − ηs)^t."
        return report(False, f"the gradient-descent factor for {values} should be "
                             f"{np.round(want_gd, 4).tolist()}; got {np.round(gd, 4).tolist()}: {why}")
    if not np.allclose(ridge, want_ridge, rtol=1e-6, atol=1e-12):
        if np.allclose(ridge, lam / (s + lam)):
            why = "λ/(s + λ) is how much ridge *removes*; the factor it keeps is s/(s + λ)."
        elif np.allclose(ridge, 1 / (s + lam)):
            why = "that is the inverse of (H + λI) alone; multiply by s to get the factor applied to ŵ."
        else:
            why = "check the formula s/(s + λ)."
        return report(False, f"the ridge factor for s={np.round(s, 4).tolist()}, λ={lam:.3g} should be "
                             f"{np.round(want_ridge, 4).tolist()}; got {np.round(ridge, 4).tolist()}: {why}")
    return None


# ------------------------------------------------------------------------------- 08.4: windows without leaks

def check_make_windows(make_windows: Callable[..., Any]) -> Verdict:
    """Exercise 08.4: ``make_windows(series, window)`` → chronological (inputs, next value) pairs."""
    rng = np.random.default_rng(4)
    cases = [(np.arange(10.0) * 1.5 + 100, 3)] + [(np.round(rng.normal(0, 1, int(rng.integers(12, 30))), 3),
                                                   int(rng.integers(2, 7))) for _ in range(2)]
    for series, window in cases:
        verdict = _check_windows_case(make_windows, series, window)
        if verdict is not None:
            return verdict
    return report(True, "each target is the value right after its window, and the pairs stay in time order.")


def _check_windows_case(make_windows, series, window) -> Verdict | None:
    want_x, want_y = reference_windows(series, window)
    given = series.copy()
    answer, unanswered = attempt(make_windows, given, window, name="make_windows")
    if unanswered is not None:
        return unanswered
    if not np.array_equal(given, series):
        return report(False, "make_windows changed the series it was given in place; the caller still needs it.")
    try:
        x, y = (np.asarray(a, dtype=float) for a in answer)
    except (TypeError, ValueError):
        return report(False, f"make_windows must return a pair (x, y) of arrays; got {type(answer).__name__}"
                             f"{' of shape ' + str(np.shape(answer)) if hasattr(answer, 'shape') else ''}.")
    if x.shape != want_x.shape or y.shape != want_y.shape:
        hint = ""
        if x.shape[:1] == (len(series) - window + 1,) or y.shape[:1] == (len(series) - window + 1,):
            hint = " The last window has no value after it, so it cannot be a training pair."
        elif x.shape[1:] == (window + 1,):
            hint = " Each input row holds `window` values; the target is not part of it."
        return report(False, f"for a series of {len(series)} values and window {window}, x must have shape "
                             f"{want_x.shape} and y shape {want_y.shape}; got {x.shape} and {y.shape}.{hint}")
    if np.array_equal(x, want_x) and np.array_equal(y, want_y):
        return None
    if sorted(map(tuple, np.column_stack([x, y]))) == sorted(map(tuple, np.column_stack([want_x, want_y]))):
        return report(False, "your windows are right but not in time order: never shuffle a series before "
                             "splitting it, or the model trains on the future of its test data.")
    if np.array_equal(y, want_x[:, -1]):
        return report(False, "each target is the last value of its own window: the answer leaks into the "
                             "inputs. The target must be the value *after* the window.")
    return report(False, f"for series {series.tolist()} and window {window}, the first pair should be "
                         f"x[0]={want_x[0].tolist()}, y[0]={want_y[0]}; got x[0]={x[0].tolist()}, y[0]={y[0]}.")
