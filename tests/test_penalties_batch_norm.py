"""Weights that feed batch norm: scale-invariant per unit, so their step is set by the effective learning rate.

Checks the reference of Exercise 7.5 against autograd through a real Linear → BatchNorm1d pair, and that the
course's decay groups include these weights (the default notebooks 03 and 07 justify by measurement).
"""
from __future__ import annotations

import torch
from torch import nn

import course_utils as cu
from course_utils.checks.batchnorm import effective_learning_rates
from course_utils.penalties import parameter_groups
from course_utils.training import make_optimizer


def _layer_and_batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    # batch norm's eps would break the invariance by about eps / variance; a tiny eps leaves only rounding
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4, eps=1e-12), nn.ReLU(), nn.Linear(4, 3)).double().train()
    with torch.no_grad():
        model[0].weight.mul_(torch.tensor([0.3, 1.0, 2.0, 5.0], dtype=torch.float64)[:, None])  # rows of unequal size
    x = torch.randn(32, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (32,), generator=generator)
    return model, x, y


def _gradient(model, x, y) -> torch.Tensor:
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return model[0].weight.grad.clone()


def _step_angles(weight: torch.Tensor, gradient: torch.Tensor, lr: float) -> torch.Tensor:
    after = weight - lr * gradient
    unit = weight / weight.norm(dim=1, keepdim=True)
    along = (after * unit).sum(1)
    across = (after - along[:, None] * unit).norm(dim=1)
    return torch.atan2(across, along)                        # accurate for small angles, unlike arccos


def test_each_row_is_scale_invariant_and_its_gradient_orthogonal():
    model, x, y = _layer_and_batch()
    output, gradient = model(x).detach(), _gradient(model, x, y)
    weight = model[0].weight.detach()
    cosine = (weight * gradient).sum(1) / (weight.norm(dim=1) * gradient.norm(dim=1))
    assert cosine.abs().max() < 1e-8                         # g_j ⟂ w_j
    with torch.no_grad():
        model[0].weight[2].mul_(7.0)                         # one unit only
    torch.testing.assert_close(model(x).detach(), output, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(_gradient(model, x, y)[2], gradient[2] / 7.0, rtol=1e-7, atol=1e-12)


def test_step_angle_follows_the_effective_learning_rate():
    # the angle an SGD step turns row j by is lr·‖g_j‖/‖w_j‖ to first order, and ‖g_j‖·‖w_j‖ is scale-free,
    # so angle_j / effective_lr_j is the same whatever the row's norm: scaling row j by c divides its angle by c²
    model, x, y = _layer_and_batch()
    lr = 1e-6   # small, so that the angle is first order in lr
    weight = model[0].weight.detach().clone()
    angles = _step_angles(weight, _gradient(model, x, y), lr)
    with torch.no_grad():
        model[0].weight.mul_(torch.tensor([2.0, 0.5, 3.0, 1.0], dtype=torch.float64)[:, None])
    scaled = model[0].weight.detach().clone()
    scaled_angles = _step_angles(scaled, _gradient(model, x, y), lr)
    ratio = effective_learning_rates(scaled, lr) / effective_learning_rates(weight, lr)
    torch.testing.assert_close(scaled_angles / angles, ratio, rtol=1e-6, atol=0.0)
    torch.testing.assert_close(ratio, torch.tensor([0.25, 4.0, 1 / 9, 1.0], dtype=torch.float64))


def test_effective_learning_rates_is_per_row():
    weight = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(effective_learning_rates(weight, 0.5),
                               torch.tensor([0.5 / 25, 0.5, 2.0], dtype=torch.float64))


def test_default_decay_includes_the_weights_feeding_batch_norm():
    config = cu.Config(hidden=(8, 8), batch_norm=True, weight_decay=0.01)
    model = cu.build_model(config, n_inputs=5, n_outputs=3)
    layers = list(model)
    feeding = {id(a.weight) for a, b in zip(layers, layers[1:]) if isinstance(b, nn.BatchNorm1d)}
    assert len(feeding) == 2
    for groups in (parameter_groups(model, 0.01), make_optimizer(model, config).param_groups):
        decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
        assert feeding <= decayed
        norm_parameters = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm1d) for p in m.parameters()}
        assert not decayed & norm_parameters
