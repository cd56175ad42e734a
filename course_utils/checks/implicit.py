"""Checkers for the exercises of notebook 10 (implicit regularization: sharpness and SAM).

Each compares the learner's function with an independent computation: exact
eigenvalues of matrices built with a known spectrum, a full Hessian formed by
``torch.autograd.functional.hessian``, and SAM's update worked out on a quadratic.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import Verdict, attempt, call, report

__all__ = ["check_hessian_vector_product", "check_perturb", "check_power_iteration", "check_sam_step"]


def _tensor_list(answer, like, name: str) -> Verdict | None:
    """A failing verdict unless ``answer`` is a list/tuple of tensors shaped like ``like``; None when it is."""
    if isinstance(answer, (list, tuple)) and len(answer) == len(like) and all(
            isinstance(a, torch.Tensor) and a.shape == b.shape for a, b in zip(answer, like)):
        return None
    got = type(answer).__name__
    if isinstance(answer, (list, tuple)):
        got += " of " + ", ".join(f"{type(a).__name__} {tuple(getattr(a, 'shape', ()))}" for a in answer)
    return report(False, f"{name} must return a list of torch tensors, one per parameter tensor, with shapes "
                         f"{[tuple(t.shape) for t in like]}; got {got}.")


def _mutated(inputs, copies) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(inputs, copies))


# ------------------------------------------------------------------ 10.1 relative perturbation

def check_perturb(perturb: Callable[..., Any]) -> Verdict:
    """Exercise 10.1: ``perturb(params, rho, generator)`` moves each tensor randomly by rho × its own norm."""
    with torch.random.fork_rng():
        return _check_perturb(perturb)


def _check_perturb(perturb) -> Verdict:
    rng = np.random.default_rng(101)
    for trial in range(3):
        shapes = [tuple(int(s) for s in rng.integers(3, 30, size=k)) for k in (2, 1, 2)]
        scales = rng.uniform(0.1, 10.0, size=len(shapes))
        params = [torch.tensor(rng.normal(size=s) * c, dtype=torch.float64) for s, c in zip(shapes, scales)]
        copies = [p.clone() for p in params]
        rho = float(rng.uniform(0.05, 0.3))
        moved, unanswered = attempt(perturb, params, rho, torch.Generator().manual_seed(trial), name="perturb",
                                    shown=f"perturb(params, rho={rho:.3f}, generator)")
        if unanswered is not None:
            return unanswered
        if _mutated(params, copies):
            return report(False, "perturb changed the parameter tensors in place (e.g. p.add_(...) or p += ...): "
                                 "the network's weights must stay as they were. Return new tensors.")
        if (wrong := _tensor_list(moved, params, "perturb")) is not None:
            return wrong
        steps = [float((m - p).norm()) for m, p in zip(moved, params)]
        wanted = [rho * float(p.norm()) for p in params]
        if all(math.isclose(s, w, rel_tol=1e-6) for s, w in zip(steps, wanted)):
            if all(float(torch.nn.functional.cosine_similarity((m - p).reshape(1, -1), p.reshape(1, -1)))
                   > 0.999 for m, p in zip(moved, params)):
                return report(False, "every tensor moved along itself (p·(1 + rho)): that rescales the network, "
                                     "it does not probe the loss around it. Move along a random direction.")
            continue
        total = math.sqrt(sum(s * s for s in steps))
        if math.isclose(total, rho * math.sqrt(sum(float(p.norm()) ** 2 for p in params)), rel_tol=1e-6):
            return report(False, "the whole perturbation has length rho × the norm of all parameters together, "
                                 "but each tensor's step must have rho × ITS OWN norm, so that a layer with "
                                 "small weights is not swamped by a layer with large ones.")
        if all(math.isclose(s, rho, rel_tol=1e-6) for s in steps):
            return report(False, f"each step has length rho = {rho:.3f} whatever the tensor's size: the "
                                 "perturbation must be relative, rho × the tensor's own norm.")
        if all(s > 2 * w for s, w in zip(steps, wanted)):
            return report(False, "the steps are far longer than rho × the tensor's norm: normalize the random "
                                 "direction to length 1 before scaling it (a Gaussian draw of n numbers has "
                                 "length about √n).")
        return report(False, f"the step of each tensor should have length rho × its norm ({wanted[0]:.4f} for the "
                             f"first tensor); yours has {steps[0]:.4f}.")
    same, _ = call(perturb, params, rho, torch.Generator().manual_seed(7))
    again, _ = call(perturb, params, rho, torch.Generator().manual_seed(7))
    other, _ = call(perturb, params, rho, torch.Generator().manual_seed(8))
    if _tensor_list(same, params, "") or _tensor_list(again, params, "") or _tensor_list(other, params, ""):
        return report(False, "perturb did not return a list of tensors on every call.")
    if not all(torch.equal(a, b) for a, b in zip(same, again)):
        return report(False, "two calls with generators seeded alike gave different directions: draw the random "
                             "direction with the generator you are given (torch.randn(..., generator=generator)), "
                             "so that a measurement can be repeated.")
    if all(torch.equal(a, b) for a, b in zip(same, other)):
        return report(False, "generators with different seeds gave the same perturbation: the direction must be "
                             "drawn at random from the generator.")
    return report(True, "each tensor moved by exactly rho × its own norm, in a random direction drawn from the "
                        "generator, and the parameters were left alone.")


# ------------------------------------------------------------------ 10.2 power iteration

def _symmetric(spectrum: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    basis, _ = np.linalg.qr(rng.normal(size=(len(spectrum), len(spectrum))))
    return torch.tensor(basis @ np.diag(spectrum) @ basis.T)


def check_power_iteration(power_iteration: Callable[..., Any]) -> Verdict:
    """Exercise 10.2: ``power_iteration(matvec, n, iterations)``, the eigenvalue of largest magnitude."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _check_power_iteration(power_iteration)


def _check_power_iteration(power_iteration) -> Verdict:
    rng = np.random.default_rng(102)
    cases = []
    for n in (6, 20, 45):   # a positive top eigenvalue, well separated (ratio 0.7), spectrum scaled at random
        rest = rng.uniform(0.0, 0.7, size=n - 1)
        cases.append(np.r_[1.0, rest] * rng.uniform(0.5, 50.0))
    negative = rng.uniform(-0.6, 0.6, size=29)
    cases.append(np.r_[-1.0, negative] * 8.0)   # the largest magnitude belongs to a negative eigenvalue
    for spectrum in cases:
        matrix = _symmetric(spectrum, rng)
        calls = []

        def matvec(v, matrix=matrix):
            if not isinstance(v, torch.Tensor) or v.shape != (len(matrix),):
                raise TypeError(f"matvec takes a 1-D torch tensor of length {len(matrix)}; got "
                                f"{type(v).__name__} {tuple(getattr(v, 'shape', ()))}")
            calls.append(1)
            return matrix @ v.to(matrix.dtype)

        answer, unanswered = attempt(power_iteration, matvec, len(matrix), 300, name="power_iteration",
                                     shown=f"power_iteration(matvec, n={len(matrix)}, iterations=300)")
        if unanswered is not None:
            return unanswered
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if isinstance(answer, torch.Tensor) or isinstance(answer, np.ndarray) and answer.size > 1:
            return report(False, f"power_iteration must return the eigenvalue, one number; it returned "
                                 f"{type(answer).__name__} of shape {tuple(answer.shape)} (the eigenvector?). "
                                 "The eigenvalue is the Rayleigh quotient v·(A v) of the unit vector v.")
        if not isinstance(answer, (int, float, np.floating, np.integer)):
            return report(False, f"power_iteration must return a number; got {type(answer).__name__}.")
        answer = float(answer)
        top = float(spectrum[np.argmax(np.abs(spectrum))])
        if math.isclose(answer, top, rel_tol=1e-4):
            continue
        if not math.isfinite(answer) or abs(answer) > 1e3 * abs(top):
            return report(False, f"the answer ({answer:.3g}) blew up: normalize v to length 1 after every "
                                 "product, or its length grows (or shrinks) like |λ|^k.")
        if math.isclose(answer, -top, rel_tol=1e-4):
            return report(False, "the magnitude is right but the sign is not: on a matrix whose dominant "
                                 "eigenvalue is negative you returned a positive number. ‖A v‖ is |λ|; the "
                                 "Rayleigh quotient v·(A v) keeps the sign.")
        if len(calls) < 20:
            return report(False, f"matvec was called only {len(calls)} time(s): power iteration needs many "
                                 "products (use the iterations argument) before v turns towards the top "
                                 f"eigenvector. Got {answer:.4g} instead of {top:.4g}.")
        return report(False, f"on a {len(matrix)}×{len(matrix)} matrix whose eigenvalue of largest magnitude "
                             f"is {top:.4g}, power_iteration returned {answer:.4g}.")
    return report(True, "power iteration finds the eigenvalue of largest magnitude, with its sign, on matrices "
                        "of several sizes (compared with numpy.linalg.eigvalsh).")


# ------------------------------------------------------------------ 10.3 Hessian-vector product

def _problem(seed: int):
    """A small tanh network in float64, its loss as a function of a parameter list, and those parameters."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [(4, 3), (4,), (2, 4), (2,)]
    params = [torch.randn(s, generator=generator, dtype=torch.float64) for s in sizes]
    x = torch.randn(25, 3, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 2, (25,), generator=generator)

    def loss(values):
        w1, b1, w2, b2 = values
        return torch.nn.functional.cross_entropy(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)

    return loss, params


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _split(flat: torch.Tensor, like) -> list[torch.Tensor]:
    out, start = [], 0
    for t in like:
        out.append(flat[start:start + t.numel()].reshape(t.shape))
        start += t.numel()
    return out


def check_hessian_vector_product(hvp: Callable[..., Any]) -> Verdict:
    """Exercise 10.3: ``hvp(loss, params, vector)`` = H v, compared with the full Hessian."""
    with torch.random.fork_rng():
        return _check_hessian_vector_product(hvp)


def _check_hessian_vector_product(hvp) -> Verdict:
    for seed in range(3):
        loss, params = _problem(seed)
        generator = torch.Generator().manual_seed(100 + seed)
        vector = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in params]
        copies = [v.clone() for v in vector] + [p.clone() for p in params]
        answer, unanswered = attempt(hvp, loss, params, vector, name="hessian_vector_product",
                                     shown="hessian_vector_product(loss, params, vector)")
        if unanswered is not None:
            if "does not require grad" in unanswered.message or "graph" in unanswered.message:
                print("   (Hint: the gradient must itself be differentiable: compute it with "
                      "create_graph=True, from parameters that require grad.)")
            return unanswered
        if _mutated(vector + params, copies):
            return report(False, "hessian_vector_product changed the vector or the parameters in place: "
                                 "leave its inputs as they were and return new tensors.")
        if (wrong := _tensor_list(answer, params, "hessian_vector_product")) is not None:
            return wrong
        hessian = torch.autograd.functional.hessian(lambda flat: loss(_split(flat, params)), _flat(params))
        expected = hessian @ _flat(vector)
        got = _flat([a.detach() for a in answer]).to(torch.float64)
        if torch.allclose(got, expected, rtol=1e-5, atol=1e-8):
            continue
        gradient_only = _flat(torch.autograd.functional.jacobian(lambda flat: loss(_split(flat, params)),
                                                                  _flat(params)).reshape(1, -1))
        if torch.allclose(got, gradient_only, rtol=1e-5, atol=1e-8):
            return report(False, "you returned the gradient of the loss, not the Hessian times the vector: "
                                 "differentiate the dot product (gradient · vector) once more.")
        if torch.allclose(got, hessian @ torch.ones_like(expected), rtol=1e-5, atol=1e-8):
            return report(False, "you returned H times a vector of ones (the gradient of the SUM of the "
                                 "gradient): multiply the gradient by the given vector before the second "
                                 "differentiation.")
        relative = float((got - expected).norm() / expected.norm())
        return report(False, f"H v is off by {relative:.1%} (relative) from the product with the full Hessian. "
                             "Take the gradient with create_graph=True, form the scalar (gradient · vector) "
                             "summed over all tensors, and differentiate it with respect to the parameters.")
    return report(True, "H v agrees with the full Hessian (torch.autograd.functional.hessian) times v, "
                        "without ever forming the Hessian.")


# ------------------------------------------------------------------ 10.4 SAM step

def _sam_by_hand(w: np.ndarray, a: np.ndarray, lr: float, rho: float) -> np.ndarray:
    g = a @ w
    return w - lr * a @ (w + rho * g / np.linalg.norm(g))


def check_sam_step(sam_step: Callable[..., Any]) -> Verdict:
    """Exercise 10.4: ``sam_step(params, gradient, lr, rho)`` against SAM worked out by hand on a quadratic."""
    with torch.random.fork_rng():
        return _check_sam_step(sam_step)


def _check_sam_step(sam_step) -> Verdict:
    rng = np.random.default_rng(104)
    for trial in range(3):
        d = int(rng.integers(5, 12))
        q = rng.normal(size=(d, d))
        a = q @ q.T / d + np.diag(rng.uniform(0.1, 3.0, size=d))   # the loss ½ wᵀAw: gradient A w
        w = rng.normal(size=d)
        cut = sorted(rng.choice(np.arange(1, d), size=2, replace=False))
        lr, rho = float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.1, 0.5))
        matrix = torch.tensor(a)

        def gradient(values, matrix=matrix):
            full = matrix @ torch.cat([torch.as_tensor(v).reshape(-1) for v in values])
            return list(torch.tensor_split(full, cut))

        params = list(torch.tensor_split(torch.tensor(w), cut))
        params = [p.clone() for p in params]
        copies = [p.clone() for p in params]
        new, unanswered = attempt(sam_step, params, gradient, lr, rho, name="sam_step",
                                  shown=f"sam_step(params, gradient, lr={lr:.3f}, rho={rho:.3f})")
        if unanswered is not None:
            return unanswered
        if _mutated(params, copies):
            return report(False, "sam_step changed the parameter tensors in place (e.g. p.add_(e) to perturb "
                                 "them): the caller's weights must stay as they were. Build the perturbed "
                                 "point as new tensors, p + e, and return new tensors.")
        if (wrong := _tensor_list(new, params, "sam_step")) is not None:
            return wrong
        got = torch.cat([t.reshape(-1) for t in new]).double().numpy()
        expected = _sam_by_hand(w, a, lr, rho)
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue
        g = a @ w
        pieces = np.split(g, cut)
        per_tensor = np.concatenate([p / np.linalg.norm(p) for p in pieces])
        mistakes = {
            "plain gradient descent": w - lr * g,
            "unnormalized": w - lr * a @ (w + rho * g),
            "descent direction": w - lr * a @ (w - rho * g / np.linalg.norm(g)),
            "per tensor": w - lr * a @ (w + rho * per_tensor),
            "from the perturbed point": w + rho * g / np.linalg.norm(g) - lr * a @ (w + rho * g / np.linalg.norm(g)),
        }
        messages = {
            "plain gradient descent": "this is a plain gradient step, w − lr·g: SAM steps with the gradient "
                                      "taken at the perturbed point w + rho·g/‖g‖.",
            "unnormalized": "the perturbation should have length rho: divide the gradient by its norm "
                            "(rho·g/‖g‖), not just multiply it by rho.",
            "descent direction": "you perturbed the weights downhill (w − rho·g/‖g‖): SAM looks for the WORST "
                                 "nearby point, so it moves uphill, w + rho·g/‖g‖.",
            "per tensor": "each tensor's gradient was normalized on its own: ‖g‖ is one norm over all the "
                          "tensors together, so the whole perturbation has length rho.",
            "from the perturbed point": "the update started from the perturbed weights: undo the perturbation "
                                        "and step from the original w, w − lr·∇L(w + e).",
        }
        for name, value in mistakes.items():
            if np.allclose(got, value, rtol=1e-9, atol=1e-12):
                return report(False, messages[name])
        return report(False, "the update differs from SAM's w − lr·∇L(w + rho·g/‖g‖), g = ∇L(w), "
                             "worked out by hand on a quadratic loss.")
    return report(True, "the update matches SAM worked out by hand on quadratic losses, with the parameters "
                        "split into several tensors, and the inputs left alone.")
