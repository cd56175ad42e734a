"""Notebook 03: the soft threshold, a training loop with an L2 term, and one Adam / AdamW step."""
from __future__ import annotations

import numpy as np
import torch

from conftest import adam_step
from course_utils.checks.penalties import check_adam_step, check_soft_threshold, check_train_with_l2

from . import Exercise, Wrong

# ---------------------------------------------------------------- 03.1 soft_threshold


def soft_threshold(z, threshold):
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def soft_threshold_by_cases(z, threshold):
    return np.where(z > threshold, z - threshold, np.where(z < -threshold, z + threshold, 0.0))


def soft_threshold_torch(z, threshold):
    return torch.nn.functional.softshrink(torch.as_tensor(z), threshold)


def hard_threshold(z, threshold):
    return np.where(np.abs(z) > threshold, z, 0.0)


def relu_shift(z, threshold):
    return np.maximum(z - threshold, 0.0)


def no_clipping(z, threshold):
    return np.sign(z) * (np.abs(z) - threshold)


def ridge_shrinkage(z, threshold):
    return z / (1 + threshold)


def zeroes_in_place(z, threshold):
    small = np.abs(z) <= threshold
    z -= np.sign(z) * threshold
    z[small] = 0.0
    return z


def returns_a_list_of_strings(z, threshold):
    return [f"{v:.3f}" for v in soft_threshold(z, threshold).ravel()]


# ---------------------------------------------------------------- 03.2 train_with_l2


def train_with_l2(model, x, y, weight_decay, lr, steps):
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss = loss + weight_decay / 2 * sum((p ** 2).sum() for p in model.parameters())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses


def train_with_l2_through_sgd(model, x, y, weight_decay, lr, steps):
    """The penalty in the loss and a plain torch.optim.SGD to apply the gradient."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y) + weight_decay / 2 * sum(
            p.pow(2).sum() for p in model.parameters())
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def loop(model, x, y, lr, steps, penalty, zero_grad=True, in_place=True):
    """A hand-written loop with a given penalty(parameters); the switches make the usual mistakes."""
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y) + penalty(list(model.parameters()))
        if zero_grad:
            model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if in_place:
                    p -= lr * p.grad
                else:
                    p = p - lr * p.grad  # noqa: PLW2901 (the mistake: rebinds the name only)
        losses.append(loss.item())
    return losses


def penalty_without_half(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay * sum((p ** 2).sum() for p in ps))


def penalty_on_detached_weights(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay / 2 * sum((p.detach() ** 2).sum() for p in ps))


def weights_only(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay / 2 * sum((p ** 2).sum() for p in ps if p.dim() > 1))


def l1_penalty(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay * sum(p.abs().sum() for p in ps))


def norm_not_squared(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay / 2 * sum(p.norm() for p in ps))


def no_zero_grad(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay / 2 * sum((p ** 2).sum() for p in ps),
                zero_grad=False)


def rebinds_instead_of_updating(model, x, y, weight_decay, lr, steps):
    return loop(model, x, y, lr, steps, lambda ps: weight_decay / 2 * sum((p ** 2).sum() for p in ps),
                in_place=False)


def standardizes_x_in_place(model, x, y, weight_decay, lr, steps):
    x -= x.mean(0)
    return train_with_l2(model, x, y, weight_decay, lr, steps)


def returns_loss_tensors(model, x, y, weight_decay, lr, steps):
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y) + weight_decay / 2 * sum(
            (p ** 2).sum() for p in model.parameters())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss)
    return losses


# ---------------------------------------------------------------- 03.3 adam_step


def adam_decay_without_lr(w, grad, m, v, t, lr, weight_decay, decoupled):
    if decoupled:
        return adam_step(w - weight_decay * w, grad, m, v, t, lr, 0.0, False)
    return adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)


def adam_decay_after_the_step(w, grad, m, v, t, lr, weight_decay, decoupled):
    if decoupled:
        w, m, v = adam_step(w, grad, m, v, t, lr, 0.0, False)
        return w * (1 - lr * weight_decay), m, v
    return adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)


def adam_in_place(w, grad, m, v, t, lr, weight_decay, decoupled):
    new_w, new_m, new_v = adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)
    m *= 0.0
    m += new_m
    return new_w, m, new_v


def adam_returns_w_only(*args):
    return adam_step(*args)[0]


EXERCISES = [
    Exercise("03.1 soft threshold", check_soft_threshold,
             right=(soft_threshold, soft_threshold_by_cases, soft_threshold_torch), wrong={
        "hard threshold": Wrong(hard_threshold, "this is the *hard* threshold"),
        "no sign (ReLU shift)": Wrong(relu_shift, "negative values all became 0"),
        "not clipped at zero": Wrong(no_clipping, "not cross over"),
        "ridge shrinkage": Wrong(ridge_shrinkage, "that is the L2 (ridge) shrinkage"),
        "changes z in place": Wrong(zeroes_in_place, "changed z in place", kind="in-place"),
        "returns strings": Wrong(returns_a_list_of_strings, "soft_threshold returned list", kind="type"),
    }),
    Exercise("03.2 training loop with L2", check_train_with_l2, right=(train_with_l2, train_with_l2_through_sgd),
             wrong={
        "λ·Σw² without the half": Wrong(penalty_without_half, "weight_decay = 2λ"),
        "penalty on detached weights": Wrong(penalty_on_detached_weights, "match SGD without any decay"),
        "biases not penalized": Wrong(weights_only, "decays every parameter it is given"),
        "L1 instead of L2": Wrong(l1_penalty, "an L1 penalty"),
        "norm not squared": Wrong(norm_not_squared, "not its square"),
        "gradients never zeroed": Wrong(no_zero_grad, "gradients accumulate"),
        "p = p - lr * p.grad": Wrong(rebinds_instead_of_updating, "parameters did not change"),
        "standardizes x in place": Wrong(standardizes_x_in_place, "changed x or y in place", kind="in-place"),
        "returns loss tensors": Wrong(returns_loss_tensors, "of Tensor", kind="type"),
    }),
    Exercise("03.3 adam_step", check_adam_step, right=(adam_step,), wrong={
        "decay without the learning rate": Wrong(adam_decay_without_lr, "shrinks by lr·weight_decay·w"),
        "decay after the step": Wrong(adam_decay_after_the_step, "you shrink the weights after the adaptive step"),
        "coupled and decoupled swapped": Wrong(lambda *a: adam_step(*a, coupling_swapped=True),
                                               "*other* kind of decay"),
        "no bias correction": Wrong(lambda *a: adam_step(*a, bias_correction=False), "bias correction 1 − β^t"),
        "weight_decay ignored": Wrong(lambda *a: adam_step(*a, ignore_decay=True), "ignores weight_decay"),
        "moments restarted every step": Wrong(lambda *a: adam_step(*a, fresh_moments=True), "not fresh zeros"),
        "t stuck at 1": Wrong(lambda *a: adam_step(*a, first_step_always=True), "use this step's t"),
        "updates m in place": Wrong(adam_in_place, "changed w, grad, m or v in place", kind="in-place"),
        "returns w only": Wrong(adam_returns_w_only, "must return a tuple (w, m, v); got ndarray", kind="type"),
    }),
]
