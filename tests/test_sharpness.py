"""course_utils.sharpness against independent computations: the full Hessian, eigvalsh, SAM by hand, fit."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_utils as cu
from course_utils.data import Dataset
from course_utils.sharpness import (hessian_vector_product, perturbation_sharpness, power_iteration, sam_step,
                                    top_hessian_eigenvalue, train_sam)


def _tiny_problem(seed=0, n=60):
    """A 5-4-3 MLP and data it cannot fit exactly (random labels), so the minimum has curvature."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    x = torch.randn(n, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (n,))
    return model, x, y


def _full_hessian(model, x, y):
    """The Hessian of the mean cross-entropy in all parameters, flattened, by torch.autograd.functional."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector):
        values, start = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            values[name] = vector[start:start + size].reshape(shape)
            start += size
        return F.cross_entropy(torch.func.functional_call(model, values, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


def _train(model, x, y, steps=300):
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=steps, tolerance_grad=1e-10,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def test_hessian_vector_product_matches_the_full_hessian():
    model, x, y = _tiny_problem()
    hessian = _full_hessian(model, x, y)
    params = [p.detach() for p in model.parameters()]
    torch.manual_seed(1)
    vector = [torch.randn_like(p) for p in params]

    def loss(values):
        names = [n for n, _ in model.named_parameters()]
        return F.cross_entropy(torch.func.functional_call(model, dict(zip(names, values)), (x,)), y)

    product = torch.cat([h.reshape(-1) for h in hessian_vector_product(loss, params, vector)])
    expected = hessian @ torch.cat([v.reshape(-1) for v in vector])
    assert torch.allclose(product, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_hessian_eigenvalue_matches_eigvalsh_at_a_minimum(seed):
    model, x, y = _tiny_problem(seed)
    _train(model, x, y)
    eigenvalues = torch.linalg.eigvalsh(_full_hessian(model, x, y))
    assert eigenvalues[-1] > eigenvalues[0].abs()   # at a minimum the largest magnitude is the largest positive
    estimate = top_hessian_eigenvalue(model, x.numpy(), y.numpy(), iterations=1000, tol=1e-10)
    assert estimate == pytest.approx(float(eigenvalues[-1]), rel=1e-3)


def test_power_iteration_finds_the_eigenvalue_of_largest_magnitude():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    for spectrum in (np.linspace(0.1, 5.0, 30), np.r_[-7.0, np.linspace(-2.0, 3.0, 29)]):
        matrix = torch.tensor(basis @ np.diag(spectrum) @ basis.T)
        estimate = power_iteration(lambda v: [matrix @ v[0]], [torch.zeros(30, dtype=torch.float64)],
                                   iterations=2000, tol=1e-12)
        largest = np.linalg.eigvalsh(matrix.numpy())
        assert estimate == pytest.approx(largest[np.argmax(np.abs(largest))], rel=1e-6)


def test_perturbation_sharpness_is_the_mean_loss_increase_of_perturbed_copies():
    """Against copies of the module with perturbed weights, evaluated by its own forward (no functional_call)."""
    model, x, y = _tiny_problem(3)
    x = x.float().double()   # the inputs as the function receives them (as_tensors makes them float32)
    rho, draws = 0.2, 7
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        base = float(F.cross_entropy(model(x), y))
    increases = []
    for _ in range(draws):
        twin = copy.deepcopy(model)
        with torch.no_grad():
            for p in twin.parameters():
                d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                step = rho * p.norm() * d / d.norm()
                assert float(step.norm()) == pytest.approx(rho * float(p.norm()), rel=1e-12)
                p += step
            increases.append(float(F.cross_entropy(twin(x), y)) - base)
    measured = perturbation_sharpness(model, x.numpy(), y.numpy(), rho=rho, draws=draws, seed=11)
    assert measured == pytest.approx(np.mean(increases), rel=1e-9)
    assert measured > 0   # at random weights a 20 % move raises the loss on average


def _relu_rescaled(model: nn.Sequential, a: float) -> nn.Sequential:
    """The same function: the first layer (weights and bias) times a, the next layer's weights divided by a."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin[0].weight *= a
        twin[0].bias *= a
        twin[2].weight /= a
    return twin


def test_rescaling_a_relu_layer_changes_the_hessian_but_not_the_relative_perturbation_sharpness():
    model, x, y = _tiny_problem(4)
    _train(model, x, y)
    twin = _relu_rescaled(model, 5.0)
    assert torch.allclose(model(x), twin(x), atol=1e-10)
    lam, lam_twin = (top_hessian_eigenvalue(m, x.numpy(), y.numpy(), iterations=1000, tol=1e-10)
                     for m in (model, twin))
    assert abs(np.log(lam_twin / lam)) > np.log(2)
    assert perturbation_sharpness(twin, x.numpy(), y.numpy(), rho=0.1) == pytest.approx(
        perturbation_sharpness(model, x.numpy(), y.numpy(), rho=0.1), rel=1e-8)


def test_sam_step_matches_a_hand_computation_on_a_quadratic():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 5))
    a = q @ q.T + np.eye(5)
    w = rng.normal(size=5)
    lr, rho = 0.1, 0.3
    g = a @ w
    expected = w - lr * a @ (w + rho * g / np.linalg.norm(g))
    matrix = torch.tensor(a)

    def gradient(params):   # the loss ½ wᵀAw with w split into two tensors
        full = matrix @ torch.cat(params)
        return [full[:2], full[2:]]

    params = [torch.tensor(w[:2]), torch.tensor(w[2:])]
    before = [p.clone() for p in params]
    new = sam_step(params, gradient, lr, rho)
    assert np.allclose(torch.cat(new).numpy(), expected, rtol=1e-12)
    assert all(torch.equal(p, b) for p, b in zip(params, before))   # the inputs are left alone
    plain = sam_step(params, gradient, lr, 0.0)
    assert np.allclose(torch.cat(plain).numpy(), w - lr * g, rtol=1e-12)


def _draws():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    source = Dataset(x, y, x[:20], y[:20], name="toy")
    return cu.Draws(source, n_train=48, val_fraction=0.25)


def test_train_sam_with_rho_zero_trains_what_fit_trains():
    draws = _draws()
    config = cu.Config(optimizer="sgd", lr=0.3, batch_size=16, epochs=3, hidden=(12,))
    models = train_sam(config, draws, seeds=[0, 1], rho=0.0)
    for seed, model in zip([0, 1], models):
        run = dataclasses.replace(config, seed=seed)
        reference = cu.build_model(run, 8, 3)
        cu.fit(reference, draws(seed), run, progress=False)
        for a, b in zip(model.parameters(), reference.parameters()):
            assert torch.allclose(a, b, atol=1e-6)


def test_train_sam_matches_a_plain_loop_of_sam_steps():
    """The stacked (vmap) training against one model stepped with autograd, batch by batch as fit orders them."""
    draws = _draws()
    config = cu.Config(optimizer="sgd", lr=0.3, batch_size=16, epochs=3, hidden=(12,))
    stacked = train_sam(config, draws, seeds=[0, 2], rho=0.1)[1]
    data = draws(2)
    x, y = torch.tensor(data.x_train), torch.tensor(data.y_train)
    model = cu.build_model(dataclasses.replace(config, seed=2), 8, 3)
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]
    generator = torch.Generator().manual_seed(2)
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]

            def gradient(values):
                values = [v.detach().requires_grad_(True) for v in values]
                loss = F.cross_entropy(torch.func.functional_call(model, dict(zip(names, values)), (x[batch],)),
                                       y[batch])
                return list(torch.autograd.grad(loss, values))

            params = sam_step(params, gradient, config.lr, 0.1)
    for a, b in zip(stacked.parameters(), params):
        assert torch.allclose(a, b, atol=1e-5)


def test_train_sam_refuses_what_its_step_does_not_implement():
    with pytest.raises(ValueError, match="plain SGD"):
        train_sam(cu.Config(optimizer="adam"), _draws(), seeds=[0], rho=0.05)
    with pytest.raises(ValueError, match="plain SGD"):
        train_sam(cu.Config(optimizer="sgd", momentum=0.9), _draws(), seeds=[0], rho=0.05)
