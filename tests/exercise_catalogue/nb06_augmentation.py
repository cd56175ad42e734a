"""Notebook 06: a random amplitude, a zero-padded random shift, the mixup loss, and CutMix's box and weight."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils.augment import shift
from course_utils.checks.augment import (check_cut_and_paste, check_mixup_loss, check_random_scale,
                                         check_random_shift, mixup_cross_entropy, paste_random_box,
                                         random_amplitude, random_padded_shift)

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


def _box(x1, lam, side=lambda fraction, length: round(fraction ** 0.5 * length), corner=False, inside=False):
    """A (height, width) bool mask of one CutMix box drawn for images like x1; the keywords make the usual mistakes."""
    _, height, width = x1.shape
    box_height, box_width = side(1 - lam, height), side(1 - lam, width)
    if inside:
        top = int(torch.randint(height - box_height + 1, ()))
        left = int(torch.randint(width - box_width + 1, ()))
    else:
        top, left = int(torch.randint(height, ())), int(torch.randint(width, ()))
        if not corner:
            top, left = top - box_height // 2, left - box_width // 2
    rows, columns = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    return (rows >= top) & (rows < top + box_height) & (columns >= left) & (columns < left + box_width)


def cut_and_paste_as_in_the_paper(x1, x2, lam):
    """The authors' rand_bbox: sides truncated, the box from centre - side // 2 to centre + side // 2."""
    _, height, width = x1.shape
    cut_height, cut_width = int(height * (1 - lam) ** 0.5), int(width * (1 - lam) ** 0.5)
    row, column = int(torch.randint(height, ())), int(torch.randint(width, ()))
    top, bottom = max(row - cut_height // 2, 0), min(row + cut_height // 2, height)
    left, right = max(column - cut_width // 2, 0), min(column + cut_width // 2, width)
    mixed = x1.clone()
    mixed[:, top:bottom, left:right] = x2[:, top:bottom, left:right]
    return mixed, 1 - (bottom - top) * (right - left) / (height * width)


def cut_and_paste_per_image(x1, x2, lam):
    """One box per image, with one weight per image: also CutMix."""
    masks = torch.stack([_box(x1, lam) for _ in range(len(x1))])
    return torch.where(masks, x2, x1), 1 - masks.double().mean((1, 2))


def weight_is_lam(x1, x2, lam):
    return torch.where(_box(x1, lam), x2, x1), lam


def weight_of_x2(x1, x2, lam):
    box = _box(x1, lam)
    return torch.where(box, x2, x1), box.double().mean()


def side_without_square_root(x1, x2, lam):
    box = _box(x1, lam, side=lambda fraction, length: round(fraction * length))
    return torch.where(box, x2, x1), 1 - box.double().mean()


def box_always_inside(x1, x2, lam):
    box = _box(x1, lam, inside=True)
    return torch.where(box, x2, x1), 1 - box.double().mean()


def centre_used_as_corner(x1, x2, lam):
    box = _box(x1, lam, corner=True)
    return torch.where(box, x2, x1), 1 - box.double().mean()


def pixels_blended(x1, x2, lam):
    return lam * x1 + (1 - lam) * x2, lam


def x1_pasted_into_x2(x1, x2, lam):
    box = _box(x1, lam)
    return torch.where(box, x1, x2), 1 - box.double().mean()


def same_box_every_call(x1, x2, lam):
    generator = torch.Generator().manual_seed(0)
    _, height, width = x1.shape
    side_h, side_w = round((1 - lam) ** 0.5 * height), round((1 - lam) ** 0.5 * width)
    top = int(torch.randint(height, (), generator=generator)) - side_h // 2
    left = int(torch.randint(width, (), generator=generator)) - side_w // 2
    rows, columns = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    box = (rows >= top) & (rows < top + side_h) & (columns >= left) & (columns < left + side_w)
    return torch.where(box, x2, x1), 1 - box.double().mean()


def pasted_in_place(x1, x2, lam):
    box = _box(x1, lam)
    x1[:, box] = x2[:, box]
    return x1, 1 - box.double().mean()


def mixed_as_numpy(x1, x2, lam):
    box = _box(x1, lam)
    return torch.where(box, x2, x1).numpy(), 1 - box.double().mean()


def mixed_only(x1, x2, lam):
    return torch.where(_box(x1, lam), x2, x1)


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
    Exercise("06.4 CutMix box and label weight", check_cut_and_paste,
             right=(paste_random_box, cut_and_paste_as_in_the_paper, cut_and_paste_per_image), wrong={
        "weight is lam": Wrong(weight_is_lam, "the weight is lam itself"),
        "weight of x2": Wrong(weight_of_x2, "share of pixels from x2"),
        "sides without the square root": Wrong(side_without_square_root, "take the square root"),
        "box always inside": Wrong(box_always_inside, "always lie wholly inside"),
        "centre used as corner": Wrong(centre_used_as_corner, "not its corner"),
        "pixels blended": Wrong(pixels_blended, "does not blend pixel values"),
        "x1 and x2 swapped": Wrong(x1_pasted_into_x2, "wrong way round"),
        "same box every call": Wrong(same_box_every_call, "same box"),
        "pasted into x1 in place": Wrong(pasted_in_place, "changed x1 or x2 in place", kind="in-place"),
        "returns a NumPy array": Wrong(mixed_as_numpy, "must return a tensor", kind="type"),
        "returns mixed alone": Wrong(mixed_only, "must return a pair", kind="type"),
    }),
]
