"""Notebook 09: the ridge problem of input noise, Gaussian dropout, temperature scaling."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from course_utils.calibration import softmax
from course_utils.checks.noise import check_gaussian_dropout, check_ridge_equivalent, check_temperature

from . import Exercise, Wrong


# ------------------------------------------------------------------------------------- 09.1 ridge_equivalent

def ridge_equivalent(x, y, sigma):
    n, d = x.shape
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    w = np.linalg.solve(xc.T @ xc / n + sigma ** 2 * np.eye(d), xc.T @ yc / n)
    return w, y_mean - x_mean @ w


def by_least_squares_on_stacked_rows(x, y, sigma):
    """Ridge as least squares: append √n·σ·I rows (targets 0) to the centred data."""
    n, d = x.shape
    xc, yc = x - x.mean(0), y - y.mean()
    stacked = np.vstack([xc, np.sqrt(n) * sigma * np.eye(d)])
    w = np.linalg.lstsq(stacked, np.concatenate([yc, np.zeros(d)]), rcond=None)[0]
    return torch.as_tensor(w), float(y.mean() - x.mean(0) @ w)


def _solve(x, y, alpha, intercept=True, penalize_intercept=False):
    n, d = x.shape
    if penalize_intercept:
        a = np.column_stack([x, np.ones(n)])
        wb = np.linalg.solve(a.T @ a + alpha * np.eye(d + 1), a.T @ y)
        return wb[:-1], wb[-1]
    if not intercept:
        return np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ y), 0.0
    xc, yc = x - x.mean(0), y - y.mean()
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
    return w, y.mean() - x.mean(0) @ w


def sigma_squared_with_sums(x, y, sigma):
    return _solve(x, y, sigma ** 2)


def sigma_not_squared(x, y, sigma):
    return _solve(x, y, len(x) * sigma)


def config_factor_two(x, y, sigma):
    return _solve(x, y, 2 * len(x) * sigma ** 2)


def intercept_penalized(x, y, sigma):
    return _solve(x, y, len(x) * sigma ** 2, penalize_intercept=True)


def no_intercept(x, y, sigma):
    return _solve(x, y, len(x) * sigma ** 2, intercept=False)


def weights_only(x, y, sigma):
    return ridge_equivalent(x, y, sigma)[0]


def centres_x_in_place(x, y, sigma):
    x_mean = x.mean(0)
    x -= x_mean
    w = np.linalg.solve(x.T @ x / len(x) + sigma ** 2 * np.eye(x.shape[1]), x.T @ (y - y.mean()) / len(x))
    return w, y.mean() - x_mean @ w


# ------------------------------------------------------------------------------------- 09.2 gaussian dropout

def gaussian_dropout(h, p, training):
    if not training:
        return h
    return h * (1 + (p / (1 - p)) ** 0.5 * torch.randn_like(h))


def with_normal(h, p, training):
    noise = torch.normal(torch.ones_like(h), (p / (1 - p)) ** 0.5)
    return h * noise if training else h


def alpha_as_std(h, p, training):
    return h * (1 + p / (1 - p) * torch.randn_like(h)) if training else h


def alpha_is_p(h, p, training):
    return h * (1 + p ** 0.5 * torch.randn_like(h)) if training else h


def zero_mean_noise(h, p, training):
    return h * (p / (1 - p)) ** 0.5 * torch.randn_like(h) if training else h


def bernoulli(h, p, training):
    return torch.nn.functional.dropout(h, p, training=training)


def on_in_eval_mode(h, p, training):
    return h * (1 + (p / (1 - p)) ** 0.5 * torch.randn_like(h))


def no_noise(h, p, training):
    return h


def shared_by_the_batch(h, p, training):
    if not training:
        return h
    shape = (1,) + tuple(h.shape[1:]) if h.ndim > 1 else h.shape
    return h * (1 + (p / (1 - p)) ** 0.5 * torch.randn(shape))


def numpy_noise(h, p, training):
    values = h.numpy()
    if not training:
        return values
    return values * (1 + (p / (1 - p)) ** 0.5 * np.random.default_rng().standard_normal(values.shape))


def multiplies_in_place(h, p, training):
    if training:
        h *= 1 + (p / (1 - p)) ** 0.5 * torch.randn_like(h)
    return h


# ------------------------------------------------------------------------------------------ 09.3 temperature

def find_temperature(logits, labels):
    z_true = logits[np.arange(len(labels)), labels]

    def slope(u):   # d NLL / du at u = 1/T: increasing, since the NLL is convex in u
        return np.mean((softmax(u * logits) * logits).sum(axis=1) - z_true)

    low, high = 0.05, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if slope(middle) < 0 else (low, middle)
    return 2 / (low + high)


def _nll(logits, labels, temperature):
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_p = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def with_torch_ternary_search(logits, labels):
    """Ternary search over log T, the NLL from torch's cross-entropy (unimodal in log T)."""
    z, y = torch.as_tensor(logits), torch.as_tensor(labels)
    low, high = math.log(0.05), math.log(20.0)
    for _ in range(80):
        left, right = low + (high - low) / 3, high - (high - low) / 3
        if torch.nn.functional.cross_entropy(z / math.exp(left), y) < torch.nn.functional.cross_entropy(
                z / math.exp(right), y):
            high = right
        else:
            low = left
    return torch.tensor(math.exp((low + high) / 2))


def with_scipy(logits, labels):
    return float(np.exp(minimize_scalar(lambda s: _nll(logits, labels, np.exp(s)), bounds=(-4, 4),
                                        method="bounded", options={"xatol": 1e-9}).x))


def multiplies_by_t(logits, labels):
    return 1 / with_scipy(logits, labels)


def predicted_labels(logits, labels):
    return with_scipy(logits, logits.argmax(axis=1))


def coarse_grid(logits, labels):
    grid = np.arange(0.1, 5.0, 0.1)
    return grid[np.argmin([_nll(logits, labels, t) for t in grid])]


def unstable_softmax(logits, labels):
    def nll(t):
        p = np.exp(logits / t)
        p = p / p.sum(axis=1, keepdims=True)
        return -np.log(p[np.arange(len(labels)), labels]).mean()

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        grid = np.exp(np.linspace(-3, 3, 4001))
        losses = np.array([nll(t) for t in grid])
    return float(grid[np.argmin(losses)]) if np.isfinite(losses).all() else float("nan")


def scaled_probabilities(logits, labels):
    return softmax(logits / with_scipy(logits, labels))


def divides_in_place(logits, labels):
    temperature = with_scipy(logits, labels)
    logits /= temperature
    return temperature


EXERCISES = [
    Exercise("09.1 the ridge problem of input noise", check_ridge_equivalent,
             right=(ridge_equivalent, by_least_squares_on_stacked_rows), wrong={
                 "σ² with the summed loss": Wrong(sigma_squared_with_sums, "SUMMED squared error"),
                 "σ instead of σ²": Wrong(sigma_not_squared, "variance σ², not with σ"),
                 "Config's factor 2": Wrong(config_factor_two, "Config's l2/2"),
                 "intercept penalized": Wrong(intercept_penalized, "the intercept is penalized"),
                 "no intercept": Wrong(no_intercept, "the intercept is missing"),
                 "weights only": Wrong(weights_only, "must return a pair (w, b)", kind="type"),
                 "centres x in place": Wrong(centres_x_in_place, "changed x or y in place", kind="in-place"),
             }),
    Exercise("09.2 Gaussian dropout", check_gaussian_dropout, right=(gaussian_dropout, with_normal), wrong={
        "α as the standard deviation": Wrong(alpha_as_std, "*standard deviation* is √α"),
        "α = p": Wrong(alpha_is_p, "not p"),
        "noise of mean 0": Wrong(zero_mean_noise, "not by √α·ε alone"),
        "Bernoulli dropout": Wrong(bernoulli, "that is Bernoulli dropout"),
        "on in eval mode": Wrong(on_in_eval_mode, "in eval mode (training=False)"),
        "no noise": Wrong(no_noise, "no noise was applied"),
        "noise shared by the batch": Wrong(shared_by_the_batch, "every example of the batch got the same noise"),
        "NumPy array": Wrong(numpy_noise, "must return one", kind="type"),
        "multiplies h in place": Wrong(multiplies_in_place, "changed its input h in place", kind="in-place"),
    }),
    Exercise("09.3 temperature scaling", check_temperature,
             right=(find_temperature, with_torch_ternary_search, with_scipy), wrong={
                 "returns 1/T": Wrong(multiplies_by_t, "you returned 1/T"),
                 "fitted on predicted labels": Wrong(predicted_labels, "the labels are the predicted classes"),
                 "coarse grid": Wrong(coarse_grid, "not precise enough"),
                 "unstable softmax": Wrong(unstable_softmax, "the NLL overflowed"),
                 "scaled probabilities": Wrong(scaled_probabilities, "must return one number", kind="type"),
                 "divides the logits in place": Wrong(divides_in_place, "changed its logits", kind="in-place"),
             }),
]
