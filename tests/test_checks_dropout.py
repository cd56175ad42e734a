"""The reference inverted dropout against torch.nn.Dropout, and the checker against right and wrong answers."""
from __future__ import annotations

import pytest
import torch

from course_utils.checks.dropout import check_dropout, inverted_dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_reference_matches_torch_dropout_statistics(p):
    x = torch.rand(500, 400, dtype=torch.float64) + 0.5  # 200,000 positive elements
    ours = inverted_dropout(x, p, training=True)
    theirs = torch.nn.Dropout(p).train()(x)
    n = x.numel()
    tolerance = 5 * (p * (1 - p) / n) ** 0.5  # five standard errors of a fraction
    assert abs(float((ours == 0).double().mean()) - p) < tolerance
    assert abs(float((ours == 0).double().mean()) - float((theirs == 0).double().mean())) < 2 * tolerance
    kept = ours != 0
    torch.testing.assert_close(ours[kept], x[kept] / (1 - p), rtol=1e-12, atol=1e-12)
    # the mean is preserved: E[out] = x, up to sampling error
    assert abs(float(ours.mean() / x.mean()) - 1) < 0.02
    assert abs(float(ours.mean() / x.mean()) - float(theirs.mean() / x.mean())) < 0.03


def test_reference_is_identity_in_eval_and_for_p_zero():
    x = torch.randn(20, 7)
    assert torch.equal(inverted_dropout(x, 0.5, training=False), torch.nn.Dropout(0.5).eval()(x))
    assert torch.equal(inverted_dropout(x, 0.0, training=True), x)


def test_reference_uses_the_generator_and_validates_input():
    x = torch.ones(10, 10)
    a = inverted_dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    b = inverted_dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="p must be in"):
        inverted_dropout(x, 1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        inverted_dropout([1.0, 2.0], 0.5)


def test_checker_accepts_the_reference(capsys):
    assert check_dropout(inverted_dropout).passed is True
    assert "torch.nn.Dropout" in capsys.readouterr().out


def test_checker_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_dropout(inverted_dropout)
    assert torch.equal(torch.rand(3), expected)


def _no_rescaling(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x


def _on_at_evaluation(x, p, training):
    return x * (torch.rand_like(x) >= p) / (1 - p)


def _keep_probability(x, p, training):
    return x * (torch.rand_like(x) < p) / p if training else x


def _scaled_at_evaluation(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x * (1 - p)


def _fixed_mask(x, p, training):
    generator = torch.Generator().manual_seed(0)
    return x * (torch.rand(x.shape, generator=generator) >= p) / (1 - p) if training else x


def _unsolved(x, p, training):
    raise NotImplementedError()


def _crashes(x, p, training):
    raise RuntimeError("boom")


@pytest.mark.parametrize("answer, message", [
    (_no_rescaling, "Divide the kept values by 1-p"),
    (_on_at_evaluation, "still on at evaluation"),
    (_keep_probability, "probability to DROP"),
    (_scaled_at_evaluation, "Divide the kept values by 1-p"),
    (_fixed_mask, "drawn anew"),
    (_crashes, "RuntimeError: boom"),
    (lambda x, p, training: x.numpy(), "must return a tensor"),
])
def test_checker_explains_usual_mistakes(answer, message, capsys):
    assert check_dropout(answer).passed is False
    assert message in capsys.readouterr().out


def test_checker_reports_unsolved(capsys):
    assert check_dropout(_unsolved).passed is None
    assert "not yet solved" in capsys.readouterr().out


def _mask_shared_by_the_batch(x, p, training):
    if not training:
        return x
    return x * (torch.rand(1, x.shape[1]) >= p) / (1 - p)


def _mask_per_sample(x, p, training):
    if not training:
        return x
    return x * (torch.rand(x.shape[0], 1) >= p) / (1 - p)


def _in_place(x, p, training):
    if training:
        x *= (torch.rand_like(x) >= p) / (1 - p)
    return x


@pytest.mark.parametrize("answer, message", [
    (_mask_shared_by_the_batch, "every sample of the batch dropped the same units"),
    (_mask_per_sample, "each sample dropped either all of its units or none"),
    (_in_place, "dropout changed its input x in place"),
])
def test_checker_rejects_masks_of_the_wrong_shape_and_in_place_changes(answer, message, capsys):
    assert check_dropout(answer).passed is False
    assert message in capsys.readouterr().out
