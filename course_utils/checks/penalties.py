"""Checkers for the exercises of notebook 03 (L1, L2 and weight decay)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import copy

import numpy as np
import torch

from . import Verdict, attempt, call, not_solved, report

__all__ = ["check_adam_step", "check_soft_threshold", "check_train_with_l2"]


def _soft_threshold(z, threshold):
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def check_soft_threshold(soft_threshold: Callable[..., Any]) -> Verdict:
    """Exercise 03.1: ``soft_threshold(z, threshold)``, the minimizer of ½(w − z)² + threshold·|w|, elementwise."""
    rng = np.random.default_rng(31)
    fixed = np.array([-3.0, -1.0, -0.5, 0.0, 0.2, 0.5, 0.9, 2.5])
    for z, threshold in [(fixed, 0.6), (rng.normal(0, 2, (4, 5)), 1.3), (rng.normal(0, 1, 30), 0.25),
                         (rng.normal(0, 1, (3, 2)), 0.0)]:
        given = z.copy()
        answer, unanswered = attempt(soft_threshold, given, threshold,
                                     name="soft_threshold", shown=f"soft_threshold(z, {threshold})")
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, z):
            return report(False, "soft_threshold changed z in place (e.g. z[...] = 0 or z -= ...): the caller's "
                                 "array is no longer what it was. Return a new array.")
        if isinstance(answer, torch.Tensor):
            answer = answer.detach().numpy()
        try:
            values = np.asarray(answer)
        except (TypeError, ValueError):
            values = np.asarray(None)
        if values.dtype.kind not in "biuf":  # strings, objects, None: not numbers
            return report(False, f"soft_threshold returned {type(answer).__name__}"
                                 f"{' of ' + values.dtype.name if values.ndim else ''}; return a NumPy array of "
                                 "numbers like z.")
        answer = values.astype(float)
        if answer.shape != z.shape:
            return report(False, f"soft_threshold returned shape {answer.shape} for z of shape {z.shape}; "
                                 "it works elementwise, so the shapes must match.")
        expected = _soft_threshold(z, threshold)
        if np.allclose(answer, expected, atol=1e-12):
            continue
        if threshold == 0:
            return report(False, "with threshold 0 the penalty is gone: the minimizer is w = z, unchanged.")
        # the usual wrong answers, each with what it gets wrong
        if np.allclose(answer, np.where(np.abs(z) > threshold, z, 0.0)):
            return report(False, "this is the *hard* threshold: it zeroes small values but leaves large ones "
                                 "unchanged. Minimizing ½(w − z)² + threshold·|w| also moves every surviving value "
                                 "toward 0: where w ≠ 0 the derivative of threshold·|w| is ±threshold.")
        if np.allclose(answer, np.maximum(z - threshold, 0.0)):
            return report(False, "negative values all became 0: the problem is symmetric in z, so treat |z| and "
                                 "put the sign back.")
        if np.allclose(answer, z - threshold) or np.allclose(answer, np.sign(z) * (np.abs(z) - threshold)):
            return report(False, "values smaller than the threshold must become exactly 0, not cross over "
                                 "to the other sign: a w of the other sign than z only adds to both terms.")
        if np.allclose(answer, z / (1 + threshold)) or np.allclose(answer, z / (1 + 2 * threshold)):
            return report(False, "that is the L2 (ridge) shrinkage z / (1 + λ): nothing becomes zero. "
                                 "The L1 penalty's derivative does not grow with w; it is ±threshold.")
        wrong = np.unravel_index(np.flatnonzero(~np.isclose(answer, expected))[0], z.shape)
        return report(False, f"for z = {z[wrong]:.4g} and threshold {threshold} you return {answer[wrong]:.4g}; "
                             f"expected {expected[wrong]:.4g}.")
    return report(True, "Small values become exactly 0, large ones move `threshold` toward 0, and a zero "
                        "threshold changes nothing, on four arrays of different shapes.")


def _small_network(inputs, hidden, classes):
    return torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, classes)).double()


def _reference_run(model, x, y, weight_decay, lr, steps, mistake=None):
    """Final parameters of full-batch SGD(weight_decay) from ``model``, or of a typical mistake's loop."""
    model = copy.deepcopy(model)
    params = list(model.parameters())
    if mistake in ("twice", "no decay", "weights only"):
        decay = {"twice": 2 * weight_decay, "no decay": 0.0, "weights only": weight_decay}[mistake]
        groups = ([{"params": [p for p in params if p.dim() > 1]},
                   {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
                  if mistake == "weights only" else params)
        optimizer = torch.optim.SGD(groups, lr=lr, weight_decay=decay)
    else:
        optimizer = torch.optim.SGD(params, lr=lr, weight_decay=0.0 if mistake else weight_decay)
    for _ in range(steps):
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if mistake == "l1":
            loss = loss + weight_decay * sum(p.abs().sum() for p in params)
        elif mistake == "norm":
            loss = loss + weight_decay / 2 * sum(p.norm() for p in params)
        elif mistake == "no zero_grad":
            loss = loss + weight_decay / 2 * sum((p ** 2).sum() for p in params)
        loss.backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


LOOP_MISTAKES = {
    "twice": "your weights match SGD with weight_decay = 2λ: the penalty λ·Σw² has gradient 2λw. The L2 term that "
             "equals weight_decay=λ is (λ/2)·Σw².",
    "no decay": "your weights match SGD without any decay: the penalty contributed no gradient. Is it in the loss "
                "you call backward() on, and computed from the parameters themselves (not .data or .detach())?",
    "weights only": "your weights match decay on the weight matrices only. SGD(model.parameters(), "
                    "weight_decay=λ) decays every parameter it is given, biases too: penalize them all here.",
    "l1": "your weights match an L1 penalty λ·Σ|w|: weight decay is the gradient of the *squared* norm, "
          "(λ/2)·Σw².",
    "norm": "your penalty uses the norm ‖w‖, not its square: its gradient is w/‖w‖, a pull of constant size. "
            "Sum the squares, (λ/2)·Σw².",
    "no zero_grad": "your gradients accumulate from step to step: loss.backward() adds to .grad, so zero the "
                    "gradients before each backward pass.",
}


def check_train_with_l2(train_with_l2: Callable[..., Any]) -> Verdict:
    """Exercise 03.2: ``train_with_l2(model, x, y, weight_decay, lr, steps)`` equals SGD(weight_decay)."""
    with torch.random.fork_rng():  # the notebook's own random stream is left as it was
        return _check_train_with_l2(train_with_l2)


def _check_train_with_l2(train_with_l2) -> Verdict:
    cases = [(12, 5, 7, 3, 0.1, 0.5, 6), (30, 8, 4, 5, 0.03, 0.2, 10), (9, 3, 6, 2, 0.5, 0.3, 4)]
    for seed, (n, inputs, hidden, classes, weight_decay, lr, steps) in enumerate(cases):
        torch.manual_seed(seed)
        model = _small_network(inputs, hidden, classes)
        x, y = torch.randn(n, inputs, dtype=torch.float64), torch.randint(0, classes, (n,))
        start, given = copy.deepcopy(model), (x.clone(), y.clone())
        shown = f"train_with_l2(model, x, y, weight_decay={weight_decay}, lr={lr}, steps={steps})"
        losses, unanswered = attempt(train_with_l2, model, *given, weight_decay, lr, steps,
                                     name="train_with_l2", shown=shown)
        if unanswered is not None:
            return unanswered
        if not (torch.equal(given[0], x) and torch.equal(given[1], y)):
            return report(False, "train_with_l2 changed x or y in place (e.g. x -= x.mean()): the caller's data "
                                 "are no longer what they were. Only the model's parameters may change.")
        if not isinstance(losses, list) or len(losses) != steps or not all(
                isinstance(v, float) and not isinstance(v, bool) for v in losses):
            kinds = sorted({type(v).__name__ for v in losses}) if isinstance(losses, list) else []
            return report(False, f"train_with_l2 must return a list of {steps} Python floats, the penalized loss "
                                 f"before each step; got {type(losses).__name__}"
                                 + (f" of {', '.join(kinds)}" if kinds else "")
                                 + ". Turn a loss tensor into a float with loss.item(): a kept tensor also keeps "
                                   "its whole autograd graph alive.")
        got = torch.cat([p.detach().flatten() for p in model.parameters()])
        if torch.equal(got, torch.cat([p.detach().flatten() for p in start.parameters()])):
            return report(False, "the model's parameters did not change. Update them in place, inside "
                                 "torch.no_grad(): p -= lr * p.grad (a line like p = p - lr * p.grad only "
                                 "rebinds a name).")
        expected = _reference_run(start, x, y, weight_decay, lr, steps)
        if torch.allclose(got, expected, rtol=1e-9, atol=1e-11):
            first = torch.nn.functional.cross_entropy(start(x), y) + weight_decay / 2 * sum(
                (p ** 2).sum() for p in start.parameters())
            if not np.isclose(losses[0], first.item(), rtol=1e-9):
                return report(False, f"the weights are right, but the first loss you return is {losses[0]:.6g}; "
                                     f"the penalized loss before any step is {first.item():.6g} (cross-entropy "
                                     "plus the penalty).")
            continue
        for mistake, message in LOOP_MISTAKES.items():
            if torch.allclose(got, _reference_run(start, x, y, weight_decay, lr, steps, mistake),
                              rtol=1e-9, atol=1e-11):
                return report(False, message)
        return report(False, f"after {steps} steps your parameters differ from torch.optim.SGD(weight_decay="
                             f"{weight_decay}) by up to {(got - expected).abs().max().item():.3g}. Take full-batch "
                             "steps on the mean cross-entropy plus (λ/2)·Σw² over every parameter.")
    return report(True, "On three random networks and data sets your loop ends on the same weights as "
                        "torch.optim.SGD(weight_decay=λ), to 1e-9: an L2 term in the loss *is* weight decay "
                        "for SGD.")


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


IN_PLACE = "changed its inputs in place"


def _learner_adam(adam_step, w, grads, lr, weight_decay, decoupled):
    m, v = np.zeros_like(w), np.zeros_like(w)
    trajectory = []
    for t, grad in enumerate(grads, start=1):
        inputs = [w, grad, m, v]
        given = [a.copy() for a in inputs]
        result, problem = call(adam_step, *given, t, lr, weight_decay, decoupled)
        if problem:
            return None, problem
        if any(not np.array_equal(a, b) for a, b in zip(inputs, given)):
            return None, IN_PLACE
        if not isinstance(result, tuple) or len(result) != 3:
            return None, f"adam_step must return a tuple (w, m, v); got {type(result).__name__}"
        w, m, v = (np.asarray(r, dtype=float) for r in result)
        trajectory.append(w)
    return trajectory, None


def check_adam_step(adam_step: Callable[..., Any]) -> Verdict:
    """Exercise 03.3: ``adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)`` matches torch's Adam / AdamW."""
    rng = np.random.default_rng(3)
    for shape, lr, weight_decay in [((6,), 0.01, 0.5), ((3, 4), 0.05, 0.1)]:
        w0 = rng.normal(0.0, 1.0, shape)
        grads = [rng.normal(0.0, s, shape) for s in (1.0, 0.5, 2.0, 1.0, 0.1)]
        verdict = _check_adam_case(adam_step, w0, grads, lr, weight_decay)
        if verdict is not None:
            return verdict
    return report(True, "Both steps match torch.optim.Adam and torch.optim.AdamW for five steps, on two shapes. "
                        "Only the place where weight_decay enters differs, and with Adam that matters.")


def _check_adam_case(adam_step, w0, grads, lr, weight_decay) -> Verdict | None:
    """A failing verdict for this start and these gradients, or None when both kinds of decay match torch."""
    for decoupled, name in [(False, "Adam (coupled L2)"), (True, "AdamW (decoupled decay)")]:
        expected = _torch_adam(w0, grads, lr, weight_decay, decoupled)
        answer, problem = _learner_adam(adam_step, w0, grads, lr, weight_decay, decoupled)
        if problem == "not solved":
            return not_solved("adam_step")
        if problem == IN_PLACE:
            return report(False, "adam_step changed w, grad, m or v in place (e.g. w -= ... or m *= beta1): the "
                                 "caller's arrays are no longer what they were. Compute new arrays and return "
                                 "them.")
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
    return None
