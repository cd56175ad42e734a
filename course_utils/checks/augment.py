"""Checkers for the exercises of notebook 06 (data augmentation), and the references they compare against.

Exercise 6.1 asks for ``random_scale(x, low, high, training)``, a random
amplitude per sequence. Exercise 6.2 asks for ``random_shift(x, max_shift,
training)``: in training, move each sequence of the batch (batch, length) by
its own random whole number of positions, uniform in [-max_shift, max_shift],
filling the positions it moved away from with zeros; at evaluation, return
``x`` unchanged. Exercise 6.3 asks for ``mixup_loss(logits, y1, y2, lam)``,
compared with torch's cross-entropy on blended probability targets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..augment import shift
from ..validation import check_positive_int
from . import Verdict, attempt, call, report, wrong_tensor


def random_padded_shift(x: torch.Tensor, max_shift: int, training: bool = True) -> torch.Tensor:
    """The reference answer: one random shift per sequence, zeros shifted in, the identity in eval."""
    check_positive_int(max_shift, "max_shift", minimum=0)
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError("x must be a torch.Tensor of shape (batch, length)")
    if not training or max_shift == 0:
        return x
    shifts = torch.randint(-max_shift, max_shift + 1, (len(x),))
    return shift(x, shifts, mode="zeros")


def _find_shifts(out: torch.Tensor, x: torch.Tensor, mode: str) -> torch.Tensor:
    """For each row, the shift s with out[i] == shift(x[i], s, mode), or a large sentinel when none fits."""
    length = x.shape[1]
    found = torch.full((len(x),), 10 ** 6, dtype=torch.int64)
    for s in range(-(length - 1), length):
        candidate = shift(x, torch.full((len(x),), s), mode)
        match = (candidate - out).abs().amax(1) < 1e-6
        found = torch.where(match & (found == 10 ** 6), torch.full_like(found, s), found)
    return found


def _zeros_at_wrong_end(out: torch.Tensor, x: torch.Tensor) -> bool:
    """True when rows are rolled but the zeros sit where the content moved TO (the far end)."""
    length = x.shape[1]
    for s in range(1, length // 2):
        rolled = torch.roll(x, s, 1)
        right_wrong = rolled.clone()
        right_wrong[:, -s:] = 0                      # shifted right, but the end was zeroed
        left_wrong = torch.roll(x, -s, 1).clone()
        left_wrong[:, :s] = 0                        # shifted left, but the start was zeroed
        for wrong in (right_wrong, left_wrong):
            if bool(((wrong - out).abs().amax(1) < 1e-6).any()):
                return True
    return False


def check_random_shift(random_shift) -> Verdict:
    """Exercise 6.2: ``random_shift(x, max_shift, training)``, a zero-padded random shift per sequence."""
    with torch.random.fork_rng():  # the notebook's own random stream is left as it was
        return _check_random_shift(random_shift)


def _check_random_shift(random_shift) -> Verdict:
    torch.manual_seed(0)
    for n, length, max_shift in [(1000, 40, 3), (600, 25, 5)]:
        x = torch.rand(n, length) + 0.5   # strictly positive: a zero can only be padding
        given = x.clone()
        out, unanswered = attempt(random_shift, given, max_shift, True, name="random_shift",
                                  shown=f"random_shift(x, max_shift={max_shift}, training=True)")
        if unanswered is not None:
            return unanswered
        if not torch.equal(given, x):
            return report(False, "random_shift changed its input x in place. The batch is the training data of "
                                 "every epoch: build and return a new tensor.")
        if (wrong := wrong_tensor(out, x, "random_shift")) is not None:
            return wrong
        shifts = _find_shifts(out, x, "zeros")
        unmatched = shifts == 10 ** 6
        if bool(unmatched.any()):
            circular = _find_shifts(out[unmatched], x[unmatched], "circular")
            if bool((circular != 10 ** 6).all()):
                return report(False, "your sequences wrap around: what leaves one end comes back in at the other "
                                     "(like torch.roll). The exercise asks for zero padding: the positions a "
                                     "sequence moved away from must be 0, and what is pushed past the end is lost.")
            if _zeros_at_wrong_end(out[unmatched], x[unmatched]):
                return report(False, "the zeros are at the wrong end: after a shift to the right by s, the FIRST s "
                                     "positions are empty (out[j] = x[j - s]); after a shift to the left, the last "
                                     "ones.")
            return report(False, f"{int(unmatched.sum())} of {n} output rows are not their input row moved by a "
                                 "whole number of positions with zeros filled in (out[i, j] = x[i, j - s_i]). "
                                 "Do not change the values, only their positions.")
        if len(torch.unique(shifts)) == 1:
            return report(False, f"every sequence of the batch was shifted by the same amount ({int(shifts[0])}). "
                                 "Draw one shift per sample (e.g. torch.randint(..., (len(x),))), so the batch "
                                 "shows the network many different variants at once.")
        if int(shifts.abs().max()) > max_shift:
            return report(False, f"some shifts are larger than max_shift={max_shift} (up to "
                                 f"{int(shifts.abs().max())}); draw them from -max_shift to +max_shift.")
        if int(shifts.min()) >= 0 or int(shifts.max()) <= 0:
            direction = "right" if int(shifts.min()) >= 0 else "left"
            return report(False, f"every shift goes the same way (to the {direction}); they must go both ways, "
                                 f"uniformly from -max_shift to +max_shift.")
        if int(shifts.min()) > -max_shift or int(shifts.max()) < max_shift:
            return report(False, f"with max_shift={max_shift} the shifts must reach ±{max_shift}, but yours ranged "
                                 f"from {int(shifts.min())} to {int(shifts.max())}. Mind that torch.randint's upper "
                                 "bound is exclusive: torch.randint(-k, k + 1, ...).")
        counts = torch.bincount(shifts + max_shift, minlength=2 * max_shift + 1).double() / n
        if float((counts - 1 / (2 * max_shift + 1)).abs().max()) > 0.05:
            listed = ", ".join(f"{s}: {c:.0%}" for s, c in zip(range(-max_shift, max_shift + 1), counts.tolist()))
            return report(False, f"the shifts should be equally likely, 1/{2 * max_shift + 1} each; yours were "
                                 f"{listed}.")
    again, _ = call(random_shift, x.clone(), max_shift, True)
    if isinstance(again, torch.Tensor) and torch.equal(again, out):
        return report(False, "two calls shifted every sequence in exactly the same way: the shifts must be "
                             "drawn anew on every call (from torch's random stream, not a fixed seed), or "
                             "every epoch shows the network the same variants.")
    evaluated, problem = call(random_shift, x.clone(), max_shift, False)
    if problem:
        return report(False, f"random_shift(x, max_shift={max_shift}, training=False) raised {problem}")
    if not isinstance(evaluated, torch.Tensor) or not torch.equal(evaluated, x):
        return report(False, "with training=False the input must come back unchanged: augmentation is for "
                             "training only. Shifting at evaluation would measure the model on data it will "
                             "never see, and make every evaluation random.")
    unchanged, problem = call(random_shift, x.clone(), 0, True)
    if problem or not isinstance(unchanged, torch.Tensor) or not torch.equal(unchanged, x):
        return report(False, "with max_shift=0 nothing may move: the output must equal the input.")
    return report(True, f"each sequence got its own shift, uniform from -{max_shift} to +{max_shift}, with zeros "
                        "filled in, and evaluation is left untouched.")


def random_amplitude(x: torch.Tensor, low: float, high: float, training: bool = True) -> torch.Tensor:
    """The reference for exercise 6.1: each sequence times its own factor, uniform in [low, high]."""
    if not training:
        return x
    return x * (low + (high - low) * torch.rand(len(x), 1, dtype=x.dtype))


def check_random_scale(random_scale) -> Verdict:
    """Exercise 6.1: ``random_scale(x, low, high, training)``, a random amplitude per sequence."""
    with torch.random.fork_rng():  # the notebook's own random stream is left as it was
        return _check_random_scale(random_scale)


def _check_random_scale(random_scale) -> Verdict:
    torch.manual_seed(0)
    for n, length, low, high in [(2000, 40, 0.8, 1.2), (3000, 7, 0.5, 2.0)]:
        x = torch.rand(n, length, dtype=torch.float64) + 0.5   # positive: the factor is out / x
        given = x.clone()
        shown = f"random_scale(x, low={low}, high={high}, training=True)"
        out, unanswered = attempt(random_scale, given, low, high, True, name="random_scale", shown=shown)
        if unanswered is not None:
            return unanswered
        if not torch.equal(given, x):
            return report(False, "random_scale changed its input x in place (e.g. x *= factor). The batch is "
                                 "the training data of every epoch: return a new tensor.")
        if (wrong := wrong_tensor(out, x, "random_scale")) is not None:
            return wrong
        factors = out / x
        if float((factors - factors[:, :1]).abs().max()) > 1e-6:
            return report(False, "the factor changes along a sequence: you drew one factor per element, which "
                                 "adds noise and changes the shape. Draw one factor per sequence, of shape "
                                 "(batch, 1), so that broadcasting scales the whole row.")
        factors = factors[:, 0]
        if float(factors.max() - factors.min()) < 1e-9:
            return report(False, f"every sequence of the batch got the same factor ({float(factors[0]):.3f}). "
                                 "Draw one factor per sequence, so the batch shows many different variants.")
        if float(factors.min()) >= 0 and float(factors.max()) < 1 and high > 1:
            return report(False, "your factors lie in [0, 1): torch.rand draws from [0, 1), so map it onto "
                                 f"[low, high] = [{low}, {high}] (a shift and a stretch).")
        if float(factors.min()) < low - 1e-9 or float(factors.max()) > high + 1e-9:
            return report(False, f"some factors lie outside [low, high] = [{low}, {high}] (from "
                                 f"{float(factors.min()):.3f} to {float(factors.max()):.3f}); draw them uniformly "
                                 "in that interval.")
        width = high - low
        if (float(factors.min()) > low + 0.01 * width or float(factors.max()) < high - 0.01 * width
                or abs(float(factors.mean()) - (low + high) / 2) > 0.03 * width):
            return report(False, f"the factors should be uniform on [{low}, {high}]: yours range from "
                                 f"{float(factors.min()):.3f} to {float(factors.max()):.3f} with mean "
                                 f"{float(factors.mean()):.3f}.")
    again, _ = call(random_scale, x.clone(), low, high, True)
    if isinstance(again, torch.Tensor) and torch.equal(again, out):
        return report(False, "two calls scaled every sequence by the same factors: draw them anew on every "
                             "call (from torch's random stream, not a fixed seed), or every epoch shows the "
                             "network the same variants.")
    evaluated, problem = call(random_scale, x.clone(), low, high, False)
    if problem:
        return report(False, f"random_scale(x, low={low}, high={high}, training=False) raised {problem}")
    if not isinstance(evaluated, torch.Tensor) or not torch.equal(evaluated, x):
        return report(False, "with training=False the input must come back unchanged: augmentation is for "
                             "training only, and validation must measure the model on the data as it is.")
    return report(True, "one factor per sequence, uniform on [low, high], drawn anew on every call, and "
                        "evaluation is left untouched.")


def mixup_cross_entropy(logits: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor, lam) -> torch.Tensor:
    """The reference for exercise 6.3: cross-entropy with the blended probability targets, as torch computes it."""
    targets = lam * F.one_hot(y1, logits.shape[1]) + (1 - lam) * F.one_hot(y2, logits.shape[1])
    return F.cross_entropy(logits, targets.to(logits.dtype))


def check_mixup_loss(mixup_loss) -> Verdict:
    """Exercise 6.3: ``mixup_loss(logits, y1, y2, lam)``, compared with torch's cross-entropy on blended targets."""
    with torch.random.fork_rng():
        return _check_mixup_loss(mixup_loss)


def _check_mixup_loss(mixup_loss) -> Verdict:
    torch.manual_seed(1)
    for batch, classes, lam in [(16, 10, 0.3), (7, 3, 0.85), (50, 5, torch.tensor(0.06))]:
        logits = 3 * torch.randn(batch, classes, dtype=torch.float64)
        y1, y2 = torch.randint(classes, (batch,)), torch.randint(classes, (batch,))
        y1[0], y2[0] = 0, classes - 1               # at least one pair with different labels
        given = logits.clone().requires_grad_()
        answer, unanswered = attempt(mixup_loss, given, y1.clone(), y2.clone(), lam, name="mixup_loss",
                                     shown=f"mixup_loss(logits, y1, y2, lam={float(lam)})")
        if unanswered is not None:
            return unanswered
        if not torch.equal(given.detach(), logits):
            return report(False, "mixup_loss changed logits in place; the network's output must stay as it "
                                 "was for the backward pass.")
        if not isinstance(answer, torch.Tensor):
            return report(False, f"mixup_loss must return a torch tensor, the loss to call .backward() on; got "
                                 f"{type(answer).__name__} (.item() or float() cut the loss off from the graph).")
        if answer.ndim == 1 and len(answer) == batch:
            return report(False, "mixup_loss returns one loss per example; return the mean over the batch, "
                                 "one number, as F.cross_entropy does by default.")
        if answer.numel() != 1:
            return report(False, f"mixup_loss must return one number; got shape {tuple(answer.shape)}.")
        expected, value = mixup_cross_entropy(logits, y1, y2, lam), float(answer.detach())
        if abs(value - float(expected)) <= 1e-6 * max(1.0, abs(float(expected))):
            if answer.grad_fn is None:
                return report(False, "the value is right, but the loss is cut off from the graph (e.g. "
                                     "torch.tensor(...) around a number): backward would not reach the network.")
            continue
        if (mistake := _mixup_mistake(value, logits, y1, y2, float(lam))) is not None:
            return report(False, mistake)
        return report(False, f"for a batch of {batch} with {classes} classes and lam={float(lam)} you return "
                             f"{value:.5f}; cross-entropy with the blended probability targets gives "
                             f"{float(expected):.5f}.")
    return report(True, "on three batches your loss equals torch's cross_entropy with the blended probability "
                        "targets, lam·onehot(y1) + (1 − lam)·onehot(y2).")


def _mixup_mistake(value, logits, y1, y2, lam) -> str | None:
    """The message for a usual wrong mixup loss that gives ``value``, or None."""
    ce1, ce2 = F.cross_entropy(logits, y1, reduction="none"), F.cross_entropy(logits, y2, reduction="none")
    blended_index = (lam * y1 + (1 - lam) * y2).round().long()
    probabilities = logits.softmax(1)
    mistakes = {
        "the weights are swapped: lam weights y1, the label of the example that was multiplied by lam, and "
        "1 − lam the partner's y2": ((1 - lam) * ce1 + lam * ce2).mean(),
        "the partner's label y2 is missing: mixup blends the labels as it blends the inputs":
            ce1.mean(),
        "the loss is not weighted by lam: each label counts as much as its share in the blend":
            (ce1 + ce2).mean() / 2,
        "you blended the class indices: a class number is a name, not a quantity (the blend of class 2 and class "
        "4 is not class 3). Blend the losses, or the one-hot targets": F.cross_entropy(logits, blended_index),
        "the losses are summed over the batch: average them, as F.cross_entropy does by default":
            (lam * ce1 + (1 - lam) * ce2).sum(),
        "cross_entropy takes logits and applies the softmax itself; you applied softmax first":
            (lam * F.cross_entropy(probabilities, y1, reduction="none")
             + (1 - lam) * F.cross_entropy(probabilities, y2, reduction="none")).mean(),
    }
    for mistake, wrong in mistakes.items():
        if abs(value - float(wrong)) < 1e-6 * max(1.0, abs(float(wrong))):
            return mistake + "."
    return None
