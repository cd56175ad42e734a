"""Checkers for the exercises of notebook 07 (batch normalization), and the references they compare against.

``batch_norm`` is the from-scratch layer the notebook teaches, ``batch_norm_backward``
its backward pass and ``fold_batch_norm`` its inference-time folding into a linear
layer; the unit tests check each against torch (``nn.BatchNorm1d``, autograd), and
the checkers compare a learner's function with torch directly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..validation import check_nonnegative, check_number
from . import Verdict, attempt, report

__all__ = ["batch_norm", "batch_norm_backward", "channel_statistics", "check_batch_norm",
           "check_batch_norm_backward", "check_channel_statistics", "check_effective_learning_rates",
           "check_fold_batch_norm", "effective_learning_rates", "fold_batch_norm"]

EPS = 1e-5


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor,
               running_var: torch.Tensor, training: bool, momentum: float = 0.1,
               eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


def channel_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (channel) mean and biased variance of ``x`` (batch, features) or (batch, features, length)."""
    dims = (0,) if x.ndim == 2 else (0, 2)
    return x.mean(dim=dims), x.var(dim=dims, unbiased=False)


def batch_norm_backward(grad_out: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor,
                        eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of a training-mode batch norm of ``x`` (batch, features) w.r.t. x, gamma and beta.

    ``grad_out`` is the loss's gradient w.r.t. the output. Each x̂ depends on every example of the batch
    through the batch mean and variance: hence the two terms subtracted from ``grad_out``.
    """
    n = x.shape[0]
    inv_std = 1 / torch.sqrt(x.var(0, unbiased=False) + eps)
    x_hat = (x - x.mean(0)) * inv_std
    grad_gamma, grad_beta = (grad_out * x_hat).sum(0), grad_out.sum(0)
    grad_x = gamma * inv_std * (grad_out - grad_beta / n - x_hat * grad_gamma / n)
    return grad_x, grad_gamma, grad_beta


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                    running_mean: torch.Tensor, running_var: torch.Tensor,
                    eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """The (weight, bias) of one linear layer equal to ``Linear(weight, bias)`` then batch norm in eval mode.

    In eval mode batch norm is a fixed affine map per output unit, s·(z − running_mean) + beta with
    s = gamma / sqrt(running_var + eps): it scales each row of the weight and moves the bias.
    """
    scale = gamma / torch.sqrt(running_var + eps)
    return weight * scale[:, None], (bias - running_mean) * scale + beta


def _close(a, b, tol: float = 1e-6) -> bool:
    return (isinstance(a, torch.Tensor) and a.shape == b.shape
            and torch.allclose(a.double(), b.double(), rtol=tol, atol=tol))


def _torch_tensors(answer, count: int, name: str, what: str) -> Verdict | None:
    """A failing verdict unless ``answer`` is a tuple of ``count`` torch tensors; None when it is."""
    if not isinstance(answer, (tuple, list)) or len(answer) != count:
        return report(False, f"{name} must return {count} things, {what}; got {type(answer).__name__}.")
    for label, value in zip(what.strip("()").split(", "), answer):
        if not isinstance(value, torch.Tensor):
            return report(False, f"your {label} is a {type(value).__module__.split('.')[0]}.{type(value).__name__}; "
                                 f"{name} receives torch tensors and must return torch tensors. Use torch "
                                 "operations (x.mean(dim=0), x.var(dim=0, unbiased=False), torch.sqrt) "
                                 "rather than NumPy ones.")
    return None


def _changed_in_place(name: str, originals: dict, given: tuple) -> Verdict | None:
    """A failing verdict when the learner's code changed one of its inputs; None when all are intact."""
    for (label, before), after in zip(originals.items(), given):
        if not torch.equal(before, after):
            return report(False, f"{name} changed its input {label} in place (e.g. x -= mean, x.sub_(...), "
                                 "w.mul_(s)); the caller still needs it: compute new tensors instead.")
    return None


def _wrong_shapes(answer, shapes: dict, name: str) -> Verdict | None:
    for (label, shape), value in zip(shapes.items(), answer):
        if value.shape != shape:
            return report(False, f"{name}'s {label} must have shape {tuple(shape)}; got {tuple(value.shape)}.")
    return None


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------- 07.1: statistics

def check_channel_statistics(statistics: Callable[..., Any]) -> Verdict:
    """Exercise 07.1: ``channel_statistics(x)`` → (mean, biased variance) per feature, for 2-D and 3-D ``x``."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_channel_statistics(statistics)


def _check_channel_statistics(statistics) -> Verdict:
    for seed, shape in enumerate([(16, 5), (3, 4), (8, 6, 10), (5, 3, 7)]):
        generator = _generator(seed)
        features = shape[1]
        spread = 0.5 + 3 * torch.rand(features, generator=generator, dtype=torch.float64)
        spread = spread.reshape((1, -1) + (1,) * (len(shape) - 2))
        x = 3.0 + spread * torch.randn(*shape, generator=generator, dtype=torch.float64)
        given = x.clone()
        answer, unanswered = attempt(statistics, given, name="channel_statistics",
                                     shown=f"channel_statistics(x of shape {shape})")
        if unanswered is not None:
            return unanswered
        if (wrong := _torch_tensors(answer, 2, "channel_statistics", "(mean, var)")) is not None:
            return wrong
        if (wrong := _changed_in_place("channel_statistics", {"x": x}, (given,))) is not None:
            return wrong
        mean, var = answer
        if mean.shape != (features,) or var.shape != (features,):
            got = tuple(mean.shape)
            if got == (shape[0],):
                why = "you averaged over the features of each example (dim 1); batch norm averages over the batch."
            elif len(shape) == 3 and got in ((features, shape[2]), (shape[0], features)):
                why = ("for (batch, channels, length) BatchNorm1d keeps one statistic per channel, over the batch "
                       "AND the length (dims 0 and 2).")
            else:
                why = "batch norm keeps one statistic per feature (channel)."
            return report(False, f"for x of shape {shape} the mean and variance must have shape ({features},); "
                                 f"got {got} and {tuple(var.shape)}: {why}")
        layer = torch.nn.BatchNorm1d(features, momentum=1.0).double().train()  # running stats = this batch's
        with torch.no_grad():
            layer(x)
        n = x.numel() // features
        if not _close(mean, layer.running_mean, 1e-10):
            return report(False, f"for x of shape {shape} the per-channel means differ from BatchNorm1d's "
                                 "batch means: average every value of a channel over the batch"
                                 + (" and the length." if len(shape) == 3 else "."))
        biased = layer.running_var * (n - 1) / n     # torch stores the unbiased batch variance
        if not _close(var, biased, 1e-10):
            if _close(var, layer.running_var, 1e-10):
                why = ("that is the unbiased variance (divide by n − 1); batch norm normalizes with the biased "
                       "one (divide by n, unbiased=False).")
            elif _close(var, biased.sqrt(), 1e-10):
                why = "that is the standard deviation; return the variance."
            else:
                why = "average the squared deviations from the channel's mean over all of its values."
            return report(False, f"for x of shape {shape} the variances differ from batch norm's: {why}")
    return report(True, "one mean and one (biased) variance per channel, as BatchNorm1d computes them, for "
                        "(batch, features) and (batch, channels, length) inputs.")


# ------------------------------------------------------------------------------------------ 07.2: forward

def _case(seed: int, batch: int, features: int):
    generator = _generator(seed)
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


RETURNS = "(output, new_running_mean, new_running_var)"


def check_batch_norm(batch_norm_fn: Callable[..., Any]) -> Verdict:
    """Exercise 07.2: ``batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)``."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_batch_norm(batch_norm_fn)


def _check_batch_norm(batch_norm_fn) -> Verdict:
    for seed, (batch, features, momentum) in enumerate([(32, 6, 0.1), (5, 3, 0.1), (64, 11, 0.3)]):
        verdict = _check_batch_norm_case(batch_norm_fn, seed, batch, features, momentum)
        if verdict is not None:
            return verdict
    return report(True, "outputs, running mean and running variance match torch.nn.BatchNorm1d "
                        "in training and in evaluation.")


def _check_batch_norm_case(batch_norm_fn, seed, batch, features, momentum) -> Verdict | None:
    x, gamma, beta, running_mean, running_var = _case(seed, batch, features)
    layer = _torch_layer(gamma, beta, running_mean, running_var, momentum)
    with torch.no_grad():
        expected = layer.train()(x)
    given = (x.clone(), running_mean.clone(), running_var.clone())
    answer, unanswered = attempt(batch_norm_fn, given[0], gamma, beta, given[1], given[2], True, momentum, EPS,
                                 name="batch_norm", shown="batch_norm(..., training=True)")
    if unanswered is not None:
        return unanswered
    if (wrong := _torch_tensors(answer, 3, "batch_norm", RETURNS)) is not None:
        return wrong
    originals = {"x": x, "running_mean": running_mean, "running_var": running_var}
    if (wrong := _changed_in_place("batch_norm", originals, given)) is not None:
        return wrong
    out, new_mean, new_var = answer
    if not _close(out, expected):
        if _close(out, gamma * (x - x.mean(0)) / torch.sqrt(x.var(0) + EPS) + beta):
            return report(False, "in training, normalize with the *biased* batch variance (divide by n, "
                                 "unbiased=False), as torch does; the unbiased one is only for the running average.")
        if _close(out, (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + EPS)):
            return report(False, "the output is normalized but gamma and beta are missing: return "
                                 "gamma * x_hat + beta.")
        if _close(out, gamma * (x - running_mean) / torch.sqrt(running_var + EPS) + beta):
            return report(False, "in training you normalized with the running statistics; training mode uses "
                                 "the statistics of the current batch.")
        if _close(out, gamma * (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True)
                                                                           + EPS) + beta):
            return report(False, "you normalized each example over its features (dim 1): that is layer norm. "
                                 "Batch norm normalizes each feature over the batch (dim 0).")
        return report(False, "in training mode the output differs from torch.nn.BatchNorm1d's: subtract the "
                             "batch mean of each feature (over dim 0), divide by sqrt(biased batch variance + eps), "
                             "then scale by gamma and shift by beta.")
    if _close(new_mean, running_mean) and _close(new_var, running_var):
        return report(False, "the running statistics did not change in training: move them towards the "
                             "batch's, running = (1 - momentum) * running + momentum * batch statistic.")
    if _close(new_mean, momentum * running_mean + (1 - momentum) * x.mean(0)):
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
                                 layer.running_var.clone(), False, momentum, EPS, name="batch_norm",
                                 shown="batch_norm(..., training=False)")
    if unanswered is not None:
        return unanswered
    if (wrong := _torch_tensors(answer, 3, "batch_norm", RETURNS)) is not None:
        return wrong
    out_eval, mean_eval, var_eval = answer
    if not _close(out_eval, expected_eval):
        batch_stats = gamma * (x_eval - x_eval.mean(0)) / torch.sqrt(x_eval.var(0, unbiased=False) + EPS) + beta
        if _close(out_eval, batch_stats):
            return report(False, "at evaluation you normalized with the statistics of the batch. Evaluation must "
                                 "use the running statistics: then a prediction does not depend on which other "
                                 "examples share its batch, and a batch of one works.")
        return report(False, "at evaluation the output differs from torch's: use (x - running_mean) / "
                             "sqrt(running_var + eps), then gamma and beta.")
    if not (_close(mean_eval, layer.running_mean) and _close(var_eval, layer.running_var)):
        return report(False, "at evaluation the running statistics must stay as they are; you changed them.")
    return None


# ----------------------------------------------------------------------------------------- 07.3: backward

def _autograd_gradients(grad_out, x, gamma, *, detach_mean=False, detach_var=False, unbiased=False,
                        with_gamma=True):
    """Autograd's (grad_x, grad_gamma, grad_beta) of Σ grad_out·BN(x), optionally of a mistaken forward."""
    x = x.clone().requires_grad_(True)
    gamma = (gamma if with_gamma else torch.ones_like(gamma)).clone().requires_grad_(True)
    beta = torch.zeros_like(gamma, requires_grad=True)
    mean, var = x.mean(0), x.var(0, unbiased=unbiased)
    mean, var = (mean.detach() if detach_mean else mean), (var.detach() if detach_var else var)
    out = gamma * (x - mean) / torch.sqrt(var + EPS) + beta
    return torch.autograd.grad((grad_out * out).sum(), (x, gamma, beta))


def _finite_difference(grad_out, x, gamma, h=1e-6):
    """Central differences of Σ grad_out·BN(x) w.r.t. every entry of x: autograd-free evidence."""
    def loss(z):
        return float((grad_out * gamma * (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + EPS)).sum())

    grad = torch.zeros_like(x)
    for index in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype)
        step[index] = h
        step = step.reshape(x.shape)
        grad.view(-1)[index] = (loss(x + step) - loss(x - step)) / (2 * h)
    return grad


def check_batch_norm_backward(backward: Callable[..., Any]) -> Verdict:
    """Exercise 07.3: ``batch_norm_backward(grad_out, x, gamma, eps)`` → (grad_x, grad_gamma, grad_beta).

    Compared with torch autograd through ``torch.nn.functional.batch_norm`` on several shapes, and on the
    smallest with central finite differences.
    """
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_batch_norm_backward(backward)


def _check_batch_norm_backward(backward) -> Verdict:
    for seed, (batch, features) in enumerate([(16, 5), (4, 3), (2, 6), (40, 8)]):
        generator = _generator(100 + seed)
        x = 2.0 + 3.0 * torch.randn(batch, features, generator=generator, dtype=torch.float64)
        gamma = 0.5 + torch.rand(features, generator=generator, dtype=torch.float64)
        grad_out = torch.randn(batch, features, generator=generator, dtype=torch.float64)
        xr, gr, br = (t.clone().requires_grad_(True) for t in (x, gamma, torch.zeros_like(gamma)))
        out = torch.nn.functional.batch_norm(xr, None, None, gr, br, training=True, eps=EPS)
        expected = torch.autograd.grad((grad_out * out).sum(), (xr, gr, br))
        given = (grad_out.clone(), x.clone(), gamma.clone())
        answer, unanswered = attempt(backward, *given, EPS, name="batch_norm_backward",
                                     shown=f"batch_norm_backward(...) for x of shape {(batch, features)}")
        if unanswered is not None:
            return unanswered
        if (wrong := _torch_tensors(answer, 3, "batch_norm_backward", "(grad_x, grad_gamma, grad_beta)")) is not None:
            return wrong
        originals = {"grad_out": grad_out, "x": x, "gamma": gamma}
        if (wrong := _changed_in_place("batch_norm_backward", originals, given)) is not None:
            return wrong
        shapes = {"grad_x": x.shape, "grad_gamma": gamma.shape, "grad_beta": gamma.shape}
        if (wrong := _wrong_shapes(answer, shapes, "batch_norm_backward")) is not None:
            return wrong
        grad_x, grad_gamma, grad_beta = answer
        where = f"for x of shape {(batch, features)}"
        if not _close(grad_beta, expected[2], 1e-8):
            why = ("every example's output contains + beta, so grad_beta SUMS grad_out over the batch; you averaged."
                   if _close(grad_beta, grad_out.mean(0), 1e-8) else "it is the sum of grad_out over the batch.")
            return report(False, f"grad_beta differs from autograd's {where}: {why}")
        if not _close(grad_gamma, expected[1], 1e-8):
            x_centered = x - x.mean(0)
            if _close(grad_gamma, grad_out.sum(0), 1e-8):
                why = "you left out the x̂ factor: the output is gamma·x̂ + beta, so grad_gamma = Σ grad_out·x̂."
            elif _close(grad_gamma, (grad_out * x_centered).sum(0), 1e-8):
                why = "you multiplied by the centred x; use the normalized x̂ (divided by sqrt(var + eps))."
            elif _close(grad_gamma, expected[1] / batch, 1e-8):
                why = "you averaged over the batch; the loss sums over examples, so sum."
            elif _close(grad_gamma, _autograd_gradients(grad_out, x, gamma, unbiased=True)[1], 1e-8):
                why = "your x̂ uses the unbiased variance (n − 1); batch norm's uses the biased one (divide by n)."
            else:
                why = "it is the sum over the batch of grad_out·x̂."
            return report(False, f"grad_gamma differs from autograd's {where}: {why}")
        if not _close(grad_x, expected[0], 1e-8):
            why = _diagnose_grad_x(grad_x, grad_out, x, gamma)
            return report(False, f"grad_x differs from autograd's {where}: {why}")
    generator = _generator(7)
    x = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    gamma = 1 + torch.rand(2, generator=generator, dtype=torch.float64)
    grad_out = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    answer, unanswered = attempt(backward, grad_out, x, gamma, EPS, name="batch_norm_backward")
    if unanswered is not None:
        return unanswered
    numerical = _finite_difference(grad_out, x, gamma)
    if not isinstance(answer, (tuple, list)) or not _close(answer[0], numerical, 1e-6):
        return report(False, "grad_x disagrees with central finite differences on a batch of 3.")
    return report(True, "grad_x, grad_gamma and grad_beta match torch autograd on 4 shapes (to 1e-8) and "
                        "central finite differences.")


def _diagnose_grad_x(grad_x, grad_out, x, gamma) -> str:
    unbiased = ("your formula uses the unbiased variance (n − 1); batch norm normalizes with the biased one "
                "(divide by n).")
    mistakes = [
        (dict(detach_mean=True, detach_var=True),
         "you treated the batch mean and variance as constants. Both depend on every x of the batch, so "
         "each x reaches the loss through them too: two more terms."),
        (dict(detach_var=True),
         "you treated the batch variance as a constant: it depends on every x of the batch as well."),
        (dict(detach_mean=True),
         "you treated the batch mean as a constant: it depends on every x of the batch as well."),
        (dict(unbiased=True), unbiased),
        (dict(with_gamma=False),
         "the gamma factor is missing: the output is gamma·x̂ + beta, so the gradient reaching x̂ is "
         "gamma·grad_out."),
    ]
    for options, why in mistakes:
        if _close(grad_x, _autograd_gradients(grad_out, x, gamma, **options)[0], 1e-8):
            return why
    n = x.shape[0]
    inv_std = 1 / torch.sqrt(x.var(0) + EPS)
    x_hat = (x - x.mean(0)) * inv_std
    substituted = gamma * inv_std * (grad_out - grad_out.mean(0) - x_hat * (grad_out * x_hat).sum(0) / n)
    if _close(grad_x, substituted, 1e-8):
        return unbiased
    return ("follow x through all three paths: directly through x̂, through the batch mean and through the "
            "batch variance, and add them.")


# -------------------------------------------------------------------------------------------- 07.4: folding

def check_fold_batch_norm(fold: Callable[..., Any]) -> Verdict:
    """Exercise 07.4: ``fold_batch_norm(weight, bias, gamma, beta, running_mean, running_var, eps)``."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_fold_batch_norm(fold)


def _check_fold_batch_norm(fold) -> Verdict:
    for seed, (n_in, n_out) in enumerate([(4, 4), (6, 3), (2, 9)]):   # square first: a transposed scale shows
        generator = _generator(200 + seed)
        linear = torch.nn.Linear(n_in, n_out).double()
        norm = torch.nn.BatchNorm1d(n_out).double().eval()
        with torch.no_grad():
            for tensor in (linear.weight, linear.bias, norm.bias, norm.running_mean):
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=torch.float64))
            norm.weight.copy_(0.5 + torch.rand(n_out, generator=generator, dtype=torch.float64))
            norm.running_var.copy_(0.01 + 2 * torch.rand(n_out, generator=generator, dtype=torch.float64))
        inputs = {"weight": linear.weight, "bias": linear.bias, "gamma": norm.weight, "beta": norm.bias,
                  "running_mean": norm.running_mean, "running_var": norm.running_var}
        originals = {name: t.detach().clone() for name, t in inputs.items()}
        given = tuple(t.clone() for t in originals.values())
        answer, unanswered = attempt(fold, *given, EPS, name="fold_batch_norm",
                                     shown=f"fold_batch_norm(...) for a Linear({n_in}, {n_out})")
        if unanswered is not None:
            return unanswered
        if (wrong := _torch_tensors(answer, 2, "fold_batch_norm", "(weight, bias)")) is not None:
            return wrong
        if (wrong := _changed_in_place("fold_batch_norm", originals, given)) is not None:
            return wrong
        if (wrong := _wrong_shapes(answer, {"weight": (n_out, n_in), "bias": (n_out,)}, "fold_batch_norm")) is not None:
            return wrong
        x = torch.randn(16, n_in, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            expected = norm(linear(x))
            folded = torch.nn.functional.linear(x, *answer)
        if not _close(folded, expected, 1e-8):
            return report(False, f"for a Linear({n_in}, {n_out}) the folded layer's outputs differ from Linear "
                                 f"followed by BatchNorm1d in eval mode: {_diagnose_fold(answer, originals)}")
    return report(True, "the folded layer gives the outputs of Linear followed by BatchNorm1d in eval mode, "
                        "on three layer shapes.")


def _diagnose_fold(answer, t) -> str:
    weight, bias = answer
    std = torch.sqrt(t["running_var"] + EPS)
    scale = t["gamma"] / std
    right_weight = t["weight"] * scale[:, None]
    if weight.shape[0] == weight.shape[1] and _close(weight, t["weight"] * scale[None, :]):
        return ("you scaled the columns of the weight (the inputs); batch norm scales each OUTPUT unit, "
                "so each row.")
    if _close(weight, t["weight"] * (t["gamma"] / torch.sqrt(t["running_var"]))[:, None]):
        return "you left eps out of the square root; eval-mode batch norm divides by sqrt(running_var + eps)."
    if _close(weight, t["weight"] * (t["gamma"] / (t["running_var"] + EPS))[:, None]):
        return "you divided by the variance; divide by the standard deviation, sqrt(running_var + eps)."
    if not _close(weight, right_weight):
        return "each row of the weight must be multiplied by gamma / sqrt(running_var + eps) of its unit."
    if _close(bias, t["bias"] * scale + t["beta"]):
        return "the bias ignores the running mean: it is subtracted from the linear output before the scaling."
    if _close(bias, (t["bias"] - t["running_mean"]) * scale):
        return "beta is missing from the new bias."
    return "the weight is right; check the bias: the linear output's bias goes through the same normalization."


# --------------------------------------------------------------------------- 07.5: effective learning rate

def effective_learning_rates(weight: torch.Tensor, lr: float) -> torch.Tensor:
    """``lr / ‖w_j‖²`` for each row (output unit) j of a weight matrix (out, in) that feeds batch norm.

    Batch norm standardizes each output unit, so each row is scale-invariant on its own: its gradient is
    orthogonal to it and shrinks as 1/‖w_j‖, and an SGD step turns it by an angle proportional to lr / ‖w_j‖².
    """
    return lr / weight.pow(2).sum(dim=1)


def check_effective_learning_rates(effective_lr: Callable[..., Any]) -> Verdict:
    """Exercise 07.5: ``effective_learning_rates(weight, lr)`` → one lr / ‖w_j‖² per output unit (row)."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_effective_learning_rates(effective_lr)


def _check_effective_learning_rates(effective_lr) -> Verdict:
    # square first, so that norms over the columns have the right shape and only their values give them away
    for seed, ((n_out, n_in), lr) in enumerate([((4, 4), 0.1), ((6, 3), 0.5), ((1, 7), 0.02), ((3, 9), 2.0)]):
        generator = _generator(300 + seed)
        row_scales = 0.2 + 3 * torch.rand(n_out, 1, generator=generator, dtype=torch.float64)  # rows differ in size
        weight = row_scales * torch.randn(n_out, n_in, generator=generator, dtype=torch.float64)
        given = weight.clone()
        shown = f"effective_learning_rates(weight of shape {(n_out, n_in)}, lr={lr})"
        answer, unanswered = attempt(effective_lr, given, lr, name="effective_learning_rates", shown=shown)
        if unanswered is not None:
            return unanswered
        if not isinstance(answer, torch.Tensor):
            return report(False, f"{shown} returned a {type(answer).__module__.split('.')[0]}.{type(answer).__name__}; "
                                 "it receives a torch tensor and must return a torch tensor (use torch operations "
                                 "such as weight.norm(dim=...) rather than NumPy ones).")
        if (wrong := _changed_in_place("effective_learning_rates", {"weight": weight}, (given,))) is not None:
            return wrong
        expected = effective_learning_rates(weight, lr)
        if answer.shape != expected.shape:
            return report(False, f"{shown} must return one value per output unit, shape ({n_out},); got shape "
                                 f"{tuple(answer.shape)}: {_diagnose_effective_lr(answer, weight, lr)}")
        if not _close(answer, expected, 1e-10):
            return report(False, f"{shown} gives the wrong values: {_diagnose_effective_lr(answer, weight, lr)}")
    return report(True, "one effective learning rate lr / ‖w_j‖² per output unit, on four weight shapes: scale a "
                        "unit's weights by c and its effective learning rate falls by c².")


def _diagnose_effective_lr(answer, weight, lr) -> str:
    squares = weight.pow(2)
    mistakes = [
        (lr / squares.sum(), "you used the norm of the whole matrix; batch norm standardizes each output unit on its "
                             "own, so each row of the weight has its own norm and its own effective learning rate."),
        (lr / squares.sum(dim=0), "you took the norms of the columns (one per input); a unit's weights are a row of "
                                  "the weight (out, in): take the norm over dim 1."),
        (lr / squares.sum(dim=1).sqrt(), "you divided by the norm; the effective learning rate divides by the "
                                         "squared norm, lr / ‖w_j‖²."),
        (lr * squares.sum(dim=1), "you multiplied by the squared norm; a larger norm means a smaller turn per step, "
                                  "so divide: lr / ‖w_j‖²."),
    ]
    values = answer.detach().reshape(-1).double()
    for candidate, why in mistakes:
        if values.numel() == candidate.numel() or candidate.numel() == 1:
            if _close(values, candidate.reshape(-1).expand(values.numel()).contiguous(), 1e-10):
                return why
    return "the effective learning rate of unit j is lr divided by the squared norm of row j of the weight."
