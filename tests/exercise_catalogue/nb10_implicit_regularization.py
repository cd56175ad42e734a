"""Notebook 10: relative perturbation, power iteration, Hessian-vector product, SAM step."""
from __future__ import annotations

import torch

from course_utils.checks.implicit import (check_hessian_vector_product, check_perturb, check_power_iteration,
                                          check_sam_step)
from course_utils.sharpness import hessian_vector_product, sam_step

from . import Exercise, Wrong

# ------------------------------------------------------------------ 10.1 relative perturbation


def perturb(params, rho, generator):
    moved = []
    for p in params:
        direction = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        moved.append(p + rho * p.norm() * direction / direction.norm())
    return moved


def perturb_uniform_on_sphere_per_element_sign(params, rho, generator):
    """Another valid direction: a random vector of ±1 entries, normalized."""
    moved = []
    for p in params:
        direction = torch.randint(0, 2, p.shape, generator=generator).to(p.dtype) * 2 - 1
        moved.append(p + rho * p.norm() * direction / direction.norm())
    return moved


def one_norm_for_all(params, rho, generator):
    directions = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    size = torch.sqrt(sum((d * d).sum() for d in directions))
    total = torch.sqrt(sum((p * p).sum() for p in params))
    return [p + rho * total * d / size for p, d in zip(params, directions)]


def absolute_step(params, rho, generator):
    out = []
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        out.append(p + rho * d / d.norm())
    return out


def unnormalized_direction(params, rho, generator):
    return [p + rho * p.norm() * torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]


def along_itself(params, rho, generator):
    return [p * (1 + rho) for p in params]


def ignores_the_generator(params, rho, generator):
    out = []
    for p in params:
        d = torch.randn(p.shape, dtype=p.dtype)
        out.append(p + rho * p.norm() * d / d.norm())
    return out


def perturb_in_place(params, rho, generator):
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        p.add_(rho * p.norm() * d / d.norm())
    return params


def numpy_arrays(params, rho, generator):
    return [t.numpy() for t in perturb(params, rho, generator)]


# ------------------------------------------------------------------ 10.2 power iteration


def power_iteration(matvec, n, iterations):
    v = torch.randn(n, dtype=torch.float64)
    value = 0.0
    for _ in range(iterations):
        v = v / v.norm()
        w = matvec(v)
        value = float(v @ w)
        v = w
    return value


def power_iteration_tensor_result(matvec, n, iterations):
    """A 0-dim tensor is a number too."""
    v = torch.randn(n, dtype=torch.float64)
    for _ in range(iterations):
        v = matvec(v / v.norm())
    v = v / v.norm()
    return v @ matvec(v)


def norm_not_rayleigh(matvec, n, iterations):
    v = torch.randn(n, dtype=torch.float64)
    for _ in range(iterations):
        w = matvec(v / v.norm())
        value, v = float(w.norm()), w
    return value


def never_normalized(matvec, n, iterations):
    v = torch.randn(n, dtype=torch.float64)
    for _ in range(iterations):
        v = matvec(v)
    return float(v @ matvec(v))


def one_product(matvec, n, iterations):
    v = torch.randn(n, dtype=torch.float64)
    v = v / v.norm()
    return float(v @ matvec(v))


def returns_the_vector(matvec, n, iterations):
    v = torch.randn(n, dtype=torch.float64)
    for _ in range(iterations):
        v = matvec(v)
        v = v / v.norm()
    return v


# ------------------------------------------------------------------ 10.3 Hessian-vector product


def hvp_by_central_differences(loss, params, vector):
    """Another valid method in float64: the difference of two gradients, h = 1e-5."""
    h = 1e-5

    def gradient(values):
        values = [v.detach().requires_grad_(True) for v in values]
        return torch.autograd.grad(loss(values), values)

    ahead = gradient([p + h * v for p, v in zip(params, vector)])
    behind = gradient([p - h * v for p, v in zip(params, vector)])
    return [(a - b) / (2 * h) for a, b in zip(ahead, behind)]


def returns_the_gradient(loss, params, vector):
    params = [p.detach().requires_grad_(True) for p in params]
    return list(torch.autograd.grad(loss(params), params))


def times_ones(loss, params, vector):
    params = [p.detach().requires_grad_(True) for p in params]
    gradient = torch.autograd.grad(loss(params), params, create_graph=True)
    return list(torch.autograd.grad(sum(g.sum() for g in gradient), params))


def coarse_differences(loss, params, vector):
    h = 0.5

    def gradient(values):
        values = [v.detach().requires_grad_(True) for v in values]
        return torch.autograd.grad(loss(values), values)

    ahead, here = gradient([p + h * v for p, v in zip(params, vector)]), gradient(params)
    return [(a - b) / h for a, b in zip(ahead, here)]


def scales_the_vector_in_place(loss, params, vector):
    result = hessian_vector_product(loss, params, vector)
    for v in vector:
        v.mul_(1.0)
        v.add_(1.0)
    return result


def one_flat_tensor(loss, params, vector):
    return torch.cat([t.reshape(-1) for t in hessian_vector_product(loss, params, vector)])


# ------------------------------------------------------------------ 10.4 SAM step


def sam_step_with_autograd_style(params, gradient, lr, rho):
    """The same update written with torch.linalg.vector_norm over the concatenated gradient."""
    g = gradient(params)
    norm = torch.linalg.vector_norm(torch.cat([t.reshape(-1) for t in g]))
    worst = gradient([p + rho * t / norm for p, t in zip(params, g)])
    return [p - lr * t for p, t in zip(params, worst)]


def plain_descent(params, gradient, lr, rho):
    return [p - lr * t for p, t in zip(params, gradient(params))]


def unnormalized_ascent(params, gradient, lr, rho):
    g = gradient(params)
    worst = gradient([p + rho * t for p, t in zip(params, g)])
    return [p - lr * t for p, t in zip(params, worst)]


def downhill_perturbation(params, gradient, lr, rho):
    g = gradient(params)
    norm = torch.sqrt(sum((t * t).sum() for t in g))
    worst = gradient([p - rho * t / norm for p, t in zip(params, g)])
    return [p - lr * t for p, t in zip(params, worst)]


def per_tensor_norm(params, gradient, lr, rho):
    g = gradient(params)
    worst = gradient([p + rho * t / t.norm() for p, t in zip(params, g)])
    return [p - lr * t for p, t in zip(params, worst)]


def steps_from_the_perturbed_point(params, gradient, lr, rho):
    g = gradient(params)
    norm = torch.sqrt(sum((t * t).sum() for t in g))
    perturbed = [p + rho * t / norm for p, t in zip(params, g)]
    return [q - lr * t for q, t in zip(perturbed, gradient(perturbed))]


def perturbs_in_place(params, gradient, lr, rho):
    g = gradient(params)
    norm = torch.sqrt(sum((t * t).sum() for t in g))
    for p, t in zip(params, g):
        p.add_(rho * t / norm)
    worst = gradient(params)
    for p, t in zip(params, g):
        p.sub_(rho * t / norm)
    for p, t in zip(params, worst):
        p.sub_(lr * t)
    return params


def sam_numpy(params, gradient, lr, rho):
    return [t.numpy() for t in sam_step(params, gradient, lr, rho)]


EXERCISES = [
    Exercise("10.1 relative random perturbation", check_perturb,
             right=(perturb, perturb_uniform_on_sphere_per_element_sign), wrong={
                 "one norm for all tensors": Wrong(one_norm_for_all, "ITS OWN norm"),
                 "absolute step rho": Wrong(absolute_step, "must be relative"),
                 "direction not normalized": Wrong(unnormalized_direction, "normalize the random direction"),
                 "moves along itself": Wrong(along_itself, "moved along itself"),
                 "ignores the generator": Wrong(ignores_the_generator, "draw the random direction with the generator"),
                 "perturbs the weights in place": Wrong(perturb_in_place, "in place", kind="in-place"),
                 "returns NumPy arrays": Wrong(numpy_arrays, "must return a list of torch tensors", kind="type"),
             }),
    Exercise("10.2 power iteration", check_power_iteration,
             right=(power_iteration, power_iteration_tensor_result), wrong={
                 "norm instead of the Rayleigh quotient": Wrong(norm_not_rayleigh, "the sign is not"),
                 "never normalized": Wrong(never_normalized, "blew up"),
                 "one product only": Wrong(one_product, "called only"),
                 "returns the eigenvector": Wrong(returns_the_vector, "must return the eigenvalue", kind="type"),
             }),
    Exercise("10.3 Hessian-vector product", check_hessian_vector_product,
             right=(hessian_vector_product, hvp_by_central_differences), wrong={
                 "returns the gradient": Wrong(returns_the_gradient, "you returned the gradient"),
                 "H times ones": Wrong(times_ones, "vector of ones"),
                 "coarse finite differences": Wrong(coarse_differences, "is off by"),
                 "changes the vector in place": Wrong(scales_the_vector_in_place, "in place", kind="in-place"),
                 "one flat tensor": Wrong(one_flat_tensor, "must return a list of torch tensors", kind="type"),
             }),
    Exercise("10.4 SAM step", check_sam_step, right=(sam_step, sam_step_with_autograd_style), wrong={
        "plain gradient descent": Wrong(plain_descent, "plain gradient step"),
        "perturbation not normalized": Wrong(unnormalized_ascent, "divide the gradient by its norm"),
        "perturbs downhill": Wrong(downhill_perturbation, "moves uphill"),
        "one norm per tensor": Wrong(per_tensor_norm, "one norm over all the tensors"),
        "steps from the perturbed point": Wrong(steps_from_the_perturbed_point, "step from the original"),
        "perturbs the weights in place": Wrong(perturbs_in_place, "in place", kind="in-place"),
        "returns NumPy arrays": Wrong(sam_numpy, "must return a list of torch tensors", kind="type"),
    }),
]
