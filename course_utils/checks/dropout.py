"""Checkers for the exercises of notebook 05 (dropout), and the reference they compare against.

``inverted_dropout`` is the from-scratch layer the notebook teaches; the unit
tests check it against ``torch.nn.Dropout``, and ``check_dropout`` compares a
learner's function with both.
"""
from __future__ import annotations

import torch

from ..validation import check_rate
from . import Verdict, attempt, call, report, wrong_tensor


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


def check_dropout(dropout) -> Verdict:
    """Exercise 05.1: ``dropout(x, p, training)``, inverted dropout, compared with ``torch.nn.Dropout``."""
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
