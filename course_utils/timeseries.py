"""Forecasting data: a synthetic autoregressive series, a chronological split and sliding windows.

A series is split by time (train, then validation, then test), never shuffled,
so a model is always judged on the future of what it was trained on. Windows
turn a series into (last ``window`` values, next value) pairs: a regression
``Dataset`` that ``fit`` trains like any other.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .data import Dataset, draw_rng
from .validation import check_array, check_nonnegative, check_number, check_positive_int

__all__ = ["is_stationary", "make_ar_series", "chronological_split", "make_windows", "forecasting_dataset"]


def is_stationary(coefficients: npt.ArrayLike) -> bool:
    """True when the AR recursion x[t] = Σ φ_k x[t-k] + noise does not blow up (all roots inside |z| < 1)."""
    phi = check_array(coefficients, "coefficients", ndim=1)
    companion = np.zeros((len(phi), len(phi)))
    companion[0] = phi
    companion[1:, :-1] = np.eye(len(phi) - 1)
    return bool(np.max(np.abs(np.linalg.eigvals(companion))) < 1.0)


def make_ar_series(n_steps: int, coefficients: npt.ArrayLike = (0.6, -0.2, 0.3), noise: float = 1.0, seed: int = 0,
                   burn_in: int = 200) -> np.ndarray:
    """``n_steps`` values of x[t] = φ₁ x[t-1] + … + φ_p x[t-p] + N(0, noise²).

    The first ``burn_in`` values are generated and dropped, so the series starts
    in its stationary regime. The best possible one-step forecast is the
    recursion itself, whose mean squared error is ``noise²``.
    """
    check_positive_int(n_steps, "n_steps")
    phi = check_array(coefficients, "coefficients", ndim=1)
    check_nonnegative(noise, "noise")
    check_positive_int(burn_in, "burn_in", minimum=0)
    if not is_stationary(phi):
        raise ValueError(f"coefficients {phi.tolist()} give an explosive series (a root of the AR polynomial is "
                         "on or outside the unit circle); choose smaller coefficients")
    rng = draw_rng(seed)
    p = len(phi)
    total = n_steps + burn_in + p
    shocks = noise * rng.standard_normal(total)
    x = np.zeros(total)
    for t in range(p, total):
        x[t] = phi @ x[t - p:t][::-1] + shocks[t]  # x[t-1], x[t-2], ..., x[t-p]
    return x[burn_in + p:]


def chronological_split(series: npt.ArrayLike, val_fraction: float = 0.2,
                        test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) as consecutive, non-overlapping stretches of ``series``, in time order."""
    series = check_array(series, "series", ndim=1)
    check_number(val_fraction, "val_fraction", low=0.0, high=1.0, high_inclusive=False)
    check_number(test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1 so that some training data remain; "
                         f"got {val_fraction} + {test_fraction}")
    n = len(series)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    n_train = n - n_val - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(f"a series of {n} values is too short for this split ({n_train} train, {n_val} "
                         f"validation, {n_test} test)")
    return series[:n_train], series[n_train:n_train + n_val], series[n_train + n_val:]


def make_windows(series: npt.ArrayLike, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``x[i] = series[i : i + window]`` and targets ``y[i] = series[i + window]``, in time order.

    Returns ``x`` of shape (len(series) - window, window) and ``y`` of shape
    (len(series) - window,): each target is the value right after its inputs.
    """
    series = check_array(series, "series", ndim=1)
    window = check_positive_int(window, "window")
    if len(series) <= window:
        raise ValueError(f"a series of {len(series)} values has no window of {window} inputs plus a target; "
                         f"it needs at least {window + 1} values")
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], window).copy()
    return x, series[window:].copy()


def forecasting_dataset(series: npt.ArrayLike, window: int, val_fraction: float = 0.2, test_fraction: float = 0.2,
                        name: str = "AR series") -> Dataset:
    """Windowed one-step-ahead forecasting as a regression ``Dataset`` (float32 targets).

    The series is split chronologically first; each part is then windowed on its
    own, so no window straddles two parts and no target is ever an input of
    another split. Validation is omitted when ``val_fraction`` is 0.
    """
    train, val, test = chronological_split(series, val_fraction, test_fraction)
    for part, values in (("training", train), ("validation", val), ("test", test)):
        if len(values) and len(values) <= window:
            raise ValueError(f"the {part} part has {len(values)} values, too few for windows of {window}; "
                             "use a longer series or a shorter window")
    (x_train, y_train), (x_test, y_test) = make_windows(train, window), make_windows(test, window)
    x_val = y_val = None
    if len(val):
        x_val, y_val = make_windows(val, window)
        x_val, y_val = x_val.astype(np.float32), y_val.astype(np.float32)
    return Dataset(x_train.astype(np.float32), y_train.astype(np.float32), x_test.astype(np.float32),
                   y_test.astype(np.float32), x_val=x_val, y_val=y_val, name=name)
