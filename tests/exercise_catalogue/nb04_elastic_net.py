"""Notebook 04: the elastic-net objective, one coordinate-descent update, and where the path starts."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.elastic_net import (check_enet_objective, check_enet_update, check_largest_alpha,
                                             enet_update, largest_alpha)

from . import Exercise, Wrong


def objective(x, y, w, alpha, l1_ratio):
    n = len(y)
    return (np.sum((y - x @ w) ** 2) / (2 * n) + alpha * l1_ratio * np.sum(np.abs(w))
            + alpha * (1 - l1_ratio) / 2 * np.sum(w ** 2))


def objective_in_torch(x, y, w, alpha, l1_ratio):
    x, y, w = (torch.as_tensor(a) for a in (x, y, w))
    return (0.5 * torch.mean((y - x @ w) ** 2) + alpha * l1_ratio * w.abs().sum()
            + alpha * (1 - l1_ratio) / 2 * w.square().sum())


def sse(x, y, w):
    return np.sum((y - x @ w) ** 2)


def penalties(w, alpha, l1_ratio):
    return alpha * l1_ratio * np.abs(w).sum() + alpha * (1 - l1_ratio) / 2 * (w ** 2).sum()


def objective_over_n(x, y, w, alpha, l1_ratio):
    return sse(x, y, w) / len(y) + penalties(w, alpha, l1_ratio)


def objective_unscaled(x, y, w, alpha, l1_ratio):
    return sse(x, y, w) + penalties(w, alpha, l1_ratio)


def objective_halved(x, y, w, alpha, l1_ratio):
    return sse(x, y, w) / 2 + penalties(w, alpha, l1_ratio)


def l2_without_half(x, y, w, alpha, l1_ratio):
    return sse(x, y, w) / (2 * len(y)) + alpha * l1_ratio * np.abs(w).sum() + alpha * (1 - l1_ratio) * (w ** 2).sum()


def ratios_swapped(x, y, w, alpha, l1_ratio):
    return objective(x, y, w, alpha, 1 - l1_ratio)


def l1_without_abs(x, y, w, alpha, l1_ratio):
    return sse(x, y, w) / (2 * len(y)) + alpha * l1_ratio * w.sum() + alpha * (1 - l1_ratio) / 2 * (w ** 2).sum()


def objective_per_sample(x, y, w, alpha, l1_ratio):
    return (y - x @ w) ** 2 / 2 + penalties(w, alpha, l1_ratio)


def update_in_steps(x, y, w, j, alpha, l1_ratio):
    """The same update from the full residual, adding feature j's own contribution back."""
    n = len(y)
    z = x[:, j] @ (y - x @ w) / n + np.mean(x[:, j] ** 2) * w[j]
    shrunk = np.clip(abs(z) - alpha * l1_ratio, 0, None) * np.sign(z)
    return shrunk / (np.mean(x[:, j] ** 2) + alpha * (1 - l1_ratio))


def update_in_torch(x, y, w, j, alpha, l1_ratio):
    x, y, w = (torch.as_tensor(a) for a in (x, y, w))
    others = torch.arange(len(w)) != j
    partial = y - x[:, others] @ w[others]
    z = x[:, j] @ partial / len(y)
    return torch.nn.functional.softshrink(z, alpha * l1_ratio) / (x[:, j].square().mean() + alpha * (1 - l1_ratio))


def _threshold(z, t):
    return np.sign(z) * max(abs(z) - t, 0.0)


def _parts(x, y, w, j):
    column = x[:, j]
    return column, y - x @ w + column * w[j], len(y)


def without_1_over_n(x, y, w, j, alpha, l1_ratio):
    column, partial, _ = _parts(x, y, w, j)
    return _threshold(column @ partial, alpha * l1_ratio) / (column @ column + alpha * (1 - l1_ratio))


def without_l2_denominator(x, y, w, j, alpha, l1_ratio):
    column, partial, n = _parts(x, y, w, j)
    return _threshold(column @ partial / n, alpha * l1_ratio) / (column @ column / n)


def full_residual(x, y, w, j, alpha, l1_ratio):
    column, _, n = _parts(x, y, w, j)
    return _threshold(column @ (y - x @ w) / n, alpha * l1_ratio) / (column @ column / n + alpha * (1 - l1_ratio))


def unit_variance_denominator(x, y, w, j, alpha, l1_ratio):
    column, partial, n = _parts(x, y, w, j)
    return _threshold(column @ partial / n, alpha * l1_ratio) / (1 + alpha * (1 - l1_ratio))


def threshold_alpha(x, y, w, j, alpha, l1_ratio):
    column, partial, n = _parts(x, y, w, j)
    return _threshold(column @ partial / n, alpha) / (column @ column / n + alpha * (1 - l1_ratio))


def sign_lost(x, y, w, j, alpha, l1_ratio):
    column, partial, n = _parts(x, y, w, j)
    return max(abs(column @ partial / n) - alpha * l1_ratio, 0.0) / (column @ column / n + alpha * (1 - l1_ratio))


def stores_into_w(x, y, w, j, alpha, l1_ratio):
    w[j] = enet_update(x, y, w, j, alpha, l1_ratio)
    return w[j]


def returns_the_vector(x, y, w, j, alpha, l1_ratio):
    new = w.copy()
    new[j] = enet_update(x, y, w, j, alpha, l1_ratio)
    return new


def largest_alpha_infinity_norm(x, y, l1_ratio):
    return np.linalg.norm(x.T @ y, ord=np.inf) / len(y) / l1_ratio


def alpha_without_1_over_n(x, y, l1_ratio):
    return np.max(np.abs(x.T @ y)) / l1_ratio


def alpha_without_l1_ratio(x, y, l1_ratio):
    return np.max(np.abs(x.T @ y)) / len(y)


def alpha_without_abs(x, y, l1_ratio):
    return np.max(x.T @ y) / (len(y) * l1_ratio)


def alpha_of_each_feature(x, y, l1_ratio):
    return np.abs(x.T @ y) / (len(y) * l1_ratio)


def alpha_smallest_feature(x, y, l1_ratio):
    return np.min(np.abs(x.T @ y)) / (len(y) * l1_ratio)


def scales_x_in_place(x, y, l1_ratio):
    x /= np.linalg.norm(x, axis=0)
    return largest_alpha(x, y, l1_ratio)


EXERCISES = [
    Exercise("04.1 elastic-net objective", check_enet_objective, right=(objective, objective_in_torch), wrong={
        "squared error over n": Wrong(objective_over_n, "divided by n instead of 2n"),
        "squared error not averaged": Wrong(objective_unscaled, "1/(2n)"),
        "squared error halved only": Wrong(objective_halved, "not averaged"),
        "L2 without its 1/2": Wrong(l2_without_half, "factor 1/2"),
        "l1_ratio swapped": Wrong(ratios_swapped, "swapped"),
        "L1 without |w|": Wrong(l1_without_abs, "|w|"),
        "one value per sample": Wrong(objective_per_sample, "must return one number", kind="type"),
    }),
    Exercise("04.2 one coordinate-descent update", check_enet_update,
             right=(enet_update, update_in_steps, update_in_torch), wrong={
        "1/n scaling forgotten": Wrong(without_1_over_n, "the 1/n is missing"),
        "L1 threshold without the L2 shrink": Wrong(without_l2_denominator, "L2 part is missing from the denominator"),
        "full residual, not the partial one": Wrong(full_residual, "partial residual"),
        "unit-variance denominator": Wrong(unit_variance_denominator, "unit-variance"),
        "threshold alpha, not alpha·l1_ratio": Wrong(threshold_alpha, "threshold is alpha alone"),
        "sign lost": Wrong(sign_lost, "sign is lost"),
        "writes w_j into w": Wrong(stores_into_w, "changed its inputs in place", kind="in-place"),
        "returns the whole vector": Wrong(returns_the_vector, "not the whole vector w", kind="type"),
    }),
    Exercise("04.3 where the path starts", check_largest_alpha,
             right=(largest_alpha, largest_alpha_infinity_norm), wrong={
        "1/n forgotten": Wrong(alpha_without_1_over_n, "the 1/n is missing"),
        "l1_ratio forgotten": Wrong(alpha_without_l1_ratio, "l1_ratio is missing"),
        "no absolute value": Wrong(alpha_without_abs, "absolute value is missing"),
        "smallest feature": Wrong(alpha_smallest_feature, "smallest feature"),
        "one alpha per feature": Wrong(alpha_of_each_feature, "Take the largest over the features", kind="type"),
        "scales x in place": Wrong(scales_x_in_place, "changed x or y in place", kind="in-place"),
    }),
]
