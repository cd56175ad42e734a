"""Checkers for the exercises of notebook 03 (L1, L2 and weight decay)."""
from __future__ import annotations

import numpy as np
import torch

from . import Verdict, attempt, call, not_solved, report


def check_soft_threshold(soft_threshold) -> Verdict:
    """Exercise 03.1: ``soft_threshold(z, threshold)`` = sign(z) · max(|z| − threshold, 0), elementwise."""
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.2, 0.5, 0.9, 2.5])
    threshold = 0.6
    expected = np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)
    answer, unanswered = attempt(soft_threshold, z.copy(), threshold,
                                 name="soft_threshold", shown=f"soft_threshold(z, {threshold})")
    if unanswered is not None:
        return unanswered
    try:
        answer = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return report(False, f"soft_threshold returned {type(answer).__name__}; return a NumPy array like z.")
    if answer.shape != z.shape:
        return report(False, f"soft_threshold returned shape {answer.shape} for z of shape {z.shape}; "
                              "it works elementwise, so the shapes must match.")
    if np.allclose(answer, expected, atol=1e-12):
        zero, again = call(soft_threshold, z.copy(), 0.0)
        if again is None and np.allclose(np.asarray(zero, dtype=float), z):
            return report(True, "small values become exactly 0, large ones move `threshold` toward 0, "
                                "and a zero threshold changes nothing.")
        return report(False, "with threshold 0 the soft threshold must return z unchanged.")
    # the usual wrong answers, each with what it gets wrong
    if np.allclose(answer, np.where(np.abs(z) > threshold, z, 0.0)):
        return report(False, "this is the *hard* threshold: it zeroes small values but leaves large ones "
                              "unchanged. The L1 solution also moves every surviving value `threshold` toward 0.")
    if np.allclose(answer, np.maximum(z - threshold, 0.0)):
        return report(False, "negative values all became 0: apply the threshold to |z| and put the sign back.")
    if np.allclose(answer, z - threshold) or np.allclose(answer, np.sign(z) * (np.abs(z) - threshold)):
        return report(False, "values smaller than the threshold must become exactly 0, not cross over "
                              "to the other sign: clip |z| − threshold at 0.")
    if np.allclose(answer, z / (1 + threshold)):
        return report(False, "that is the L2 (ridge) shrinkage z / (1 + λ): nothing becomes zero. "
                              "L1 subtracts the threshold from |z| instead.")
    wrong = np.flatnonzero(~np.isclose(answer, expected))[0]
    return report(False, f"for z = {z[wrong]} and threshold {threshold} you return {answer[wrong]:.4g}; "
                          f"expected {expected[wrong]:.4g}.")


def _torch_adam(w, grads, lr, weight_decay, decoupled):
    """Run torch's Adam/AdamW over the given gradients; return the weights after each step."""
    param = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    optimizer_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = optimizer_class([param], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    trajectory = []
    for grad in grads:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
        trajectory.append(param.detach().numpy().copy())
    return trajectory


def _decoupled_variant(w, grads, lr, weight_decay, mistake):
    """AdamW written with a typical mistake: ``"no lr"`` (shrink by λ·w) or ``"after"`` (shrink the updated w)."""
    m, v, trajectory = np.zeros_like(w), np.zeros_like(w), []
    for t, grad in enumerate(grads, start=1):
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad ** 2
        step = lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        w = w - weight_decay * w - step if mistake == "no lr" else (w - step) * (1 - lr * weight_decay)
        trajectory.append(w)
    return trajectory


DECOUPLED_MISTAKES = {
    "no lr": "you shrink w by weight_decay·w; AdamW (as PyTorch writes it) shrinks by lr·weight_decay·w, "
             "so that the decay per step scales with the learning rate (and with its schedule).",
    "after": "you shrink the weights after the adaptive step, from the updated w. AdamW shrinks the weights "
             "the step started from: w ← w·(1 − lr·weight_decay), then the Adam step; that is "
             "w − lr·(step + weight_decay·w), both terms from the same w.",
}


def _learner_adam(adam_step, w, grads, lr, weight_decay, decoupled):
    m, v = np.zeros_like(w), np.zeros_like(w)
    trajectory = []
    for t, grad in enumerate(grads, start=1):
        result, problem = call(adam_step, w.copy(), grad.copy(), m.copy(), v.copy(), t, lr, weight_decay, decoupled)
        if problem:
            return None, problem
        if not isinstance(result, tuple) or len(result) != 3:
            return None, f"adam_step must return a tuple (w, m, v); got {type(result).__name__}"
        w, m, v = (np.asarray(r, dtype=float) for r in result)
        trajectory.append(w)
    return trajectory, None


def check_adam_step(adam_step) -> Verdict:
    """Exercise 03.2: ``adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)`` matches torch's Adam / AdamW."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(0.0, 1.0, 6)
    grads = [rng.normal(0.0, s, 6) for s in (1.0, 0.5, 2.0, 1.0, 0.1)]
    lr, weight_decay = 0.01, 0.5
    for decoupled, name in [(False, "Adam (coupled L2)"), (True, "AdamW (decoupled decay)")]:
        expected = _torch_adam(w0, grads, lr, weight_decay, decoupled)
        answer, problem = _learner_adam(adam_step, w0, grads, lr, weight_decay, decoupled)
        if problem == "not solved":
            return not_solved("adam_step")
        if problem:
            return report(False, f"adam_step with decoupled={decoupled} raised or returned: {problem}")
        for step, (got, want) in enumerate(zip(answer, expected), start=1):
            if got.shape != want.shape:
                return report(False, f"the new w has shape {got.shape}; expected {want.shape}.")
            if np.allclose(got, want, rtol=1e-6, atol=1e-9):
                continue
            other = _torch_adam(w0, grads, lr, weight_decay, not decoupled)
            if np.allclose(got, other[step - 1], rtol=1e-6, atol=1e-9):
                fix = ("shrink w by lr·weight_decay·w outside the adaptive step" if decoupled
                       else "add weight_decay·w to the gradient before updating m and v")
                return report(False, f"with decoupled={decoupled} your step is the *other* kind of decay: {fix}.")
            if decoupled:
                for mistake, message in DECOUPLED_MISTAKES.items():
                    if np.allclose(got, _decoupled_variant(w0, grads, lr, weight_decay, mistake)[step - 1],
                                   rtol=1e-6, atol=1e-9):
                        return report(False, f"{name}: {message}")
            if step == 1:
                plain = _torch_adam(w0, grads, lr, 0.0, False)[0]
                if np.allclose(got, plain, rtol=1e-6, atol=1e-9):
                    return report(False, f"{name}: your step ignores weight_decay.")
            hint = (" Did you forget the bias correction 1 − β^t?" if step == 1 else
                    " The first step is right, so check what carries from step to step: update the m and v "
                    "you are given (not fresh zeros), and use this step's t in the bias correction.")
            return report(False, f"{name}: at step {step} your w differs from PyTorch's by "
                                  f"{np.max(np.abs(got - want)):.2g}.{hint}")
    return report(True, "both steps match torch.optim.Adam and torch.optim.AdamW for five steps. "
                        "Only the place where weight_decay enters differs, and with Adam that matters.")
