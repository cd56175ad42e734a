"""Checkers for the exercise of notebook 06 (data augmentation), and the reference they compare against.

The exercise asks for ``random_shift(x, max_shift, training)``: in training,
move each sequence of the batch (batch, length) by its own random whole number
of positions, uniform in [-max_shift, max_shift], filling the positions it
moved away from with zeros; at evaluation, return ``x`` unchanged.
"""
from __future__ import annotations

import torch

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
    """Exercise 06.1: ``random_shift(x, max_shift, training)``, a zero-padded random shift per sequence."""
    with torch.random.fork_rng():  # the notebook's own random stream is left as it was
        return _check_random_shift(random_shift)


def _check_random_shift(random_shift) -> Verdict:
    torch.manual_seed(0)
    max_shift, n, length = 3, 2000, 40
    x = torch.rand(n, length) + 0.5   # strictly positive: a zero can only be padding
    out, unanswered = attempt(random_shift, x.clone(), max_shift, True,
                              name="random_shift", shown="random_shift(x, max_shift=3, training=True)")
    if unanswered is not None:
        return unanswered
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
        return report(False, f"random_shift(x, max_shift=3, training=False) raised {problem}")
    if not isinstance(evaluated, torch.Tensor) or not torch.equal(evaluated, x):
        return report(False, "with training=False the input must come back unchanged: augmentation is for "
                             "training only. Shifting at evaluation would measure the model on data it will "
                             "never see, and make every evaluation random.")
    unchanged, problem = call(random_shift, x.clone(), 0, True)
    if problem or not isinstance(unchanged, torch.Tensor) or not torch.equal(unchanged, x):
        return report(False, "with max_shift=0 nothing may move: the output must equal the input.")
    return report(True, f"each sequence got its own shift, uniform from -{max_shift} to +{max_shift}, with zeros "
                        "filled in, and evaluation is left untouched.")
