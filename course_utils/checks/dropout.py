"""Checkers for the exercises of notebook 05 (dropout), and the references they compare against.

``inverted_dropout`` is the from-scratch layer the notebook teaches; the unit
tests check it against ``torch.nn.Dropout``, and ``check_dropout`` compares a
learner's function with both. ``NumpyDropout`` and ``numerical_gradient`` are
the NumPy layer with its backward pass and the finite-difference check;
their checkers compare with torch's autograd. ``max_norm_projection`` is the
max-norm constraint of Srivastava et al.; ``check_max_norm`` compares a
learner's projection with ``course_utils.constraints.max_norm_`` and with
``torch.renorm``.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from ..constraints import max_norm_
from ..validation import check_rate
from . import Verdict, attempt, call, report, wrong_tensor

__all__ = ["NumpyDropout", "check_dropout", "check_dropout_backward", "check_max_norm", "check_numerical_gradient",
           "inverted_dropout", "max_norm_projection", "numerical_gradient"]


def inverted_dropout(x: torch.Tensor, p: float, training: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero each element with probability ``p`` and scale the survivors by 1/(1-p); the identity in eval.

    Scaling in training (rather than by 1-p at test time) keeps the expected
    activation equal in both modes, so evaluation needs no change at all.
    """
    check_rate(p, "p")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if not training or p == 0:
        return x
    keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= p  # P(keep) = 1 - p
    return x * keep / (1.0 - p)


def _statistics(out: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """Fraction of zeros, and mean(out) / mean(x)."""
    return float((out == 0).double().mean()), float(out.double().mean() / x.double().mean())


def check_dropout(dropout: Callable[..., Any]) -> Verdict:
    """Exercise 5.1: ``dropout(x, p, training)``, inverted dropout, compared with ``torch.nn.Dropout``."""
    with torch.random.fork_rng():  # the notebook's own random stream is left as it was
        return _check_dropout(dropout)


def _check_dropout(dropout) -> Verdict:
    p = 0.3
    torch.manual_seed(0)
    x = torch.rand(400, 250) + 0.5  # strictly positive, so a zero can only come from the mask
    given = x.clone()
    out, unanswered = attempt(dropout, given, p, True,
                              name="dropout", shown="dropout(x, p=0.3, training=True)")
    if unanswered is not None:
        return unanswered
    if not torch.equal(given, x):
        return report(False, "dropout changed its input x in place (e.g. x *= mask or x[mask] = 0). The caller "
                             "still needs x, and autograd needs it for the backward pass: return a new tensor, "
                             "x * mask / (1 - p).")
    if (wrong := wrong_tensor(out, x, "dropout")) is not None:
        return wrong
    dropped = out == 0
    if bool((dropped == dropped[:1]).all()):
        return report(False, "every sample of the batch dropped the same units: your mask has one row, shared "
                             "by the whole batch (e.g. torch.rand(1, features)). Each element needs its own "
                             "draw, a mask of x's full shape: torch.rand(x.shape) >= p.")
    if bool((dropped == dropped[:, :1]).all()):
        return report(False, "each sample dropped either all of its units or none: your mask has one number "
                             "per sample. Each element needs its own draw: torch.rand(x.shape) >= p.")
    reference = torch.nn.Dropout(p).train()(x)
    zeros, mean_ratio = _statistics(out, x)
    torch_zeros, torch_mean_ratio = _statistics(reference, x)
    if abs(zeros - (1 - p)) < 0.02:
        return report(False, f"{zeros:.0%} of the outputs are zero, but p={p} is the probability to DROP a unit; "
                             f"you dropped with probability 1-p. Keep an element when a uniform draw is >= p.")
    if abs(zeros - p) > 0.02:
        return report(False, f"{zeros:.1%} of the outputs are zero; with p={p} about {p:.0%} should be "
                             f"(torch.nn.Dropout zeroed {torch_zeros:.1%}). Draw one independent uniform number "
                             "per element and zero the element when it is below p.")
    kept = out != 0
    if torch.allclose(out[kept], x[kept]):
        return report(False, "the kept values are unchanged, so in training the layer's output is on average "
                             f"{1 - p:.0%} of its input (here mean ratio {mean_ratio:.2f}), but at evaluation it "
                             "passes everything: the next layer sees different scales in the two modes. "
                             "Divide the kept values by 1-p (inverted dropout).")
    if torch.allclose(out[kept], x[kept] * (1 - p)):
        return report(False, "you multiplied the kept values by 1-p; inverted dropout DIVIDES them by 1-p, so "
                             "that the expected output equals the input.")
    if not torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-5, atol=1e-6):
        return report(False, "the kept values should be the inputs divided by 1-p; yours are not.")
    again, _ = call(dropout, x.clone(), p, True)
    if isinstance(again, torch.Tensor) and torch.equal((again == 0), (out == 0)):
        return report(False, "two calls dropped exactly the same elements: the mask must be drawn anew, "
                             "at random, on every call (use torch.rand inside the function).")
    evaluated, problem = call(dropout, x.clone(), p, False)
    if problem:
        return report(False, f"dropout(x, p=0.3, training=False) raised {problem}")
    if not isinstance(evaluated, torch.Tensor) or not torch.equal(evaluated, x):
        if isinstance(evaluated, torch.Tensor) and evaluated.shape == x.shape and bool((evaluated == 0).any()):
            return report(False, "dropout is still on at evaluation (training=False): some outputs are zero. "
                                 "At evaluation inverted dropout must return its input unchanged; leaving it on "
                                 "makes every prediction noisy and lowers the measured accuracy.")
        if isinstance(evaluated, torch.Tensor) and torch.allclose(evaluated, x * (1 - p)):
            return report(False, "at evaluation you scaled by 1-p; that is the rule of the original, "
                                 "non-inverted dropout. Inverted dropout already rescaled in training, so "
                                 "at evaluation it is the identity.")
        return report(False, "with training=False dropout must return its input unchanged (the identity), "
                             "as torch.nn.Dropout does in eval mode.")
    unchanged, problem = call(dropout, x.clone(), 0.0, True)
    if problem or not isinstance(unchanged, torch.Tensor) or not torch.allclose(unchanged, x):
        return report(False, "with p=0 nothing may be dropped: the output must equal the input.")
    return report(True, f"like torch.nn.Dropout: {zeros:.0%} zeros (torch {torch_zeros:.0%}), mean kept "
                        f"(output/input {mean_ratio:.2f}, torch {torch_mean_ratio:.2f}), and the identity "
                        "at evaluation.")


class NumpyDropout:
    """The reference for exercise 5.2: inverted dropout on NumPy arrays, with its backward pass.

    ``forward`` keeps the mask it drew, because the backward pass must route the
    gradient through exactly the units that were kept.
    """

    def __init__(self, p: float, rng: np.random.Generator):
        self.p, self.rng = check_rate(p, "p"), rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.keep = self.rng.random(x.shape) >= self.p
        return x * self.keep / (1 - self.p)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.keep / (1 - self.p)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """The reference for exercise 5.3: central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h, per element."""
    gradient = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + h
        above = f(x)
        x[i] = original - h
        below = f(x)
        x[i] = original  # restored exactly: the caller's array is left as it was
        gradient[i] = (above - below) / (2 * h)
    return gradient


@contextmanager
def _numpy_stream_kept():
    """Leave NumPy's global random stream as it was, even if the learner's code draws from it."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _not_an_array(answer, like: np.ndarray, name: str) -> Verdict | None:
    """A failing verdict unless ``answer`` is a NumPy array shaped like ``like``."""
    if isinstance(answer, np.ndarray) and answer.shape == like.shape:
        return None
    return report(False, f"{name} must return a NumPy array of shape {like.shape}; got {type(answer).__name__}"
                         f" with shape {getattr(answer, 'shape', None)}.")


def _autograd_through(keep: np.ndarray, x: np.ndarray, grad_out: np.ndarray, p: float) -> np.ndarray:
    """dL/dx by torch's autograd for out = x·keep/(1-p), given dL/dout."""
    leaf = torch.tensor(x, requires_grad=True)
    (leaf * torch.as_tensor(keep) / (1 - p)).backward(torch.as_tensor(grad_out))
    return leaf.grad.numpy()


def check_dropout_backward(layer_class: type) -> Verdict:
    """Exercise 5.2: a class ``layer_class(p, rng)`` with ``forward(x)`` and ``backward(grad_out)`` in NumPy."""
    with torch.random.fork_rng(), _numpy_stream_kept():
        return _check_dropout_backward(layer_class)


# (shape, p): p is never 0.5, so that dropping with probability 1 - p instead of p shows
_BACKWARD_CASES = [((80, 50), 0.3), ((6, 5, 8), 0.2), ((200, 30), 0.4)]


def _check_dropout_backward(layer_class) -> Verdict:
    for case, (shape, p) in enumerate(_BACKWARD_CASES):
        data = np.random.default_rng(case)
        x = data.uniform(0.5, 1.5, shape)          # positive: a zero can only come from the mask
        grad_out = data.normal(size=shape)
        layer, unanswered = attempt(layer_class, p, np.random.default_rng(100 + case),
                                    name="NumpyDropout", shown=f"NumpyDropout(p={p}, rng)")
        if unanswered is not None:
            return unanswered
        if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
            return report(False, f"NumpyDropout(p, rng) must build an object with methods forward(x) and "
                                 f"backward(grad_out); got {type(layer).__name__}. Write it as a class.")
        for draw in range(2):                      # a second forward must draw a new mask, and backward use it
            given = x.copy()
            out, unanswered = attempt(layer.forward, given, name="forward", shown="layer.forward(x)")
            if unanswered is not None:
                return unanswered
            if not np.array_equal(given, x):
                return report(False, "forward changed its input x in place (e.g. x *= mask). The caller still "
                                     "needs x: return a new array.")
            if (wrong := _not_an_array(out, x, "forward")) is not None:
                return wrong
            if (problem := _forward_mistake(out, x, p)) is not None:
                return problem
            keep = out != 0
            if draw == 1 and np.array_equal(keep, first_keep):
                return report(False, "two calls of forward dropped exactly the same units: draw a new mask on "
                                     "every forward call (from self.rng), not once for the layer.")
            first_keep = keep
            given = grad_out.copy()
            grad_in, unanswered = attempt(layer.backward, given, name="backward",
                                          shown="layer.backward(grad_out)")
            if unanswered is not None:
                return unanswered
            if not np.array_equal(given, grad_out):
                return report(False, "backward changed grad_out in place (e.g. grad_out *= mask). Return a new "
                                     "array: the caller may still need grad_out.")
            if (wrong := _not_an_array(grad_in, x, "backward")) is not None:
                return wrong
            expected = _autograd_through(keep, x, grad_out, p)
            if not np.allclose(grad_in, expected, rtol=1e-10, atol=1e-12):
                return _backward_mistake(grad_in, expected, grad_out, out, keep, p)
    return report(True, f"on {len(_BACKWARD_CASES)} shapes, forward is inverted dropout and backward equals "
                        "torch's autograd through the same mask, forward after forward.")


def _forward_mistake(out: np.ndarray, x: np.ndarray, p: float) -> Verdict | None:
    keep = out != 0
    zeros, spread = 1 - keep.mean(), 5 * np.sqrt(p * (1 - p) / keep.size)
    if abs(zeros - (1 - p)) < spread:
        return report(False, f"forward zeroed {zeros:.0%} of x with p={p}: p is the probability to DROP a unit, "
                             "and you dropped with probability 1-p.")
    if abs(zeros - p) > spread:
        return report(False, f"forward zeroed {zeros:.0%} of x; with p={p} about {p:.0%} should be zero. Draw "
                             "one uniform number per element and drop the element when it is below p.")
    if x.ndim == 2 and np.all(keep == keep[:1]):
        return report(False, "forward dropped the same units for every sample of the batch: the mask needs "
                             "x's full shape, one draw per element.")
    if not np.allclose(out[keep], x[keep] / (1 - p)):
        scaled = "not rescaled" if np.allclose(out[keep], x[keep]) else "not divided by 1-p"
        return report(False, f"forward's kept values are {scaled}: inverted dropout divides them by 1-p, so "
                             "that the expected output equals x.")
    return None


def _backward_mistake(grad_in, expected, grad_out, out, keep, p) -> Verdict:
    if np.allclose(grad_in, grad_out):
        return report(False, "backward returns grad_out unchanged: the dropped units did not reach the output, "
                             "so their gradient is 0, and the kept ones were scaled in forward, so their "
                             "gradient is scaled too.")
    if np.allclose(grad_in, grad_out * keep):
        return report(False, "backward routes the gradient through the mask but forgets the factor 1/(1-p) "
                             "that forward applied: the chain rule applies every factor of the forward pass.")
    if np.allclose(grad_in, grad_out * keep * (1 - p)):
        return report(False, "backward multiplies by 1-p; forward divided the kept units by 1-p, so their "
                             "gradient is divided by 1-p too.")
    if np.allclose(grad_in, grad_out * out):
        return report(False, "backward multiplies grad_out by forward's OUTPUT; the derivative of "
                             "x·mask/(1-p) with respect to x is mask/(1-p), which does not depend on x.")
    if not np.array_equal(grad_in != 0, keep):
        return report(False, "backward's zeros are not where forward dropped units: it must reuse the mask "
                             "forward drew (store it on the layer, e.g. self.mask), not draw a new one.")
    return report(False, f"backward differs from torch's autograd through the same mask by up to "
                         f"{np.max(np.abs(grad_in - expected)):.2g}.")


# Scalar test functions as (NumPy version, torch version, shape); the torch twin gives the exact gradient.
def _test_functions():
    data = np.random.default_rng(7)
    weights, mixing = data.normal(size=(3, 4)), data.normal(size=(5, 12))
    keep, upstream = data.random((4, 6)) >= 0.3, data.normal(size=(4, 6))
    return [
        (lambda v: np.sum(np.sin(v) * weights), lambda t: (torch.sin(t) * torch.as_tensor(weights)).sum(), (3, 4)),
        (lambda v: np.sum(np.tanh(mixing @ v.ravel()) ** 2),
         lambda t: (torch.tanh(torch.as_tensor(mixing) @ t.flatten()) ** 2).sum(), (2, 3, 2)),
        (lambda v: np.sum(upstream * v * keep / 0.7),            # a loss through a fixed dropout mask
         lambda t: (torch.as_tensor(upstream) * t * torch.as_tensor(keep) / 0.7).sum(), (4, 6)),
        (lambda v: np.sum(v ** 3) + np.prod(v[:2]), lambda t: (t ** 3).sum() + t[:2].prod(), (5,)),
    ]


def check_numerical_gradient(numerical_gradient_fn: Callable[..., Any]) -> Verdict:
    """Exercise 5.3: ``numerical_gradient(f, x, h)``, central differences, compared with torch's autograd."""
    with torch.random.fork_rng(), _numpy_stream_kept():
        return _check_numerical_gradient(numerical_gradient_fn)


def _check_numerical_gradient(numerical_gradient_fn) -> Verdict:
    h, name = 1e-5, "numerical_gradient"
    for case, (f, f_torch, shape) in enumerate(_test_functions()):
        x = np.random.default_rng(20 + case).uniform(-1, 1, shape)
        given = x.copy()
        answer, unanswered = attempt(numerical_gradient_fn, f, given, h, name=name,
                                     shown=f"{name}(f, x, h={h})")
        if unanswered is not None:
            return unanswered
        if not np.allclose(given, x, rtol=1e-12, atol=0):
            return report(False, f"after {name} returned, x was not what the caller passed: restore each "
                                 "element you perturb (save it first, and put it back after the two "
                                 "evaluations), or work on a copy.")
        if (wrong := _not_an_array(answer, x, name)) is not None:
            return wrong
        leaf = torch.tensor(x, requires_grad=True)
        f_torch(leaf).backward()
        exact = leaf.grad.numpy()
        if np.allclose(answer, exact, rtol=1e-7, atol=1e-8):
            continue
        one_sided = np.zeros(shape)
        for i in np.ndindex(shape):
            nudged = x.copy()
            nudged[i] += h
            one_sided[i] = (f(nudged) - f(x)) / h
        if np.allclose(answer, one_sided, rtol=1e-9, atol=1e-10):
            return report(False, "you used a one-sided difference (f(x + h) − f(x)) / h: its error shrinks "
                                 "only like h, and it differs from autograd here by up to "
                                 f"{np.max(np.abs(one_sided - exact)):.1e}. Use the central difference "
                                 "(f(x + h) − f(x − h)) / 2h, whose error shrinks like h².")
        if np.allclose(answer, 2 * exact, rtol=1e-6, atol=1e-8):
            return report(False, "your gradient is twice autograd's: the two evaluations are 2h apart, so "
                                 "divide their difference by 2h, not h.")
        if np.allclose(answer, answer.flat[0]):
            return report(False, "every element got the same value: perturb ONE element at a time (x + h·e_i), "
                                 "not the whole array at once, which measures a directional derivative.")
        return report(False, f"for a test function of an array of shape {shape}, your gradient differs from "
                             f"autograd's by up to {np.max(np.abs(answer - exact)):.2g}.")
    return report(True, "on four test functions (one through a fixed dropout mask) your central differences "
                        "match torch's autograd to 1e-7.")


def max_norm_projection(weight: torch.Tensor, c: float) -> torch.Tensor:
    """The reference for exercise 5.4: a copy of ``weight`` (units, fan_in) with every row longer than c scaled to c."""
    return max_norm_(weight.clone(), c)


# (units, fan_in, c, seed): bounds that leave some rows alone and shrink others; fan-in 1 and a single unit too
_MAX_NORM_CASES = [(12, 9, 1.0, 0), (5, 30, 2.5, 1), (1, 6, 0.7, 2), (40, 1, 0.5, 3), (7, 7, 1.5, 4)]


def check_max_norm(projection: Callable[..., Any]) -> Verdict:
    """Exercise 5.4: ``projection(weight, c)``, the max-norm constraint on each unit's incoming weights (rows)."""
    with torch.random.fork_rng():
        return _check_max_norm(projection)


def _check_max_norm(projection) -> Verdict:
    name = "max_norm_projection"
    for units, fan_in, c, seed in _MAX_NORM_CASES:
        generator = torch.Generator().manual_seed(seed)
        # Row norms spread from about c/3 to 3c, so some rows must shrink and others must not move.
        rows = torch.randn(units, fan_in, generator=generator)
        lengths = c * torch.exp(torch.empty(units, 1).uniform_(-1.1, 1.1, generator=generator))
        lengths[:2] = torch.tensor([[3 * c], [c / 3]])[:units]   # at least one row of each kind
        weight = rows / rows.norm(dim=1, keepdim=True) * lengths
        given = weight.clone()
        answer, unanswered = attempt(projection, given, c, name=name, shown=f"{name}(weight, c={c})")
        if unanswered is not None:
            return unanswered
        if not torch.equal(given, weight):
            return report(False, f"{name} changed weight in place. The check asks for a new tensor, so that "
                                 "the caller decides when the weights change: compute the projected copy and "
                                 "return it (the library version, which runs inside training, works in place).")
        if (wrong := wrong_tensor(answer, weight, name)) is not None:
            return wrong
        expected = max_norm_projection(weight, c)
        if torch.allclose(answer, expected, rtol=1e-5, atol=1e-6):
            continue
        return _max_norm_mistake(answer, weight, c, expected)
    return report(True, f"on {len(_MAX_NORM_CASES)} weight matrices, rows longer than c are scaled back to norm c "
                        "and shorter rows are left alone, as course_utils.max_norm_ and torch.renorm do.")


def _max_norm_mistake(answer: torch.Tensor, weight: torch.Tensor, c: float, expected: torch.Tensor) -> Verdict:
    norms = weight.norm(dim=1, keepdim=True)
    answer_norms = answer.norm(dim=1)
    whole = weight * min(1.0, c / float(weight.norm()))
    if torch.allclose(answer, whole, rtol=1e-5, atol=1e-6):
        return report(False, "you scaled the whole matrix by one factor, from its overall norm. The bound is per "
                             "unit: each row (one unit's incoming weights) gets its own norm and its own factor.")
    columns = weight * torch.clamp(c / weight.norm(dim=0, keepdim=True), max=1.0)
    if torch.allclose(answer, columns, rtol=1e-5, atol=1e-6):
        return report(False, "you bounded the columns. A unit's incoming weights are its row, weight[j] (torch "
                             "stores a Linear layer's weight as (out_features, in_features)): take norms along "
                             "dim 1.")
    if torch.allclose(answer_norms, torch.full_like(answer_norms, c), rtol=1e-4):
        return report(False, "every row now has norm exactly c, including rows that were shorter: that is "
                             "normalization, not a constraint. Rows already inside the ball (norm ≤ c) must be "
                             "left unchanged.")
    if torch.allclose(answer, weight.clamp(-c, c)):
        return report(False, "you clipped each weight to [-c, c]. The constraint is on a row's Euclidean norm: "
                             "a row longer than c is rescaled as a whole, keeping its direction.")
    short = (norms <= c).flatten()
    if not torch.allclose(answer[short], weight[short], rtol=1e-5, atol=1e-6):
        return report(False, "some rows with norm ≤ c were changed; a projection leaves points inside the ball "
                             "where they are.")
    if torch.allclose(answer_norms, norms.flatten(), rtol=1e-4):
        return report(False, "rows longer than c kept their length: they must be scaled down to norm c.")
    return report(False, f"your projection differs from the expected one by up to "
                         f"{float((answer - expected).abs().max()):.2g}; rows longer than c should end with norm "
                         "c and point in their original direction.")
