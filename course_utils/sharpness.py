"""How sharp a trained network's minimum is, and sharpness-aware minimization (SAM), from scratch.

Two measures of sharpness, both on a fixed dataset ``(x, y)`` with the mean cross-entropy:

* ``top_hessian_eigenvalue``: the largest eigenvalue of the loss's Hessian with
  respect to all parameters, by power iteration on Hessian-vector products
  (two backward passes each; the Hessian itself is never formed);
* ``perturbation_sharpness``: the mean loss increase when every parameter
  tensor is moved in a random direction by ``rho`` times its own norm.

``sam_step`` is one SAM update (Foret et al. 2021) on a list of tensors, and
``train_sam`` trains stacked replicates with it, batched with ``torch.func``.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from .config import Config
from .data import Dataset
from .models import build_model
from .training import as_tensors, progress
from .validation import check_number, check_positive_int

__all__ = ["hessian_vector_product", "power_iteration", "top_hessian_eigenvalue", "perturbation_sharpness",
           "sam_step", "train_sam"]

Tensors = list[torch.Tensor]


def _loss_of_parameters(model: nn.Module, x, y) -> tuple[Callable[[Tensors], torch.Tensor], Tensors]:
    """The mean cross-entropy as a function of the model's parameter list, and that list (detached)."""
    names = [name for name, _ in model.named_parameters()]
    params = [p.detach() for _, p in model.named_parameters()]
    x, y = as_tensors(x, y)
    x = x.to(params[0].dtype)   # float64 models (the tests' exact Hessians) get float64 inputs

    def loss(values: Tensors) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, dict(zip(names, values)), (x,)), y)

    return loss, params


def hessian_vector_product(loss: Callable[[Tensors], torch.Tensor], params: Tensors, vector: Tensors) -> Tensors:
    """H v for the Hessian H of ``loss`` at ``params``: the gradient of (∇loss · v), by double backward.

    ``vector`` is a list of tensors shaped like ``params``, and so is the result.
    """
    params = [p.detach().requires_grad_(True) for p in params]
    gradient = torch.autograd.grad(loss(params), params, create_graph=True)
    along = sum((g * v).sum() for g, v in zip(gradient, vector))
    return [h.detach() for h in torch.autograd.grad(along, params)]


def power_iteration(matvec: Callable[[Tensors], Tensors], like: Tensors, iterations: int = 100,
                    tol: float = 1e-4, seed: int = 0) -> float:
    """The eigenvalue of largest magnitude of the symmetric operator ``matvec`` on tensors shaped like ``like``.

    Starts from a seeded random direction; stops when the Rayleigh quotient v·Av
    changes by less than ``tol`` (relative) between iterations.
    """
    check_positive_int(iterations, "iterations")
    generator = torch.Generator().manual_seed(seed)
    v = [torch.randn(t.shape, generator=generator, dtype=t.dtype) for t in like]
    estimate = math.nan
    for _ in range(iterations):
        norm = torch.sqrt(sum((u * u).sum() for u in v))
        v = [u / norm for u in v]
        w = matvec(v)
        previous, estimate = estimate, float(sum((a * b).sum() for a, b in zip(v, w)))
        v = w
        if abs(estimate - previous) <= tol * abs(estimate):
            break
    return estimate


def top_hessian_eigenvalue(model: nn.Module, x: npt.ArrayLike, y: npt.ArrayLike, iterations: int = 100,
                           tol: float = 1e-4, seed: int = 0) -> float:
    """Largest Hessian eigenvalue of the mean cross-entropy on ``(x, y)`` (model in eval mode).

    Power iteration finds the eigenvalue of largest magnitude; near a minimum of
    the cross-entropy the Hessian's negative eigenvalues are small, so it is the
    largest positive one. ``x`` is (samples, features) or (samples, channels,
    length), ``y`` the class labels (samples,).
    """
    model.eval()
    loss, params = _loss_of_parameters(model, x, y)
    return power_iteration(lambda v: hessian_vector_product(loss, params, v), params, iterations, tol, seed)


@torch.no_grad()
def perturbation_sharpness(model: nn.Module, x: npt.ArrayLike, y: npt.ArrayLike, rho: float = 0.05,
                           draws: int = 20, seed: int = 0) -> float:
    """Mean loss increase on ``(x, y)`` when each parameter tensor moves randomly by ``rho`` × its norm.

    Relative to each tensor's own norm, so rescaling a layer (and its neighbour
    inversely) moves the perturbed network exactly as it moves the network.
    ``x`` and ``y`` are shaped as for ``top_hessian_eigenvalue``.
    """
    check_number(rho, "rho", low=0.0, low_inclusive=False)
    check_positive_int(draws, "draws")
    model.eval()
    loss, params = _loss_of_parameters(model, x, y)
    generator = torch.Generator().manual_seed(seed)
    base = float(loss(params))
    increases = []
    for _ in range(draws):
        moved = []
        for p in params:
            direction = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            moved.append(p + rho * p.norm() * direction / direction.norm())
        increases.append(float(loss(moved)) - base)
    return sum(increases) / draws


def sam_step(params: Sequence[torch.Tensor], gradient: Callable[[Tensors], Tensors], lr: float,
             rho: float) -> Tensors:
    """One SAM update: step with the gradient taken at the worst nearby point, ``params + rho g/‖g‖``.

    ``gradient(params)`` returns the loss gradient for each tensor; ‖g‖ is the
    norm over all of them together. ``rho = 0`` is plain gradient descent.
    Returns the new tensors, shaped like ``params``.
    """
    g = gradient(list(params))
    norm = torch.sqrt(sum((t * t).sum() for t in g))
    scale = rho / (norm + 1e-12)
    g_worst = gradient([p + scale * t for p, t in zip(params, g)])
    return [p - lr * t for p, t in zip(params, g_worst)]


def train_sam(config: Config, data: Callable[[int], Dataset], seeds: Sequence[int], rho: float) -> list[nn.Module]:
    """Train replicate r of ``config`` (SGD, no momentum) with SAM on ``data(r)``, all replicates stacked.

    Each replicate starts from ``build_model(config with seed r)`` and sees the
    batches ``fit`` would show it (a generator seeded with r shuffles each
    epoch), so ``rho = 0`` trains what ``fit`` trains, up to float rounding.
    Returns one trained model per seed.
    """
    if config.optimizer != "sgd" or config.momentum or config.weight_decay or config.l1 or config.l2 \
            or config.dropout or config.input_dropout or config.input_noise or config.batch_norm \
            or config.label_smoothing or config.patience is not None:
        raise ValueError("train_sam trains plain SGD without momentum, penalties, noise, batch norm or early "
                         "stopping: SAM's step replaces the optimizer's")
    check_number(rho, "rho", low=0.0)
    seeds = [int(s) for s in seeds]
    datasets = [data(s) for s in seeds]
    pairs = [as_tensors(d.x_train, d.y_train) for d in datasets]
    x = torch.stack([p[0].reshape(len(p[0]), -1) for p in pairs])    # (M, n, features)
    y = torch.stack([p[1] for p in pairs])                           # (M, n)
    models = [build_model(dataclasses.replace(config, seed=s), x.shape[2], datasets[0].n_classes) for s in seeds]
    stacked, _ = stack_module_state(models)
    names = list(stacked)
    template = models[0]

    def member_step(values, xb, yb):
        def gradient(point):
            return list(grad(lambda v: F.cross_entropy(
                functional_call(template, dict(zip(names, v)), (xb,)), yb))(point))
        return sam_step(values, gradient, config.lr, rho)

    step = vmap(member_step)
    values = [stacked[name].detach() for name in names]
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    n, size = x.shape[1], config.batch_size
    for _ in progress(range(config.epochs), desc="SAM", unit="epochs"):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])
        xs, ys = torch.gather(x, 1, order[..., None].expand_as(x)), torch.gather(y, 1, order)
        for start in range(0, n, size):
            values = step(values, xs[:, start:start + size], ys[:, start:start + size])
    with torch.no_grad():
        for m, model in enumerate(models):
            for name, value in zip(names, values):
                model.get_parameter(name).copy_(value[m])
    return models
