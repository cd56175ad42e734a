"""Notebook 02: bias² and variance from predictions, the simulation over training sets, ridge's variance."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.bias_variance import check_decompose, check_ridge_prediction_variance, check_simulate

from . import Exercise, Wrong

# ---------------------------------------------------------------- 02.1 decompose


def decompose(predictions, f_test):
    average = predictions.mean(axis=0)
    return np.mean((average - f_test) ** 2), np.mean(predictions.var(axis=0))


def decompose_torch(predictions, f_test):
    p, f = torch.as_tensor(predictions), torch.as_tensor(f_test)
    return ((p.mean(0) - f) ** 2).mean().item(), p.var(0, unbiased=False).mean().item()


def variance_ddof_1(predictions, f_test):
    return decompose(predictions, f_test)[0], np.mean(predictions.var(axis=0, ddof=1))


def wrong_axis(predictions, f_test):
    return np.mean((predictions.mean(axis=1) - f_test.mean()) ** 2), np.mean(predictions.var(axis=1))


def bias_as_mean_squared_error(predictions, f_test):
    return np.mean((predictions - f_test) ** 2), np.mean(predictions.var(axis=0))


def bias_not_squared(predictions, f_test):
    return np.mean(predictions.mean(axis=0) - f_test), np.mean(predictions.var(axis=0))


def square_of_the_mean(predictions, f_test):
    return np.mean(predictions.mean(axis=0) - f_test) ** 2, np.mean(predictions.var(axis=0))


def errors_in_place(predictions, f_test):
    errors = predictions
    errors -= f_test
    return np.mean(errors.mean(axis=0) ** 2), np.mean(errors.var(axis=0))


def bias_only(predictions, f_test):
    return decompose(predictions, f_test)[0]


# ---------------------------------------------------------------- 02.2 simulate


def predictions_and_labels(make_model, draw, x_test, n_datasets):
    predictions, labels = [], []
    for d in range(n_datasets):
        x, y, y_test = draw(d)
        predictions.append(make_model().fit(x, y).predict(x_test))
        labels.append(y_test)
    return np.array(predictions), np.array(labels)


def simulate(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    bias2, variance = decompose(predictions, f_test)
    return bias2, variance, np.mean((labels - f_test) ** 2)


def simulate_one_pass(make_model, draw, x_test, f_test, n_datasets):
    """Running sums instead of stored predictions (Welford would do too)."""
    total, total_sq, noise = 0.0, 0.0, 0.0
    for d in range(n_datasets):
        x, y, y_test = draw(d)
        prediction = make_model().fit(x, y).predict(x_test)
        total, total_sq = total + prediction, total_sq + prediction ** 2
        noise += np.mean((y_test - f_test) ** 2) / n_datasets
    average = total / n_datasets
    return np.mean((average - f_test) ** 2), np.mean(total_sq / n_datasets - average ** 2), noise


def same_training_set(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = [], []
    x, y, _ = draw(0)
    for d in range(n_datasets):
        predictions.append(make_model().fit(x, y).predict(x_test))
        labels.append(draw(d)[2])
    return (*decompose(np.array(predictions), f_test), np.mean((np.array(labels) - f_test) ** 2))


def bias_against_noisy_labels(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    _, variance = decompose(predictions, f_test)
    return np.mean((predictions.mean(0) - labels) ** 2), variance, np.mean((labels - f_test) ** 2)


def bias_as_mse_of_all_predictions(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    return (np.mean((predictions - f_test) ** 2), np.mean(predictions.var(0)),
            np.mean((labels - f_test) ** 2))


def noise_as_spread_of_labels(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    return (*decompose(predictions, f_test), np.mean(labels.var(axis=1)))


def simulation_variance_ddof_1(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    return (decompose(predictions, f_test)[0], np.mean(predictions.var(0, ddof=1)),
            np.mean((labels - f_test) ** 2))


def gap_in_place(make_model, draw, x_test, f_test, n_datasets):
    predictions, labels = predictions_and_labels(make_model, draw, x_test, n_datasets)
    noise = np.mean((labels - f_test) ** 2)
    gap = f_test
    gap -= predictions.mean(0)
    return np.mean(gap ** 2), np.mean(predictions.var(0)), noise


def terms_as_dict(make_model, draw, x_test, f_test, n_datasets):
    return dict(zip(("bias2", "variance", "noise"), simulate(make_model, draw, x_test, f_test, n_datasets)))


# ---------------------------------------------------------------- 02.3 ridge_prediction_variance


def ridge_prediction_variance(X, x_test, noise, alpha):
    weights_of_y = X @ np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), x_test.T)  # (n, m)
    return noise ** 2 * (weights_of_y ** 2).sum(axis=0)


def ridge_prediction_variance_dual(X, x_test, noise, alpha):
    """Through the n × n kernel form, A = Xᵀ(XXᵀ + αI)⁻¹, and the full covariance's diagonal."""
    solution_map = X.T @ np.linalg.inv(X @ X.T + alpha * np.eye(len(X)))   # (p, n): w = solution_map @ y
    covariance = noise ** 2 * solution_map @ solution_map.T
    return np.einsum("ij,jk,ik->i", x_test, covariance, x_test)


def least_squares_covariance(X, x_test, noise, alpha):
    inverse = np.linalg.inv(X.T @ X + alpha * np.eye(X.shape[1]))
    return noise ** 2 * np.einsum("ij,jk,ik->i", x_test, inverse, x_test)


def sigma_not_squared(X, x_test, noise, alpha):
    return ridge_prediction_variance(X, x_test, noise, alpha) / noise


def alpha_ignored(X, x_test, noise, alpha):
    return ridge_prediction_variance(X, x_test, noise, 0.0)


def full_covariance_matrix(X, x_test, noise, alpha):
    weights_of_y = X @ np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), x_test.T)
    return noise ** 2 * weights_of_y.T @ weights_of_y


def centres_in_place(X, x_test, noise, alpha):
    X -= X.mean(axis=0)
    return ridge_prediction_variance(X, x_test, noise, alpha)


def mean_variance(X, x_test, noise, alpha):
    return float(ridge_prediction_variance(X, x_test, noise, alpha).mean())


EXERCISES = [
    Exercise("02.1 decompose", check_decompose, right=(decompose, decompose_torch), wrong={
        "variance with ddof=1": Wrong(variance_ddof_1, "divides by n − 1"),
        "averaged over the wrong axis": Wrong(wrong_axis, "wrong axis"),
        "bias² as the mean squared error": Wrong(bias_as_mean_squared_error, "which is bias² + variance"),
        "bias not squared": Wrong(bias_not_squared, "*squared* differences"),
        "square of the mean difference": Wrong(square_of_the_mean, "errors of opposite sign cancel"),
        "subtracts f_test in place": Wrong(errors_in_place, "changed its input arrays in place", kind="in-place"),
        "returns bias² only": Wrong(bias_only, "must return two numbers", kind="type"),
    }),
    Exercise("02.2 simulate", check_simulate, right=(simulate, simulate_one_pass), wrong={
        "the same training set every draw": Wrong(same_training_set, "every draw gave the same predictions"),
        "bias² against noisy labels": Wrong(bias_against_noisy_labels, "your bias² contains the noise"),
        "bias² as the mean squared error": Wrong(bias_as_mse_of_all_predictions, "bias² + variance"),
        "noise as the spread of the labels": Wrong(noise_as_spread_of_labels, "spread around the truth"),
        "variance with ddof=1": Wrong(simulation_variance_ddof_1, "n_datasets − 1"),
        "subtracts from f_test in place": Wrong(gap_in_place, "changed x_test or f_test in place", kind="in-place"),
        "returns a dict": Wrong(terms_as_dict, "must return three numbers", kind="type"),
    }),
    Exercise("02.3 ridge prediction variance", check_ridge_prediction_variance,
             right=(ridge_prediction_variance, ridge_prediction_variance_dual), wrong={
        "least-squares covariance with α added": Wrong(least_squares_covariance, "is not ridge's covariance"),
        "σ instead of σ²": Wrong(sigma_not_squared, "scales with σ², not σ"),
        "alpha ignored": Wrong(alpha_ignored, "does not depend on alpha"),
        "the full covariance matrix": Wrong(full_covariance_matrix, "covariance matrix of all predictions"),
        "centres X in place": Wrong(centres_in_place, "changed X or x_test in place", kind="in-place"),
        "returns the mean as a float": Wrong(mean_variance, "returned float", kind="type"),
    }),
]
