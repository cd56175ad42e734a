"""The exercise checker of notebook 06 against the right answer and the usual wrong ones."""
from __future__ import annotations

import pytest
import torch

from course_utils.augment import shift
from course_utils.checks.augment import check_random_shift, random_padded_shift


def test_reference_is_a_zero_padded_shift_and_identity_in_eval():
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


def test_checker_accepts_the_reference(capsys):
    assert check_random_shift(random_padded_shift).passed is True
    assert "Correct" in capsys.readouterr().out


def test_checker_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_random_shift(random_padded_shift)
    assert torch.equal(torch.rand(3), expected)


def _draw(x, k):
    return torch.randint(-k, k + 1, (len(x),))


def _same_for_all(x, k, training):
    if not training:
        return x
    s = int(torch.randint(-k, k + 1, ()))
    return shift(x, torch.full((len(x),), s), "zeros")


def _wraps(x, k, training):
    return shift(x, _draw(x, k), "circular") if training else x


def _on_in_eval(x, k, training):
    return shift(x, _draw(x, k), "zeros") if k else x


def _wrong_end(x, k, training):
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


def _exclusive_bound(x, k, training):
    return shift(x, torch.randint(-k, k, (len(x),)), "zeros") if training else x


def _right_only(x, k, training):
    return shift(x, torch.randint(0, k + 1, (len(x),)), "zeros") if training else x


def _too_far(x, k, training):
    return shift(x, _draw(x, 2 * k), "zeros") if training else x


def _fixed_seed(x, k, training):
    if not training:
        return x
    generator = torch.Generator().manual_seed(0)
    return shift(x, torch.randint(-k, k + 1, (len(x),), generator=generator), "zeros")


def _rescaled(x, k, training):
    return 2 * shift(x, _draw(x, k), "zeros") if training else x


def _biased(x, k, training):
    s = torch.where(torch.rand(len(x)) < 0.5, torch.zeros(len(x), dtype=torch.int64), _draw(x, k))
    return shift(x, s, "zeros") if training else x


def _unsolved(x, k, training):
    raise NotImplementedError()


def _crashes(x, k, training):
    raise RuntimeError("boom")


@pytest.mark.parametrize("answer, message", [
    (_same_for_all, "same amount"),
    (_wraps, "wrap around"),
    (_on_in_eval, "training=False"),
    (_wrong_end, "wrong end"),
    (_exclusive_bound, "upper bound is exclusive"),
    (_right_only, "same way (to the right)"),
    (_too_far, "larger than max_shift"),
    (_fixed_seed, "drawn anew"),
    (_rescaled, "whole number of positions"),
    (_biased, "equally likely"),
    (_crashes, "RuntimeError: boom"),
    (lambda x, k, training: x.numpy(), "must return a tensor"),
])
def test_checker_explains_usual_mistakes(answer, message, capsys):
    assert check_random_shift(answer).passed is False
    assert message in capsys.readouterr().out


def test_checker_reports_unsolved(capsys):
    assert check_random_shift(_unsolved).passed is None
    assert "not yet solved" in capsys.readouterr().out
