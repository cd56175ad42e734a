"""Notebook 07: per-channel statistics, batch norm forward and backward, folding into a linear layer."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.batchnorm import (batch_norm, batch_norm_backward, channel_statistics,
                                           check_batch_norm, check_batch_norm_backward, check_channel_statistics,
                                           check_effective_learning_rates, check_fold_batch_norm,
                                           effective_learning_rates, fold_batch_norm)

from . import Exercise, Wrong

EPS = 1e-5


def _dims(x):
    return (0,) if x.ndim == 2 else (0, 2)


# ------------------------------------------------------------------------------------------ 07.1 statistics

def var_mean_correction_zero(x):
    var, mean = torch.var_mean(x.transpose(0, 1).reshape(x.shape[1], -1), dim=1, correction=0)
    return mean, var


def over_the_features(x):
    return x.mean(1), x.var(1, unbiased=False)


def over_the_batch_only(x):
    return x.mean(0), x.var(0, unbiased=False)


def unbiased_variance(x):
    return x.mean(_dims(x)), x.var(_dims(x))


def standard_deviation(x):
    return x.mean(_dims(x)), x.std(_dims(x), unbiased=False)


def numpy_statistics(x):
    values = np.asarray(x)
    return values.mean(axis=_dims(x)), values.var(axis=_dims(x))


def centres_x_in_place(x):
    mean = x.mean(_dims(x))
    x -= mean.reshape((1, -1) + (1,) * (x.ndim - 2))
    return mean, (x ** 2).mean(_dims(x))


# --------------------------------------------------------------------------------------------- 07.2 forward

def _normalize(x, mean, var, gamma, beta, eps):
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def with_functional(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    rm, rv = rm.clone(), rv.clone()   # F.batch_norm updates the running statistics in place
    out = torch.nn.functional.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
    return out, rm, rv


def batch_stats_in_eval(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    if training:
        rm = (1 - momentum) * rm + momentum * x.mean(0)
        rv = (1 - momentum) * rv + momentum * x.var(0)
    return out, rm, rv


def biased_running_var(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    if not training:
        return _normalize(x, rm, rv, gamma, beta, eps), rm, rv
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    return out, (1 - momentum) * rm + momentum * x.mean(0), (1 - momentum) * rv + momentum * x.var(0, unbiased=False)


def reversed_momentum(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    if not training:
        return _normalize(x, rm, rv, gamma, beta, eps), rm, rv
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    return out, momentum * rm + (1 - momentum) * x.mean(0), momentum * rv + (1 - momentum) * x.var(0)


def no_running_update(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    stats = (x.mean(0), x.var(0, unbiased=False)) if training else (rm, rv)
    return _normalize(x, *stats, gamma, beta, eps), rm, rv


def unbiased_normalization(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    out, rm2, rv2 = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    if training:
        out = _normalize(x, x.mean(0), x.var(0), gamma, beta, eps)
    return out, rm2, rv2


def no_affine(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    out, rm2, rv2 = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    return (out - beta) / gamma, rm2, rv2


def layer_norm(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    out = _normalize(x, x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True), gamma, beta, eps)
    return out, *batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)[1:]


def output_only(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    return batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)[0]


def correct_numpy(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    """Right arithmetic in NumPy: the exercise says the inputs are torch tensors, so only the type is wrong."""
    x, gamma, beta, rm, rv = (np.asarray(t) for t in (x, gamma, beta, rm, rv))
    if training:
        n = len(x)
        mean, var = x.mean(axis=0), x.var(axis=0)
        rm, rv = (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * var * n / (n - 1)
    else:
        mean, var = rm, rv
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, rm, rv


def running_stats_in_place(x, gamma, beta, rm, rv, training, momentum=0.1, eps=EPS):
    out, mean, var = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    rm.copy_(mean)
    rv.copy_(var)
    return out, rm, rv


# -------------------------------------------------------------------------------------------- 07.3 backward

def through_intermediates(grad_out, x, gamma, eps=EPS):
    """The staged derivation (CS231n's computational graph), a different correct route."""
    n = x.shape[0]
    mu = x.mean(0)
    centred = x - mu
    var = (centred ** 2).mean(0)
    inv_std = 1 / torch.sqrt(var + eps)
    x_hat = centred * inv_std
    grad_x_hat = grad_out * gamma
    grad_var = (grad_x_hat * centred).sum(0) * -0.5 * inv_std ** 3
    grad_mu = -(grad_x_hat * inv_std).sum(0) - 2 * grad_var * centred.mean(0)
    grad_x = grad_x_hat * inv_std + grad_var * 2 * centred / n + grad_mu / n
    return grad_x, (grad_out * x_hat).sum(0), grad_out.sum(0)


def _parts(x, eps, unbiased=False):
    inv_std = 1 / torch.sqrt(x.var(0, unbiased=unbiased) + eps)
    return (x - x.mean(0)) * inv_std, inv_std


def statistics_as_constants(grad_out, x, gamma, eps=EPS):
    x_hat, inv_std = _parts(x, eps)
    return gamma * inv_std * grad_out, (grad_out * x_hat).sum(0), grad_out.sum(0)


def variance_as_constant(grad_out, x, gamma, eps=EPS):
    x_hat, inv_std = _parts(x, eps)
    return gamma * inv_std * (grad_out - grad_out.mean(0)), (grad_out * x_hat).sum(0), grad_out.sum(0)


def mean_as_constant(grad_out, x, gamma, eps=EPS):
    x_hat, inv_std = _parts(x, eps)
    grad_x = gamma * inv_std * (grad_out - x_hat * (grad_out * x_hat).mean(0))
    return grad_x, (grad_out * x_hat).sum(0), grad_out.sum(0)


def unbiased_variance_backward(grad_out, x, gamma, eps=EPS):
    n = x.shape[0]
    x_hat, inv_std = _parts(x, eps, unbiased=True)
    grad_gamma, grad_beta = (grad_out * x_hat).sum(0), grad_out.sum(0)
    return gamma * inv_std * (grad_out - grad_beta / n - x_hat * grad_gamma / n), grad_gamma, grad_beta


def gamma_missing(grad_out, x, gamma, eps=EPS):
    grad_x, grad_gamma, grad_beta = batch_norm_backward(grad_out, x, gamma, eps)
    return grad_x / gamma, grad_gamma, grad_beta


def averaged_grad_beta(grad_out, x, gamma, eps=EPS):
    grad_x, grad_gamma, _ = batch_norm_backward(grad_out, x, gamma, eps)
    return grad_x, grad_gamma, grad_out.mean(0)


def grad_gamma_without_x_hat(grad_out, x, gamma, eps=EPS):
    grad_x, _, grad_beta = batch_norm_backward(grad_out, x, gamma, eps)
    return grad_x, grad_out.sum(0), grad_beta


def numpy_gradients(grad_out, x, gamma, eps=EPS):
    return tuple(g.numpy() for g in batch_norm_backward(grad_out, x, gamma, eps))


def grad_x_only(grad_out, x, gamma, eps=EPS):
    return batch_norm_backward(grad_out, x, gamma, eps)[0]


def centres_grad_out_in_place(grad_out, x, gamma, eps=EPS):
    n = x.shape[0]
    x_hat, inv_std = _parts(x, eps)
    grad_gamma, grad_beta = (grad_out * x_hat).sum(0), grad_out.sum(0)
    grad_out -= grad_beta / n
    return gamma * inv_std * (grad_out - x_hat * grad_gamma / n), grad_gamma, grad_beta


# --------------------------------------------------------------------------------------------- 07.4 folding

def folded_with_modules(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    std = (running_var + eps).sqrt()
    return torch.diag(gamma / std) @ weight, beta + gamma * (bias - running_mean) / std


def scales_the_columns(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    scale = gamma / torch.sqrt(running_var + eps)
    return weight * scale, (bias - running_mean) * scale + beta


def eps_left_out(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    return fold_batch_norm(weight, bias, gamma, beta, running_mean, running_var, 0.0)


def divides_by_the_variance(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    scale = gamma / (running_var + eps)
    return weight * scale[:, None], (bias - running_mean) * scale + beta


def bias_ignores_running_mean(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    scale = gamma / torch.sqrt(running_var + eps)
    return weight * scale[:, None], bias * scale + beta


def beta_missing(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    scale = gamma / torch.sqrt(running_var + eps)
    return weight * scale[:, None], (bias - running_mean) * scale


def numpy_fold(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    return tuple(t.numpy() for t in fold_batch_norm(weight, bias, gamma, beta, running_mean, running_var, eps))


def scales_weight_in_place(weight, bias, gamma, beta, running_mean, running_var, eps=EPS):
    scale = gamma / torch.sqrt(running_var + eps)
    weight.mul_(scale[:, None])
    return weight, (bias - running_mean) * scale + beta


TORCH_TYPE = "receives torch tensors and must return torch tensors"


# ---------------------------------------------------------------------------- 07.5 effective learning rate

def with_vector_norm(weight, lr):
    return lr / torch.linalg.vector_norm(weight, dim=1) ** 2


def whole_matrix_norm(weight, lr):
    return lr / weight.norm() ** 2


def whole_matrix_norm_per_unit(weight, lr):
    return (lr / weight.norm() ** 2).expand(weight.shape[0])


def column_norms(weight, lr):
    return lr / weight.norm(dim=0) ** 2


def norm_not_squared(weight, lr):
    return lr / weight.norm(dim=1)


def times_squared_norm(weight, lr):
    return lr * weight.norm(dim=1) ** 2


def numpy_effective_lr(weight, lr):
    return lr / (np.asarray(weight) ** 2).sum(axis=1)


def squares_weight_in_place(weight, lr):
    return lr / weight.pow_(2).sum(dim=1)


EXERCISES = [
    Exercise("07.1 per-channel batch statistics", check_channel_statistics,
             right=(channel_statistics, var_mean_correction_zero), wrong={
                 "over the features of each example": Wrong(over_the_features, "averaged over the features"),
                 "3-D input: over the batch only": Wrong(over_the_batch_only, "over the batch AND the length"),
                 "unbiased variance": Wrong(unbiased_variance, "that is the unbiased variance"),
                 "standard deviation": Wrong(standard_deviation, "that is the standard deviation"),
                 "NumPy arrays": Wrong(numpy_statistics, TORCH_TYPE, kind="type"),
                 "centres x in place": Wrong(centres_x_in_place, "changed its input x in place", kind="in-place"),
             }),
    Exercise("07.2 batch norm forward", check_batch_norm, right=(batch_norm, with_functional), wrong={
        "batch statistics at evaluation": Wrong(batch_stats_in_eval, "at evaluation you normalized with the "
                                                                     "statistics of the batch"),
        "biased running variance": Wrong(biased_running_var, "*unbiased* batch variance"),
        "momentum the Keras way": Wrong(reversed_momentum, "the other way round"),
        "no running update": Wrong(no_running_update, "did not change in training"),
        "unbiased normalization": Wrong(unbiased_normalization, "*biased* batch variance"),
        "gamma and beta missing": Wrong(no_affine, "gamma and beta are missing"),
        "normalizes over features (layer norm)": Wrong(layer_norm, "that is layer norm"),
        "returns the output only": Wrong(output_only, "must return 3 things", kind="type"),
        "a correct NumPy answer": Wrong(correct_numpy, "your output is a numpy.ndarray; batch_norm " + TORCH_TYPE,
                                        kind="type"),
        "running statistics in place": Wrong(running_stats_in_place, "changed its input running_mean in place",
                                             kind="in-place"),
    }),
    Exercise("07.3 batch norm backward", check_batch_norm_backward,
             right=(batch_norm_backward, through_intermediates), wrong={
                 "mean and variance as constants": Wrong(statistics_as_constants,
                                                         "treated the batch mean and variance as constants"),
                 "variance as a constant": Wrong(variance_as_constant, "treated the batch variance as a constant"),
                 "mean as a constant": Wrong(mean_as_constant, "treated the batch mean as a constant"),
                 "unbiased variance": Wrong(unbiased_variance_backward, "unbiased variance (n − 1)"),
                 "gamma factor missing": Wrong(gamma_missing, "the gamma factor is missing"),
                 "grad_beta averaged": Wrong(averaged_grad_beta, "you averaged"),
                 "grad_gamma without x̂": Wrong(grad_gamma_without_x_hat, "you left out the x̂ factor"),
                 "NumPy arrays": Wrong(numpy_gradients, TORCH_TYPE, kind="type"),
                 "grad_x only": Wrong(grad_x_only, "must return 3 things", kind="type"),
                 "centres grad_out in place": Wrong(centres_grad_out_in_place, "changed its input grad_out in place",
                                                    kind="in-place"),
             }),
    Exercise("07.4 folding batch norm into a linear layer", check_fold_batch_norm,
             right=(fold_batch_norm, folded_with_modules), wrong={
                 "scales the columns": Wrong(scales_the_columns, "you scaled the columns"),
                 "eps left out": Wrong(eps_left_out, "you left eps out"),
                 "divides by the variance": Wrong(divides_by_the_variance, "you divided by the variance"),
                 "bias ignores the running mean": Wrong(bias_ignores_running_mean, "ignores the running mean"),
                 "beta missing": Wrong(beta_missing, "beta is missing"),
                 "NumPy arrays": Wrong(numpy_fold, TORCH_TYPE, kind="type"),
                 "scales the weight in place": Wrong(scales_weight_in_place, "changed its input weight in place",
                                                     kind="in-place"),
             }),
    Exercise("07.5 effective learning rate of a unit feeding batch norm", check_effective_learning_rates,
             right=(effective_learning_rates, with_vector_norm), wrong={
                 "norm of the whole matrix": Wrong(whole_matrix_norm, "norm of the whole matrix"),
                 "whole-matrix norm, repeated per unit": Wrong(whole_matrix_norm_per_unit, "norm of the whole matrix"),
                 "norms of the columns": Wrong(column_norms, "norms of the columns"),
                 "norm not squared": Wrong(norm_not_squared, "you divided by the norm"),
                 "multiplied by the squared norm": Wrong(times_squared_norm, "you multiplied by the squared norm"),
                 "NumPy array": Wrong(numpy_effective_lr, "must return a torch tensor", kind="type"),
                 "squares the weight in place": Wrong(squares_weight_in_place, "changed its input weight in place",
                                                      kind="in-place"),
             }),
]
