"""Checkers for the exercises of notebook 07 (batch normalization), and the reference they compare against.

``batch_norm`` is the from-scratch layer the notebook teaches; the unit tests
check it against ``torch.nn.BatchNorm1d`` (outputs, running mean and running
variance), and ``check_batch_norm`` compares a learner's function with both.
"""
from __future__ import annotations

import torch

from ..validation import check_nonnegative, check_number
from . import Verdict, attempt, report


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor,
               running_var: torch.Tensor, training: bool, momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalization of ``x`` (batch, features) or (batch, features, length), as ``nn.BatchNorm1d`` does it.

    Training: normalize with the batch's mean and (biased) variance, and move the
    running statistics towards the batch's with PyTorch's convention
    ``running = (1 - momentum) * running + momentum * batch``, where the running
    variance takes the *unbiased* batch variance. Evaluation: normalize with the
    running statistics. Returns ``(output, new_running_mean, new_running_var)``;
    the inputs are not modified.
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3):
        raise ValueError(f"x must be a tensor of shape (batch, features) or (batch, features, length); "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    check_number(momentum, "momentum", low=0.0, high=1.0)
    check_nonnegative(eps, "eps")
    dims = (0,) if x.ndim == 2 else (0, 2)              # statistics per feature (channel)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)      # to broadcast them back over x
    if training:
        n = x.numel() // x.shape[1]                     # values per feature in this batch
        if n < 2:
            raise ValueError("batch statistics need at least 2 values per feature; got a batch of 1")
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)           # normalization uses the biased variance
        running_mean = (1 - momentum) * running_mean + momentum * mean.detach()
        running_var = (1 - momentum) * running_var + momentum * var.detach() * n / (n - 1)  # stored unbiased
    else:
        mean, var = running_mean, running_var
    out = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * out + beta.reshape(shape), running_mean, running_var


def _case(seed: int = 0, batch: int = 32, features: int = 6):
    generator = torch.Generator().manual_seed(seed)
    x = 3.0 + 2.0 * torch.randn(batch, features, generator=generator, dtype=torch.float64)
    gamma = 1.0 + 0.5 * torch.rand(features, generator=generator, dtype=torch.float64)
    beta = torch.randn(features, generator=generator, dtype=torch.float64)
    running_mean = 0.5 * torch.randn(features, generator=generator, dtype=torch.float64)
    running_var = 1.0 + torch.rand(features, generator=generator, dtype=torch.float64)
    return x, gamma, beta, running_mean, running_var


def _torch_layer(gamma, beta, running_mean, running_var, momentum):
    layer = torch.nn.BatchNorm1d(len(gamma), momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        layer.running_mean.copy_(running_mean)
        layer.running_var.copy_(running_var)
    return layer


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b, rtol=1e-6, atol=1e-6)


def check_batch_norm(batch_norm_fn) -> Verdict:
    """Exercise 07.1: ``batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)``."""
    momentum = 0.1
    x, gamma, beta, running_mean, running_var = _case()
    layer = _torch_layer(gamma, beta, running_mean, running_var, momentum)
    with torch.no_grad():
        expected = layer.train()(x)
    given = (x.clone(), running_mean.clone(), running_var.clone())
    answer, unanswered = attempt(batch_norm_fn, given[0], gamma, beta, given[1], given[2],
                                 True, momentum, 1e-5, name="batch_norm", shown="batch_norm(..., training=True)")
    if unanswered is not None:
        return unanswered
    if not isinstance(answer, tuple) or len(answer) != 3:
        return report(False, "batch_norm must return three things: (output, new_running_mean, new_running_var).")
    for name, value in zip(("output", "new_running_mean", "new_running_var"), answer):
        if not isinstance(value, torch.Tensor):
            return report(False, f"your {name} is a {type(value).__module__.split('.')[0]}.{type(value).__name__}; "
                                 "batch_norm receives torch tensors and must return torch tensors. Use torch "
                                 "operations (x.mean(dim=0), x.var(dim=0, unbiased=False), torch.sqrt) "
                                 "rather than NumPy ones.")
    for name, before, after in zip(("x", "running_mean", "running_var"), (x, running_mean, running_var), given):
        if not torch.equal(before, after):
            return report(False, f"batch_norm changed its input {name} in place; return new tensors instead "
                                 "(e.g. running_mean = (1 - momentum) * running_mean + ..., not running_mean.mul_(...)).")
    out, new_mean, new_var = answer
    if not _close(out, expected):
        biased = gamma * (x - x.mean(0)) / torch.sqrt(x.var(0) + 1e-5) + beta
        if _close(out, biased):
            return report(False, "in training, normalize with the *biased* batch variance (divide by n, "
                                 "unbiased=False), as torch does; the unbiased one is only for the running average.")
        plain = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
        if _close(out, plain):
            return report(False, "the output is normalized but gamma and beta are missing: return "
                                 "gamma * x_hat + beta.")
        if _close(out, gamma * (x - running_mean) / torch.sqrt(running_var + 1e-5) + beta):
            return report(False, "in training you normalized with the running statistics; training mode uses "
                                 "the statistics of the current batch.")
        return report(False, "in training mode the output differs from torch.nn.BatchNorm1d's: subtract the "
                             "batch mean of each feature (over dim 0), divide by sqrt(biased batch variance + eps), "
                             "then scale by gamma and shift by beta.")
    if _close(new_mean, running_mean) and _close(new_var, running_var):
        return report(False, "the running statistics did not change in training: move them towards the "
                             "batch's, running = (1 - momentum) * running + momentum * batch statistic.")
    batch_mean = x.mean(0)
    if _close(new_mean, momentum * running_mean + (1 - momentum) * batch_mean):
        return report(False, "the momentum is used the other way round: in PyTorch, momentum is the weight of "
                             "the NEW batch, running = (1 - momentum) * running + momentum * batch "
                             "(the opposite of the optimizer's momentum convention).")
    if not _close(new_mean, layer.running_mean):
        return report(False, "the new running mean differs from torch's: "
                             "(1 - momentum) * running_mean + momentum * batch mean.")
    if _close(new_var, (1 - momentum) * running_var + momentum * x.var(0, unbiased=False)):
        return report(False, "the running variance must use the *unbiased* batch variance (divide by n - 1), "
                             "as torch does; only the normalization itself uses the biased one.")
    if not _close(new_var, layer.running_var):
        return report(False, "the new running variance differs from torch's: "
                             "(1 - momentum) * running_var + momentum * unbiased batch variance.")
    layer.eval()
    x_eval = 0.5 * x[:8] - 1.0  # a batch whose statistics differ from the running ones
    with torch.no_grad():
        expected_eval = layer(x_eval)
    answer, unanswered = attempt(batch_norm_fn, x_eval.clone(), gamma, beta, layer.running_mean.clone(),
                                 layer.running_var.clone(), False, momentum, 1e-5, name="batch_norm",
                                 shown="batch_norm(..., training=False)")
    if unanswered is not None:
        return unanswered
    if not isinstance(answer, tuple) or len(answer) != 3:
        return report(False, "batch_norm must return (output, new_running_mean, new_running_var) in eval mode too.")
    out_eval, mean_eval, var_eval = answer
    if not _close(out_eval, expected_eval):
        batch_stats = gamma * (x_eval - x_eval.mean(0)) / torch.sqrt(x_eval.var(0, unbiased=False) + 1e-5) + beta
        if _close(out_eval, batch_stats):
            return report(False, "at evaluation you normalized with the statistics of the batch. Evaluation must "
                                 "use the running statistics: then a prediction does not depend on which other "
                                 "examples share its batch, and a batch of one works.")
        return report(False, "at evaluation the output differs from torch's: use (x - running_mean) / "
                             "sqrt(running_var + eps), then gamma and beta.")
    if not (_close(mean_eval, layer.running_mean) and _close(var_eval, layer.running_var)):
        return report(False, "at evaluation the running statistics must stay as they are; you changed them.")
    return report(True, "outputs, running mean and running variance match torch.nn.BatchNorm1d "
                        "in training and in evaluation.")
