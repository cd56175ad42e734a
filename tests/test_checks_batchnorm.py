"""The reference batch norm against torch.nn.BatchNorm1d, and the checker against right and wrong answers."""
from __future__ import annotations

import pytest
import torch

from course_utils.checks.batchnorm import batch_norm, check_batch_norm


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
    out, _, _ = batch_norm(x, gamma, beta, torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64), True)
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


def test_checker_accepts_the_reference(capsys):
    assert check_batch_norm(batch_norm).passed is True
    assert "match torch.nn.BatchNorm1d" in capsys.readouterr().out


def _normalize(x, mean, var, gamma, beta, eps):
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def _batch_stats_in_eval(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    if training:
        rm = (1 - momentum) * rm + momentum * x.mean(0)
        rv = (1 - momentum) * rv + momentum * x.var(0) * 1.0
    return out, rm, rv


def _biased_running_var(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    if not training:
        return _normalize(x, rm, rv, gamma, beta, eps), rm, rv
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    return out, (1 - momentum) * rm + momentum * x.mean(0), (1 - momentum) * rv + momentum * x.var(0, unbiased=False)


def _reversed_momentum(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    if not training:
        return _normalize(x, rm, rv, gamma, beta, eps), rm, rv
    out = _normalize(x, x.mean(0), x.var(0, unbiased=False), gamma, beta, eps)
    return out, momentum * rm + (1 - momentum) * x.mean(0), momentum * rv + (1 - momentum) * x.var(0)


def _no_running_update(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    stats = (x.mean(0), x.var(0, unbiased=False)) if training else (rm, rv)
    return _normalize(x, *stats, gamma, beta, eps), rm, rv


def _unbiased_normalization(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    out, rm2, rv2 = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    if training:
        out = _normalize(x, x.mean(0), x.var(0), gamma, beta, eps)
    return out, rm2, rv2


def _no_affine(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    out, rm2, rv2 = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    return (out - beta) / gamma, rm2, rv2


def _unsolved(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("answer, message", [
    (_batch_stats_in_eval, "at evaluation you normalized with the statistics of the batch"),
    (_biased_running_var, "*unbiased* batch variance"),
    (_reversed_momentum, "the other way round"),
    (_no_running_update, "did not change in training"),
    (_unbiased_normalization, "*biased* batch variance"),
    (_no_affine, "gamma and beta are missing"),
    (lambda *args: args[0], "must return three things"),
    (lambda *args: 1 / 0, "ZeroDivisionError"),
])
def test_checker_explains_usual_mistakes(answer, message, capsys):
    assert check_batch_norm(answer).passed is False
    assert message in capsys.readouterr().out


def test_checker_reports_unsolved(capsys):
    assert check_batch_norm(_unsolved).passed is None
    assert "not yet solved" in capsys.readouterr().out


def _numpy_tensors(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    return tuple(t.numpy() for t in batch_norm(x, gamma, beta, rm, rv, training, momentum, eps))


def _in_place_running_stats(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
    out, mean, var = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps)
    rm.copy_(mean)
    rv.copy_(var)
    return out, rm, rv


@pytest.mark.parametrize("answer, message", [
    (_numpy_tensors, "your output is a numpy.ndarray; batch_norm receives torch tensors and must return torch"),
    (_in_place_running_stats, "batch_norm changed its input running_mean in place"),
])
def test_checker_names_the_type_and_in_place_mistakes(answer, message, capsys):
    assert check_batch_norm(answer).passed is False
    out = capsys.readouterr().out
    assert message in out and "subtract the batch mean" not in out
