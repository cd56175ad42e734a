"""Checkers for the exercises of notebook 06 (data augmentation), and the references they compare against.

Exercise 6.1 asks for ``random_scale(x, low, high, training)``, a random
amplitude per sequence. Exercise 6.2 asks for ``random_shift(x, max_shift,
training)``: in training, move each sequence of the batch (batch, length) by
its own random whole number of positions, uniform in [-max_shift, max_shift],
filling the positions it moved away from with zeros; at evaluation, return
``x`` unchanged. Exercise 6.3 asks for ``mixup_loss(logits, y1, y2, lam)``,
compared with torch's cross-entropy on blended probability targets. Exercise
6.4 asks for ``cut_and_paste(x1, x2, lam)``, CutMix's box and label weight.
"""
from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F

from ..augment import cut_and_paste, shift
from ..validation import check_positive_int
from . import Verdict, attempt, call, report, wrong_tensor

__all__ = ["check_cut_and_paste", "check_mixup_loss", "check_random_scale", "check_random_shift",
           "mixup_cross_entropy", "paste_random_box", "random_amplitude", "random_padded_shift"]


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


def check_random_shift(random_shift: Callable[..., Any]) -> Verdict:
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


def check_random_scale(random_scale: Callable[..., Any]) -> Verdict:
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


def mixup_cross_entropy(logits: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor,
                        lam: float | torch.Tensor) -> torch.Tensor:
    """The reference for exercise 6.3: cross-entropy with the blended probability targets, as torch computes it."""
    targets = lam * F.one_hot(y1, logits.shape[1]) + (1 - lam) * F.one_hot(y2, logits.shape[1])
    return F.cross_entropy(logits, targets.to(logits.dtype))


def check_mixup_loss(mixup_loss: Callable[..., Any]) -> Verdict:
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


def paste_random_box(x1: torch.Tensor, x2: torch.Tensor,
                     lam: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference for exercise 6.4: the library's ``cut_and_paste`` on images of shape (batch, height, width)."""
    batch, height, width = x1.shape
    mixed, weight = cut_and_paste(x1.reshape(batch, -1), x2.reshape(batch, -1), lam, (height, width))
    return mixed.reshape(x1.shape), weight


# (batch, height, width, lam, calls): large images tell a side of √(1 − lam) from one of 1 − lam, even after rounding
_CUT_CASES = [(3, 20, 32, 0.75, 150), (4, 12, 12, 0.5, 150), (2, 8, 8, 1.0, 5)]


def check_cut_and_paste(cut_and_paste: Callable[..., Any]) -> Verdict:
    """Exercise 6.4: ``cut_and_paste(x1, x2, lam)`` -> (mixed, weight), CutMix's box and the weight of x1's label.

    One box for the batch is what the exercise asks; one box per image with one weight per image (shape (batch,))
    is accepted too.
    """
    with torch.random.fork_rng():
        return _check_cut_and_paste(cut_and_paste)


def _box_of(pasted: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the rectangle an (H, W) bool mask fills, (0, 0, 0, 0) if empty, None if none."""
    rows, columns = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
    if len(rows) == 0:
        return 0, 0, 0, 0
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    if int(pasted.sum()) != (bottom - top) * (right - left) or not bool(pasted[top:bottom, left:right].all()):
        return None
    return top, bottom, left, right


def _check_cut_and_paste(answer) -> Verdict:
    torch.manual_seed(2)
    for batch, height, width, lam, calls in _CUT_CASES:
        shown = f"cut_and_paste(x1, x2, lam={lam}) on images of shape ({batch}, {height}, {width})"
        boxes = []
        for _ in range(calls):
            x1 = torch.rand(batch, height, width, dtype=torch.float64) + 1     # x1 > 0 and x2 < 0: every pixel
            x2 = -torch.rand(batch, height, width, dtype=torch.float64) - 1    # of the output says where it came from
            given1, given2 = x1.clone(), x2.clone()
            result, unanswered = attempt(answer, given1, given2, lam, name="cut_and_paste", shown=shown)
            if unanswered is not None:
                return unanswered
            if not (torch.equal(given1, x1) and torch.equal(given2, x2)):
                return report(False, "cut_and_paste changed x1 or x2 in place (e.g. x1[..., box] = x2[..., box]). "
                                     "Both are training images of later batches too: build a new tensor, e.g. "
                                     "with torch.where.")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                return report(False, f"cut_and_paste must return a pair (mixed, weight); got "
                                     f"{type(result).__name__}.")
            mixed, weight = result
            if (wrong := wrong_tensor(mixed, x1, "cut_and_paste's mixed")) is not None:
                return wrong
            weight = torch.as_tensor(weight, dtype=torch.float64) if isinstance(weight, (Real, torch.Tensor)) \
                else None
            if weight is None or weight.numel() not in (1, batch):
                return report(False, "the weight must be one number (a float or a 0-d tensor), the share of x1's "
                                     "pixels left in mixed, or one per image if each image got its own box.")
            from_x2 = mixed < 0
            if not torch.equal(torch.where(from_x2, x2, x1), mixed.to(x1.dtype)):
                return report(False, "some pixels of mixed are neither x1's nor x2's: CutMix does not blend "
                                     "pixel values (that is mixup); each pixel is copied from x1 or, inside the "
                                     "box, from x2.")
            found = [_box_of(mask) for mask in from_x2]
            if any(box is None for box in found):
                outside = [_box_of(~mask) for mask in from_x2]
                if all(box is not None for box in outside):
                    return report(False, "x1 and x2 are the wrong way round: mixed must be x1 with a box of x2 "
                                         "pasted in, not x2 with a box of x1.")
                return report(False, "the pixels taken from x2 do not form one rectangle (rows top to bottom, "
                                     "columns left to right).")
            share = 1 - from_x2.double().mean((1, 2))                           # (batch,): x1's share per image
            if weight.numel() == 1 and len(set(found)) > 1:
                return report(False, "the images got different boxes but there is one weight: draw one box for "
                                     "the batch (or return one weight per image).")
            expected = share if weight.numel() == batch else share[:1]
            if not torch.allclose(weight.reshape(-1), expected, atol=1e-6):
                value = float(weight.reshape(-1)[0])
                if abs(value - lam) < 1e-9:
                    message = ("the weight is lam itself. After rounding the sides and clipping at the border "
                               "the box rarely covers exactly 1 − lam of the image: return the share of pixels "
                               "that really still come from x1.")
                elif torch.allclose(weight.reshape(-1), 1 - expected, atol=1e-6):
                    message = ("the weight is the share of pixels from x2; the weight of x1's label is the share "
                               "of pixels that still come from x1.")
                else:
                    message = (f"the weight {value:.4f} is not the share of pixels still from x1 "
                               f"({float(expected[0]):.4f}).")
                return report(False, message)
            boxes += found
        if len(set(boxes)) == 1 and calls > 5 and lam < 1:
            return report(False, "every call pasted the same box: draw its centre anew on every call (from "
                                 "torch's random stream, not a fixed seed).")
        if lam == 1.0:
            if any(box != (0, 0, 0, 0) for box in boxes):
                return report(False, "with lam = 1 the box has no area: mixed must be x1 and the weight 1.")
            continue
        side_rows, side_columns = (1 - lam) ** 0.5 * height, (1 - lam) ** 0.5 * width
        tallest = max(bottom - top for top, bottom, _, _ in boxes)
        widest = max(right - left for _, _, left, right in boxes)
        if abs(tallest - side_rows) > 2 or abs(widest - side_columns) > 2:
            if abs(tallest - (1 - lam) * height) <= 1 and abs(widest - (1 - lam) * width) <= 1:
                hint = "its sides are 1 − lam times the image's, so its area is (1 − lam)²: take the square root."
            elif abs(tallest - side_columns) <= 2 and abs(widest - side_rows) <= 2:
                hint = "height and width are swapped: the box's height follows the image's height."
            elif abs(tallest - lam ** 0.5 * height) <= 2 and abs(widest - lam ** 0.5 * width) <= 2:
                hint = "its area is lam, but lam is the share that stays x1: the box covers 1 − lam."
            else:
                hint = "draw sides of √(1 − lam) times the image's height and width, rounded to whole pixels."
            return report(False, f"for lam = {lam} on {height} × {width} images the box should be about "
                                 f"{side_rows:.1f} × {side_columns:.1f} pixels where it is not clipped; your "
                                 f"largest was {tallest} × {widest}: {hint}")
        full = [box for box in boxes if box[1] - box[0] == tallest and box[3] - box[2] == widest]
        if len(full) == len(boxes):
            return report(False, "your boxes always lie wholly inside the image. Centre each on a pixel drawn "
                                 "from the whole image and clip it at the border, as the paper does: then the "
                                 "border is pasted over as often as the middle is, nearly.")
        clipped = {"top": any(top == 0 and bottom - top < tallest for top, bottom, _, _ in boxes),
                   "bottom": any(bottom == height and bottom - top < tallest for top, bottom, _, _ in boxes),
                   "left": any(left == 0 and right - left < widest for _, _, left, right in boxes),
                   "right": any(right == width and right - left < widest for _, _, left, right in boxes)}
        if not all(clipped.values()):
            never = " or ".join(side for side, seen in clipped.items() if not seen)
            return report(False, f"in {calls} calls no box was cut off at the {never} border, though boxes near "
                                 "every edge should be: the random pixel must be the box's centre, not its corner, "
                                 "so that the box reaches half its size on either side of it.")
    return report(True, "one box per call with sides √(1 − lam) times the image's, centred anywhere and clipped "
                        "at the border, pasted from x2, and the weight is the share of x1's pixels that is left.")
