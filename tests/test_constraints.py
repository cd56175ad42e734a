"""The max-norm constraint: the projection against direct computations, its checks, and fit applying it."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import make_classification
from course_utils import Config, build_model, fit, max_norm_
from course_utils.penalties import penalized_parameters


def spread_rows(shape, c, seed=0):
    """A weight whose units' incoming norms range from about c/4 to 4c."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    norms = torch.linalg.vector_norm(weight, dim=tuple(range(1, weight.ndim)), keepdim=True)
    lengths = c * torch.exp(torch.empty(norms.shape, dtype=torch.float64).uniform_(-1.4, 1.4, generator=generator))
    return weight / norms * lengths


def projected_row_by_row(weight, c):
    """The definition, one unit at a time: w -> w · c/‖w‖ if ‖w‖ > c, else w."""
    out = weight.clone()
    for j in range(len(weight)):
        norm = math.sqrt(float((weight[j] ** 2).sum()))
        if norm > c:
            out[j] = weight[j] * (c / norm)
    return out


@pytest.mark.parametrize("shape", [(7, 5), (1, 9), (30, 1), (6, 3, 5)], ids=["linear", "one unit", "fan-in 1", "conv"])
def test_the_projection_is_the_definition_and_torch_renorm(shape):
    weight = spread_rows(shape, c=1.3)
    projected = max_norm_(weight.clone(), 1.3)
    torch.testing.assert_close(projected, projected_row_by_row(weight, 1.3), rtol=1e-12, atol=0)
    torch.testing.assert_close(projected, torch.renorm(weight, p=2, dim=0, maxnorm=1.3), rtol=1e-6, atol=0)


def test_rows_inside_the_ball_are_untouched_and_the_tensor_is_changed_in_place():
    weight = spread_rows((50, 8), c=2.0)
    inside = torch.linalg.vector_norm(weight, dim=1) <= 2.0
    assert 0 < int(inside.sum()) < len(weight)
    original = weight.clone()
    assert max_norm_(weight, 2.0) is weight
    assert torch.equal(weight[inside], original[inside])
    torch.testing.assert_close(torch.linalg.vector_norm(weight[~inside], dim=1),
                               torch.full((int((~inside).sum()),), 2.0, dtype=torch.float64))


def test_stacked_members_each_get_their_own_bound_and_inf_means_none():
    members = torch.stack([spread_rows((6, 3, 5), c=1.0, seed=s) for s in range(3)])   # (M, out, in, k)
    bounds = torch.tensor([0.5, math.inf, 2.0])
    projected = max_norm_(members.clone(), bounds, batch_dims=1)
    torch.testing.assert_close(projected[0], projected_row_by_row(members[0], 0.5), rtol=1e-12, atol=0)
    assert torch.equal(projected[1], members[1])
    torch.testing.assert_close(projected[2], projected_row_by_row(members[2], 2.0), rtol=1e-12, atol=0)


@pytest.mark.parametrize("c, batch_dims, message", [
    (0.0, 0, "c must be in"), (-1.0, 0, "c must be in"), (math.nan, 0, "finite"), (math.inf, 0, "finite"),
    (torch.tensor([1.0, 2.0]), 0, "one per stacked tensor"), (torch.tensor([1.0, 0.0, 2.0]), 1, "positive bounds"),
    (1.0, 2, "batch_dims must be"), (1.0, -1, "batch_dims must be"),
])
def test_max_norm_rejects_bad_bounds_and_axes(c, batch_dims, message):
    with pytest.raises(ValueError, match=message):
        max_norm_(torch.ones(3, 4, 2) if batch_dims == 1 else torch.ones(4, 2), c, batch_dims)


def test_max_norm_needs_a_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        max_norm_(np.ones((3, 4)), 1.0)


@pytest.mark.parametrize("value", [0, 0.0, -2.0, math.nan, math.inf, "3", True])
def test_config_rejects_a_bound_that_is_not_a_positive_number(value):
    with pytest.raises(ValueError, match="max_norm"):
        Config(max_norm=value)


@pytest.mark.parametrize("value", [None, 3, 0.5])
def test_config_accepts_none_or_a_positive_bound(value):
    assert Config(max_norm=value).max_norm == value


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_fit_keeps_every_weight_matrix_and_kernel_inside_the_bound(model):
    data = make_classification(length=12) if model == "cnn" else make_classification()
    config = Config(model=model, hidden=(6, 5), epochs=3, batch_size=16, optimizer="sgd", lr=0.5, max_norm=0.4)
    n_inputs = int(np.prod(data.x_train.shape[1:]))
    free = build_model(replace(config, max_norm=None), n_inputs, data.n_classes)
    constrained = build_model(config, n_inputs, data.n_classes)
    fit(free, data, replace(config, max_norm=None), progress=False)
    fit(constrained, data, config, progress=False)
    weights = penalized_parameters(constrained)
    assert len(weights) == 3                                       # two hidden layers and the output layer
    norms = [torch.linalg.vector_norm(w.detach(), dim=tuple(range(1, w.ndim))) for w in weights]
    assert all(float(n.max()) <= 0.4 * (1 + 1e-6) for n in norms)
    free_norms = [torch.linalg.vector_norm(w.detach(), dim=tuple(range(1, w.ndim))) for w in penalized_parameters(free)]
    assert all(float(n.max()) > 0.4 for n in free_norms)          # without it the bound would be exceeded


def test_a_bound_that_never_binds_leaves_the_run_exactly_as_without_it():
    data = make_classification()
    config = Config(hidden=(8,), epochs=3, batch_size=16)
    runs = []
    for bound in (None, 1e6):
        model = build_model(replace(config, max_norm=bound), 8, 3)
        runs.append((fit(model, data, replace(config, max_norm=bound), progress=False), model))
    (history, model), (other, other_model) = runs
    assert history.val_loss == other.val_loss and history.train_loss == other.train_loss
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other_model.state_dict().values()))
