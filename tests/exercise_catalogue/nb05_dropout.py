"""Notebook 05: inverted dropout in torch; dropout forward and backward in NumPy; a finite-difference check;
the max-norm projection."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.dropout import (NumpyDropout, check_dropout, check_dropout_backward, check_max_norm,
                                         check_numerical_gradient, inverted_dropout, max_norm_projection,
                                         numerical_gradient)

from . import Exercise, Wrong


def with_bernoulli(x, p, training):
    if not training:
        return x
    return x * torch.bernoulli(torch.full_like(x, 1 - p)) / (1 - p)


def no_rescaling(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x


def on_at_evaluation(x, p, training):
    return x * (torch.rand_like(x) >= p) / (1 - p)


def keep_probability(x, p, training):
    return x * (torch.rand_like(x) < p) / p if training else x


def scaled_at_evaluation(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x * (1 - p)


def fixed_mask(x, p, training):
    generator = torch.Generator().manual_seed(0)
    return x * (torch.rand(x.shape, generator=generator) >= p) / (1 - p) if training else x


def mask_shared_by_the_batch(x, p, training):
    return x * (torch.rand(1, x.shape[1]) >= p) / (1 - p) if training else x


def mask_per_sample(x, p, training):
    return x * (torch.rand(x.shape[0], 1) >= p) / (1 - p) if training else x


def in_place(x, p, training):
    if training:
        x *= (torch.rand_like(x) >= p) / (1 - p)
    return x


def numpy_array(x, p, training):
    return (x * (torch.rand_like(x) >= p) / (1 - p)).numpy()


EXERCISES = [
    Exercise("05.1 inverted dropout", check_dropout, right=(inverted_dropout, with_bernoulli), wrong={
        "no rescaling": Wrong(no_rescaling, "Divide the kept values by 1-p"),
        "on at evaluation": Wrong(on_at_evaluation, "still on at evaluation"),
        "p as keep probability": Wrong(keep_probability, "probability to DROP"),
        "scaled at evaluation": Wrong(scaled_at_evaluation, "Divide the kept values by 1-p"),
        "same mask every call": Wrong(fixed_mask, "drawn anew"),
        "mask shared by the batch": Wrong(mask_shared_by_the_batch, "every sample of the batch dropped the same"),
        "one mask value per sample": Wrong(mask_per_sample, "each sample dropped either all of its units or none"),
        "changes x in place": Wrong(in_place, "changed its input x in place", kind="in-place"),
        "returns a NumPy array": Wrong(numpy_array, "must return a tensor", kind="type"),
    }),
]


class MaskAsFloat:
    """Keeps the scaled mask (0 or 1/(1-p)) instead of a boolean one, as CS231n's layer does."""

    def __init__(self, p, rng):
        self.p, self.rng = p, rng

    def forward(self, x):
        self.mask = (self.rng.random(x.shape) >= self.p) / (1 - self.p)
        return x * self.mask

    def backward(self, grad_out):
        return grad_out * self.mask


class _Layer(NumpyDropout):
    """The reference forward with a wrong backward (each subclass below)."""


class BackwardUnscaled(_Layer):
    def backward(self, grad_out):
        return grad_out * self.keep


class BackwardIgnoresMask(_Layer):
    def backward(self, grad_out):
        return grad_out.copy()


class BackwardDrawsNewMask(_Layer):
    def backward(self, grad_out):
        return grad_out * (self.rng.random(grad_out.shape) >= self.p) / (1 - self.p)


class BackwardTimesOutput(_Layer):
    def forward(self, x):
        self.out = super().forward(x)
        return self.out

    def backward(self, grad_out):
        return grad_out * self.out


class MaskOnceForTheLayer(_Layer):
    def forward(self, x):
        if not hasattr(self, "keep"):
            self.keep = self.rng.random(x.shape) >= self.p
        return x * self.keep / (1 - self.p)


class ForwardInPlace(_Layer):
    def forward(self, x):
        self.keep = self.rng.random(x.shape) >= self.p
        x *= self.keep / (1 - self.p)
        return x


class BackwardInPlace(_Layer):
    def backward(self, grad_out):
        grad_out *= self.keep / (1 - self.p)
        return grad_out


class ReturnsTensors(_Layer):
    def forward(self, x):
        return torch.as_tensor(super().forward(x))

    def backward(self, grad_out):
        return torch.as_tensor(super().backward(grad_out))


def vectorized_central_differences(f, x, h):
    """Central differences with a copy of x per element: the caller's array is never touched."""
    gradient = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[i] = h
        gradient[i] = (f(x + step) - f(x - step)) / (2 * h)
    return gradient


def one_sided(f, x, h):
    gradient = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[i] = h
        gradient[i] = (f(x + step) - f(x)) / h
    return gradient


def divided_by_h(f, x, h):
    return 2 * numerical_gradient(f, x, h)


def whole_array_at_once(f, x, h):
    return np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))


def not_restored(f, x, h):
    gradient = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        above = f(x)
        x[i] -= 2 * h
        gradient[i] = (above - f(x)) / (2 * h)
    return gradient


def as_list(f, x, h):
    return numerical_gradient(f, x, h).tolist()


EXERCISES += [
    Exercise("05.2 dropout forward and backward in NumPy", check_dropout_backward,
             right=(NumpyDropout, MaskAsFloat), wrong={
        "backward without 1/(1-p)": Wrong(BackwardUnscaled, "forgets the factor 1/(1-p)"),
        "backward ignores the mask": Wrong(BackwardIgnoresMask, "returns grad_out unchanged"),
        "backward draws a new mask": Wrong(BackwardDrawsNewMask, "reuse the mask"),
        "backward times the output": Wrong(BackwardTimesOutput, "forward's OUTPUT"),
        "one mask for the layer's life": Wrong(MaskOnceForTheLayer, "draw a new mask on every forward"),
        "forward changes x in place": Wrong(ForwardInPlace, "forward changed its input x in place", kind="in-place"),
        "backward changes grad_out in place": Wrong(BackwardInPlace, "backward changed grad_out in place",
                                                    kind="in-place"),
        "returns torch tensors": Wrong(ReturnsTensors, "must return a NumPy array", kind="type"),
    }),
    Exercise("05.3 finite-difference gradient check", check_numerical_gradient,
             right=(numerical_gradient, vectorized_central_differences), wrong={
        "one-sided difference": Wrong(one_sided, "one-sided difference"),
        "divided by h, not 2h": Wrong(divided_by_h, "divide their difference by 2h"),
        "whole array at once": Wrong(whole_array_at_once, "perturb ONE element at a time"),
        "x left perturbed": Wrong(not_restored, "restore each element", kind="in-place"),
        "returns a list": Wrong(as_list, "must return a NumPy array", kind="type"),
    }),
]


def with_renorm(weight, c):
    return torch.renorm(weight, p=2, dim=0, maxnorm=c)


def row_by_row(weight, c):
    projected = weight.clone()
    for j, row in enumerate(weight):
        norm = row.norm()
        if norm > c:
            projected[j] = row * (c / norm)
    return projected


def whole_matrix(weight, c):
    return weight * min(1.0, c / float(weight.norm()))


def per_column(weight, c):
    return weight * torch.clamp(c / weight.norm(dim=0, keepdim=True), max=1.0)


def every_row_to_c(weight, c):
    return weight * c / weight.norm(dim=1, keepdim=True)


def ratio_upside_down(weight, c):
    return weight * torch.clamp(weight.norm(dim=1, keepdim=True) / c, max=1.0)


def clipped_elements(weight, c):
    return weight.clamp(-c, c)


def max_norm_in_place(weight, c):
    return weight.mul_(torch.clamp(c / weight.norm(dim=1, keepdim=True), max=1.0))


def max_norm_as_numpy(weight, c):
    return max_norm_projection(weight, c).numpy()


EXERCISES += [
    Exercise("05.4 max-norm projection", check_max_norm, right=(max_norm_projection, with_renorm, row_by_row), wrong={
        "one norm for the whole matrix": Wrong(whole_matrix, "scaled the whole matrix by one factor"),
        "columns instead of rows": Wrong(per_column, "you bounded the columns"),
        "shorter rows projected too": Wrong(every_row_to_c, "including rows that were shorter"),
        "ratio upside down": Wrong(ratio_upside_down, "some rows with norm ≤ c were changed"),
        "each weight clipped": Wrong(clipped_elements, "clipped each weight"),
        "changes weight in place": Wrong(max_norm_in_place, "changed weight in place", kind="in-place"),
        "returns a NumPy array": Wrong(max_norm_as_numpy, "must return a tensor", kind="type"),
    }),
]
