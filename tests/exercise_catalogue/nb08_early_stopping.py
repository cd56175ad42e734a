"""Notebook 08: early stopping by hand, in a training loop, as shrinkage, and forecasting windows."""
from __future__ import annotations

import math

import numpy as np

from course_utils.checks.early_stopping import (check_early_stop, check_make_windows, check_shrinkage,
                                                check_train_with_early_stopping, early_stop,
                                                train_with_early_stopping)

from . import Exercise, Wrong


# ------------------------------------------------------------------------------------------ 08.1 early_stop

def with_best_index(val_losses, patience, min_delta=0.0, restore_best=True):
    losses, best_epoch = list(val_losses), None
    for epoch in range(1, len(losses) + 1):
        if best_epoch is None or losses[epoch - 1] < losses[best_epoch - 1] - min_delta:
            best_epoch = epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch if restore_best else epoch
    return len(losses), best_epoch if restore_best else len(losses)


def _rule(val_losses, patience, min_delta, restore_best, improves, wait=0, keep_last=False, start=1):
    best, best_epoch, waited, previous = math.inf, 0, 0, math.inf
    for epoch, loss in enumerate(val_losses, start=start):
        if improves(loss, best, previous, min_delta):
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited > patience - 1 + wait:
                break
        previous = loss
    return epoch, best_epoch if restore_best and not keep_last else epoch


def patience_off_by_one(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < b - d, wait=1)


def min_delta_not_strict(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l <= b - d)


def min_delta_ignored(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < b)


def min_delta_added(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < b + d)


def against_previous_epoch(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < p - d)


def restores_the_last(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < b - d, keep_last=True)


def always_restores(val_losses, patience, min_delta=0.0, restore_best=True):
    return early_stop(val_losses, patience, min_delta, True)


def counts_from_zero(val_losses, patience, min_delta=0.0, restore_best=True):
    return _rule(val_losses, patience, min_delta, restore_best, lambda l, b, p, d: l < b - d, start=0)


def stop_epoch_only(val_losses, patience, min_delta=0.0, restore_best=True):
    return early_stop(val_losses, patience, min_delta, restore_best)[0]


def pops_the_losses(val_losses, patience, min_delta=0.0, restore_best=True):
    best, best_epoch, epoch, waited = math.inf, 0, 0, 0
    while val_losses:
        loss, epoch = val_losses.pop(0), epoch + 1
        if loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return epoch, best_epoch if restore_best else epoch


# ----------------------------------------------------------------------------- 08.2 train_with_early_stopping

def cloned_tensors(model, train_epoch, validation_loss, patience, max_epochs):
    best, best_state, best_epoch = math.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        train_epoch(model)
        loss = validation_loss(model)
        if loss < best:
            best, best_epoch = loss, epoch
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return epoch


def _loop(model, train_epoch, validation_loss, patience, max_epochs, keep=lambda state: state, restore=True,
          extra=0):
    best, best_state, waited = math.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        train_epoch(model)
        loss = validation_loss(model)
        if loss < best:
            best, best_state, waited = loss, keep(model.state_dict()), 0
        else:
            waited += 1
            if waited >= patience + extra:
                break
    if restore:
        model.load_state_dict(best_state)
    return epoch


def state_dict_without_copy(model, train_epoch, validation_loss, patience, max_epochs):
    return _loop(model, train_epoch, validation_loss, patience, max_epochs)


def never_restores(model, train_epoch, validation_loss, patience, max_epochs):
    return _loop(model, train_epoch, validation_loss, patience, max_epochs, restore=False)


def loop_patience_off_by_one(model, train_epoch, validation_loss, patience, max_epochs):
    return _loop(model, train_epoch, validation_loss, patience, max_epochs, extra=1)


def never_stops(model, train_epoch, validation_loss, patience, max_epochs):
    return _loop(model, train_epoch, validation_loss, patience, max_epochs, extra=max_epochs)


def returns_nothing(model, train_epoch, validation_loss, patience, max_epochs):
    train_with_early_stopping(model, train_epoch, validation_loss, patience, max_epochs)


# ------------------------------------------------------------------------------------------- 08.3 shrinkage

def shrinkage(s, lr, steps, lam):
    s = np.asarray(s, dtype=float)
    return 1 - (1 - lr * s) ** steps, s / (s + lam)


def shrinkage_in_lists(s, lr, steps, lam):
    return [1 - (1 - lr * v) ** steps for v in s], [v / (v + lam) for v in s]


def not_yet_learned(s, lr, steps, lam):
    return (1 - lr * s) ** steps, s / (s + lam)


def exponent_off_by_one(s, lr, steps, lam):
    return 1 - (1 - lr * s) ** (steps + 1), s / (s + lam)


def continuous_time(s, lr, steps, lam):
    return 1 - np.exp(-lr * s * steps), s / (s + lam)


def what_ridge_removes(s, lr, steps, lam):
    return 1 - (1 - lr * s) ** steps, lam / (s + lam)


def inverse_only(s, lr, steps, lam):
    return 1 - (1 - lr * s) ** steps, 1 / (s + lam)


def one_number(s, lr, steps, lam):
    return float(np.mean(1 - (1 - lr * s) ** steps))


def scales_s_in_place(s, lr, steps, lam):
    ridge = s / (s + lam)
    s *= lr
    return 1 - (1 - s) ** steps, ridge


# -------------------------------------------------------------------------------------------- 08.4 windows

def make_windows(series, window):
    series = np.asarray(series, dtype=float)
    return np.array([series[i:i + window] for i in range(len(series) - window)]), series[window:]


def sliding_view(series, window):
    return np.lib.stride_tricks.sliding_window_view(series, window + 1)[:, :-1], series[window:]


def shuffled(series, window):
    x, y = make_windows(series, window)
    order = np.random.default_rng(0).permutation(len(y))
    return x[order], y[order]


def target_is_last_input(series, window):
    x, _ = make_windows(series, window)
    return x, x[:, -1]


def one_window_too_many(series, window):
    series = np.asarray(series)
    return (np.array([series[i:i + window] for i in range(len(series) - window + 1)]),
            np.append(series[window:], 0.0))


def target_inside_the_window(series, window):
    series = np.asarray(series)
    return np.array([series[i:i + window + 1] for i in range(len(series) - window)]), series[window:]


def one_stacked_array(series, window):
    return np.column_stack(make_windows(series, window))


def standardizes_in_place(series, window):
    series -= series.mean()
    series /= series.std()
    return make_windows(series, window)


EXERCISES = [
    Exercise("08.1 early stopping by hand", check_early_stop, right=(early_stop, with_best_index), wrong={
        "patience off by one": Wrong(patience_off_by_one, "patience is off by one"),
        ">= instead of > min_delta": Wrong(min_delta_not_strict, "exactly min_delta better"),
        "min_delta ignored": Wrong(min_delta_ignored, "min_delta is ignored"),
        "min_delta added": Wrong(min_delta_added, "min_delta is applied the wrong way"),
        "compared with the previous epoch": Wrong(against_previous_epoch, "compared each loss with the previous"),
        "restores the last epoch": Wrong(restores_the_last, "you restored the weights of the last epoch"),
        "restores even when told not to": Wrong(always_restores, "with restore_best=False nothing is restored"),
        "epochs from 0": Wrong(counts_from_zero, "counted from 0"),
        "the stop epoch only": Wrong(stop_epoch_only, "must return a pair", kind="type"),
        "pops the list": Wrong(pops_the_losses, "changed the list of validation losses", kind="in-place"),
    }),
    Exercise("08.2 early stopping in a training loop", check_train_with_early_stopping,
             right=(train_with_early_stopping, cloned_tensors), wrong={
                 "state_dict without a copy": Wrong(state_dict_without_copy, "holds references to the live tensors"),
                 "never restores": Wrong(never_restores, "not those of the best epoch"),
                 "patience off by one": Wrong(loop_patience_off_by_one, "training should stop after epoch"),
                 "never stops early": Wrong(never_stops, "training should stop after epoch"),
                 "returns nothing": Wrong(returns_nothing, "must return the number of epochs trained", kind="type"),
             }),
    Exercise("08.3 the two shrinkage factors", check_shrinkage, right=(shrinkage, shrinkage_in_lists), wrong={
        "the part not yet learned": Wrong(not_yet_learned, "*not yet* learned"),
        "exponent off by one": Wrong(exponent_off_by_one, "off by one"),
        "continuous time": Wrong(continuous_time, "continuous-time"),
        "what ridge removes": Wrong(what_ridge_removes, "removes"),
        "inverse only": Wrong(inverse_only, "multiply by s"),
        "one number": Wrong(one_number, "must return a pair", kind="type"),
        "scales s in place": Wrong(scales_s_in_place, "changed its input array s in place", kind="in-place"),
    }),
    Exercise("08.4 windows without leaks", check_make_windows, right=(make_windows, sliding_view), wrong={
        "shuffled": Wrong(shuffled, "not in time order"),
        "target is the last input": Wrong(target_is_last_input, "leaks into the inputs"),
        "one window too many": Wrong(one_window_too_many, "no value after it"),
        "target inside the window": Wrong(target_inside_the_window, "the target is not part of it"),
        "one stacked array": Wrong(one_stacked_array, "must return a pair", kind="type"),
        "standardizes in place": Wrong(standardizes_in_place, "changed the series it was given in place",
                                       kind="in-place"),
    }),
]
