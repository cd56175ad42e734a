"""The references of notebook 05 against torch (their checkers: tests/exercise_catalogue/nb05_dropout.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.checks.dropout import NumpyDropout, inverted_dropout, numerical_gradient


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


def test_numpy_dropout_backward_is_autograd_through_its_mask():
    layer = NumpyDropout(0.3, np.random.default_rng(0))
    x, upstream = np.random.default_rng(1).normal(size=(2, 30, 20))
    out = layer.forward(x)
    assert abs((out == 0).mean() - 0.3) < 0.05
    leaf = torch.tensor(x, requires_grad=True)
    (leaf * torch.as_tensor(layer.keep) / 0.7).backward(torch.as_tensor(upstream))
    np.testing.assert_allclose(out, x * layer.keep / 0.7)
    np.testing.assert_allclose(layer.backward(upstream), leaf.grad.numpy(), rtol=1e-12)


def test_numerical_gradient_matches_autograd_and_leaves_x_alone():
    x = np.random.default_rng(2).normal(size=(3, 4))
    before = x.copy()
    estimate = numerical_gradient(lambda v: np.sum(np.sin(v) * v), x, 1e-5)
    assert np.array_equal(x, before)
    leaf = torch.tensor(x, requires_grad=True)
    (torch.sin(leaf) * leaf).sum().backward()
    np.testing.assert_allclose(estimate, leaf.grad.numpy(), rtol=1e-8, atol=1e-9)
