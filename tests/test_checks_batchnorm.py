"""The references of notebook 07's exercises against torch (the checkers are tested in tests/exercise_catalogue)."""
from __future__ import annotations

import pytest
import torch

from course_utils.checks.batchnorm import batch_norm, batch_norm_backward, channel_statistics, fold_batch_norm


@pytest.mark.parametrize("shape", [(16, 5), (2, 5), (8, 5, 7)])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_reference_matches_torch_over_several_steps(shape, momentum):
    generator = torch.Generator().manual_seed(1)
    features = shape[1]
    layer = torch.nn.BatchNorm1d(features, momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(1 + torch.rand(features, generator=generator, dtype=torch.float64))
        layer.bias.copy_(torch.randn(features, generator=generator, dtype=torch.float64))
    gamma, beta = layer.weight.detach().clone(), layer.bias.detach().clone()
    running_mean, running_var = layer.running_mean.clone(), layer.running_var.clone()
    for step in range(5):  # the running statistics accumulate over steps
        x = 2.0 + 3.0 * torch.randn(*shape, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            expected = layer.train()(x)
        out, running_mean, running_var = batch_norm(x, gamma, beta, running_mean, running_var, True, momentum)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(running_mean, layer.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(running_var, layer.running_var, rtol=1e-12, atol=1e-12)
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        expected = layer.eval()(x)
    out, mean_after, var_after = batch_norm(x, gamma, beta, running_mean, running_var, False, momentum)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(mean_after, running_mean) and torch.equal(var_after, running_var)


def test_reference_in_float32_matches_torch_to_float_precision():
    x = torch.randn(64, 10) * 4 + 1
    layer = torch.nn.BatchNorm1d(10)
    out, mean, var = batch_norm(x, layer.weight.detach(), layer.bias.detach(), layer.running_mean.clone(),
                                layer.running_var.clone(), True)
    with torch.no_grad():
        expected = layer(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(var, layer.running_var, rtol=1e-6, atol=1e-6)


def test_reference_gradients_match_torch():
    x = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    gamma = torch.rand(4, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(4, dtype=torch.float64, requires_grad=True)
    running = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    out, _, _ = batch_norm(x, gamma, beta, *running, True)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, gamma, beta))
    layer = torch.nn.BatchNorm1d(4).double()
    with torch.no_grad():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
    x2 = x.detach().clone().requires_grad_(True)
    out2 = layer(x2)
    grads2 = torch.autograd.grad(out2.pow(2).sum(), (x2, layer.weight, layer.bias))
    for ours, theirs in zip(grads, grads2):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_reference_validates_input():
    ones = torch.ones(3)
    with pytest.raises(ValueError, match="batch of 1"):
        batch_norm(torch.ones(1, 3), ones, ones, ones, ones, True)
    with pytest.raises(ValueError, match="shape"):
        batch_norm(torch.ones(3), ones, ones, ones, ones, True)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(torch.ones(4, 3), ones, ones, ones, ones, True, momentum=1.5)


@pytest.mark.parametrize("shape", [(16, 5), (8, 5, 7)])
def test_channel_statistics_are_batch_norms(shape):
    x = 1.0 + 2.0 * torch.randn(*shape, dtype=torch.float64)
    mean, var = channel_statistics(x)
    layer = torch.nn.BatchNorm1d(shape[1], momentum=1.0).double()
    with torch.no_grad():
        layer(x)
    n = x.numel() // shape[1]
    torch.testing.assert_close(mean, layer.running_mean)
    torch.testing.assert_close(var * n / (n - 1), layer.running_var)


@pytest.mark.parametrize("shape", [(2, 3), (16, 5), (50, 1)])
def test_backward_matches_autograd(shape):
    x = (3.0 * torch.randn(*shape, dtype=torch.float64) + 1).requires_grad_(True)
    gamma = torch.rand(shape[1], dtype=torch.float64, requires_grad=True)
    beta = torch.randn(shape[1], dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(*shape, dtype=torch.float64)
    out = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    expected = torch.autograd.grad((grad_out * out).sum(), (x, gamma, beta))
    for ours, theirs in zip(batch_norm_backward(grad_out, x.detach(), gamma.detach(), 1e-5), expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_folded_layer_equals_linear_then_batch_norm_in_eval_mode():
    linear, norm = torch.nn.Linear(6, 4).double(), torch.nn.BatchNorm1d(4).double()
    norm.train()(linear(torch.randn(32, 6, dtype=torch.float64)))   # non-trivial running statistics
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
    weight, bias = fold_batch_norm(linear.weight, linear.bias, norm.weight, norm.bias, norm.running_mean,
                                   norm.running_var, norm.eps)
    x = torch.randn(10, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(torch.nn.functional.linear(x, weight, bias), norm.eval()(linear(x)))
