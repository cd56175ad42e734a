"""Notebook 06: a random amplitude, a zero-padded random shift, and the mixup loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils.augment import shift
from course_utils.checks.augment import (check_mixup_loss, check_random_scale, check_random_shift,
                                         mixup_cross_entropy, random_amplitude, random_padded_shift)

from . import Exercise, Wrong


def amplitude_with_uniform_(x, low, high, training):
    if not training:
        return x
    return x * torch.empty(len(x), 1, dtype=x.dtype).uniform_(low, high)


def factor_per_element(x, low, high, training):
    return x * (low + (high - low) * torch.rand_like(x)) if training else x


def factor_per_batch(x, low, high, training):
    return x * (low + (high - low) * torch.rand(())) if training else x


def unscaled_rand(x, low, high, training):
    return x * torch.rand(len(x), 1, dtype=x.dtype) if training else x


def amplitude_at_evaluation(x, low, high, training):
    return random_amplitude(x, low, high)


def amplitude_in_place(x, low, high, training):
    if training:
        x *= low + (high - low) * torch.rand(len(x), 1, dtype=x.dtype)
    return x


def amplitude_fixed_seed(x, low, high, training):
    generator = torch.Generator().manual_seed(0)
    return x * (low + (high - low) * torch.rand(len(x), 1, dtype=x.dtype, generator=generator)) if training else x


def amplitude_as_numpy(x, low, high, training):
    return random_amplitude(x, low, high, training).numpy()


def shift_by_masking(x, max_shift, training):
    """Pad with zeros on both sides and read a window: another correct way."""
    if not training:
        return x
    length = x.shape[1]
    padded = F.pad(x, (max_shift, max_shift))
    starts = max_shift - torch.randint(-max_shift, max_shift + 1, (len(x),))
    return padded.gather(1, starts[:, None] + torch.arange(length))


def _draw(x, k):
    return torch.randint(-k, k + 1, (len(x),))


def same_shift_for_all(x, k, training):
    if not training:
        return x
    s = int(torch.randint(-k, k + 1, ()))
    return shift(x, torch.full((len(x),), s), "zeros")


def wraps_around(x, k, training):
    return shift(x, _draw(x, k), "circular") if training else x


def shifts_at_evaluation(x, k, training):
    return shift(x, _draw(x, k), "zeros") if k else x


def zeros_at_the_wrong_end(x, k, training):
    if not training:
        return x
    out = x.clone()
    for i, s in enumerate(_draw(x, k).tolist()):
        out[i] = torch.roll(x[i], s)
        if s > 0:
            out[i, -s:] = 0
        elif s < 0:
            out[i, :-s] = 0
    return out


def exclusive_upper_bound(x, k, training):
    return shift(x, torch.randint(-k, k, (len(x),)), "zeros") if training else x


def right_only(x, k, training):
    return shift(x, torch.randint(0, k + 1, (len(x),)), "zeros") if training else x


def too_far(x, k, training):
    return shift(x, _draw(x, 2 * k), "zeros") if training else x


def shift_fixed_seed(x, k, training):
    if not training:
        return x
    generator = torch.Generator().manual_seed(0)
    return shift(x, torch.randint(-k, k + 1, (len(x),), generator=generator), "zeros")


def rescaled(x, k, training):
    return 2 * shift(x, _draw(x, k), "zeros") if training else x


def biased_to_zero(x, k, training):
    s = torch.where(torch.rand(len(x)) < 0.5, torch.zeros(len(x), dtype=torch.int64), _draw(x, k))
    return shift(x, s, "zeros") if training else x


def shift_in_place(x, k, training):
    if training:
        x.copy_(shift(x, _draw(x, k), "zeros"))
    return x


def shift_as_numpy(x, k, training):
    return x.numpy()


def mixup_as_two_losses(logits, y1, y2, lam):
    return lam * F.cross_entropy(logits, y1) + (1 - lam) * F.cross_entropy(logits, y2)


def mixup_by_hand(logits, y1, y2, lam):
    """Log-softmax and the blended one-hot targets, written out."""
    log_p = logits - logits.logsumexp(1, keepdim=True)
    rows = torch.arange(len(logits))
    return -(lam * log_p[rows, y1] + (1 - lam) * log_p[rows, y2]).mean()


def weights_swapped(logits, y1, y2, lam):
    return (1 - lam) * F.cross_entropy(logits, y1) + lam * F.cross_entropy(logits, y2)


def partner_forgotten(logits, y1, y2, lam):
    return F.cross_entropy(logits, y1)


def blended_class_indices(logits, y1, y2, lam):
    return F.cross_entropy(logits, (lam * y1 + (1 - lam) * y2).round().long())


def summed_over_the_batch(logits, y1, y2, lam):
    return lam * F.cross_entropy(logits, y1, reduction="sum") + (1 - lam) * F.cross_entropy(logits, y2, reduction="sum")


def softmax_first(logits, y1, y2, lam):
    return mixup_as_two_losses(logits.softmax(1), y1, y2, lam)


def per_example(logits, y1, y2, lam):
    return (lam * F.cross_entropy(logits, y1, reduction="none")
            + (1 - lam) * F.cross_entropy(logits, y2, reduction="none"))


def as_float(logits, y1, y2, lam):
    return mixup_as_two_losses(logits, y1, y2, lam).item()


def detached(logits, y1, y2, lam):
    return torch.tensor(mixup_as_two_losses(logits, y1, y2, lam).item())


def normalizes_logits_in_place(logits, y1, y2, lam):
    with torch.no_grad():
        logits -= logits.logsumexp(1, keepdim=True)
    return mixup_as_two_losses(logits, y1, y2, lam)


EXERCISES = [
    Exercise("06.1 random amplitude", check_random_scale, right=(random_amplitude, amplitude_with_uniform_), wrong={
        "one factor per element": Wrong(factor_per_element, "one factor per element"),
        "one factor for the batch": Wrong(factor_per_batch, "every sequence of the batch got the same factor"),
        "torch.rand not mapped to [low, high]": Wrong(unscaled_rand, "lie in [0, 1)"),
        "on at evaluation": Wrong(amplitude_at_evaluation, "training=False"),
        "same factors every call": Wrong(amplitude_fixed_seed, "draw them anew"),
        "changes x in place": Wrong(amplitude_in_place, "changed its input x in place", kind="in-place"),
        "returns a NumPy array": Wrong(amplitude_as_numpy, "must return a tensor", kind="type"),
    }),
    Exercise("06.2 zero-padded random shift", check_random_shift, right=(random_padded_shift, shift_by_masking), wrong={
        "one shift for the batch": Wrong(same_shift_for_all, "same amount"),
        "wraps around": Wrong(wraps_around, "wrap around"),
        "on at evaluation": Wrong(shifts_at_evaluation, "training=False"),
        "zeros at the wrong end": Wrong(zeros_at_the_wrong_end, "wrong end"),
        "randint's exclusive bound": Wrong(exclusive_upper_bound, "upper bound is exclusive"),
        "right only": Wrong(right_only, "same way (to the right)"),
        "too far": Wrong(too_far, "larger than max_shift"),
        "same shifts every call": Wrong(shift_fixed_seed, "drawn anew"),
        "values rescaled": Wrong(rescaled, "whole number of positions"),
        "not uniform": Wrong(biased_to_zero, "equally likely"),
        "changes x in place": Wrong(shift_in_place, "changed its input x in place", kind="in-place"),
        "returns a NumPy array": Wrong(shift_as_numpy, "must return a tensor", kind="type"),
    }),
    Exercise("06.3 mixup loss", check_mixup_loss, right=(mixup_cross_entropy, mixup_as_two_losses, mixup_by_hand),
             wrong={
        "weights swapped": Wrong(weights_swapped, "weights are swapped"),
        "partner's label forgotten": Wrong(partner_forgotten, "partner's label y2 is missing"),
        "class indices blended": Wrong(blended_class_indices, "blended the class indices"),
        "summed over the batch": Wrong(summed_over_the_batch, "summed over the batch"),
        "softmax before cross_entropy": Wrong(softmax_first, "applied softmax first"),
        "one loss per example": Wrong(per_example, "one loss per example"),
        "cut off from the graph": Wrong(detached, "cut off from the graph"),
        "logits changed in place": Wrong(normalizes_logits_in_place, "changed logits in place", kind="in-place"),
        "returns a float": Wrong(as_float, "must return a torch tensor", kind="type"),
    }),
]
