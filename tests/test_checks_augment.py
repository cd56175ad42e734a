"""The references of notebook 06's checkers (the checkers themselves: tests/exercise_catalogue/nb06_*.py)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks.augment import mixup_cross_entropy, random_amplitude, random_padded_shift


def test_reference_shift_is_zero_padded_and_identity_in_eval():
    x = torch.rand(300, 40) + 0.5
    out = random_padded_shift(x, 3)
    zeros = (out == 0).sum(1)
    assert zeros.max() == 3 and zeros.min() == 0
    assert random_padded_shift(x, 3, training=False) is x
    assert torch.equal(random_padded_shift(x, 0), x)
    with pytest.raises(ValueError, match="max_shift"):
        random_padded_shift(x, -1)
    with pytest.raises(ValueError, match="batch, length"):
        random_padded_shift(torch.rand(40), 2)


def test_reference_amplitude_scales_each_row_within_bounds():
    x = torch.rand(500, 20, dtype=torch.float64) + 0.5
    factors = random_amplitude(x, 0.8, 1.2) / x
    torch.testing.assert_close(factors, factors[:, :1].expand_as(factors))
    assert 0.8 <= float(factors.min()) and float(factors.max()) <= 1.2
    assert random_amplitude(x, 0.8, 1.2, training=False) is x


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_reference_mixup_loss_is_the_blend_of_two_cross_entropies(lam):
    logits = torch.randn(12, 4, dtype=torch.float64)
    y1, y2 = torch.randint(4, (12,)), torch.randint(4, (12,))
    expected = lam * F.cross_entropy(logits, y1) + (1 - lam) * F.cross_entropy(logits, y2)
    torch.testing.assert_close(mixup_cross_entropy(logits, y1, y2, lam), expected)
