"""Checkers for the exercises of notebook 09 (noise injection).

Each compares a learner's function with a library: the ridge problem that input
noise is equivalent to with scikit-learn's ``Ridge``, Gaussian dropout with the
mean and variance of ``torch.nn.Dropout``, and a fitted temperature with
``course_utils.calibration.fit_temperature`` and with a closed form.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..calibration import fit_temperature, softmax
from . import Verdict, attempt, call, report

__all__ = ["check_gaussian_dropout", "check_ridge_equivalent", "check_temperature"]


# ------------------------------------------------------------------------- 09.1: the ridge problem of input noise

def _ridge(x, y, alpha, intercept="free"):
    """Minimizer of ‖y − Xw − b‖² + α‖w‖² (the summed loss); ``intercept`` "free", "penalized" or "none"."""
    n, d = x.shape
    if intercept == "free":
        xc, yc = x - x.mean(0), y - y.mean()
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
        return w, float(y.mean() - x.mean(0) @ w)
    if intercept == "none":
        return np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ y), 0.0
    augmented = np.column_stack([x, np.ones(n)])
    wb = np.linalg.solve(augmented.T @ augmented + alpha * np.eye(d + 1), augmented.T @ y)
    return wb[:-1], float(wb[-1])


def check_ridge_equivalent(ridge_equivalent: Callable[..., Any]) -> Verdict:
    """Exercise 09.1: ``ridge_equivalent(x, y, sigma)`` → (w, b), the weights input noise σ converges to."""
    from sklearn.linear_model import Ridge
    rng = np.random.default_rng(9)
    for n, d, sigma in [(40, 8, 0.3), (25, 3, 1.3), (12, 20, 0.2)]:
        x = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d) + rng.normal(0, 2, d)   # uncentred features
        y = x @ rng.standard_normal(d) + 3.0 + 0.5 * rng.standard_normal(n)
        given = (x.copy(), y.copy())
        answer, unanswered = attempt(ridge_equivalent, *given, sigma, name="ridge_equivalent",
                                     shown=f"ridge_equivalent(x of shape {(n, d)}, y, sigma={sigma})")
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given[0], x) and np.array_equal(given[1], y)):
            return report(False, "ridge_equivalent changed x or y in place (e.g. x -= x.mean(0)); centre copies "
                                 "(xc = x - x.mean(0)), the caller still needs the data.")
        try:
            w, b = answer
            w, b = np.asarray(w, dtype=float).ravel(), float(np.asarray(b, dtype=float))
        except (TypeError, ValueError):
            return report(False, "ridge_equivalent must return a pair (w, b): the weight vector and the intercept "
                                 f"(a number); got {type(answer).__name__}.")
        if w.shape != (d,):
            return report(False, f"w must hold one weight per feature, shape ({d},); got {w.shape}.")
        reference = Ridge(alpha=n * sigma ** 2).fit(x, y)
        if np.allclose(w, reference.coef_, rtol=1e-6, atol=1e-8) and np.isclose(b, reference.intercept_, rtol=1e-6):
            continue
        mistakes = [
            (_ridge(x, y, sigma ** 2), "you put σ² next to the SUMMED squared error. The derivation puts σ²‖w‖² next "
                                       "to the MEAN squared error; multiply that objective by n to see the penalty "
                                       "of the summed normal equations."),
            (_ridge(x, y, n * sigma), "the penalty grows with the noise variance σ², not with σ."),
            (_ridge(x, y, 2 * n * sigma ** 2), "the factor 2 belongs to Config's l2/2·‖w‖² convention; the expected "
                                               "loss has σ²‖w‖² itself."),
            (_ridge(x, y, n * sigma ** 2, "penalized"), "the intercept is penalized too: the noise is added to x only, "
                                                        "so b carries no penalty. Centre x and y, solve for w, then "
                                                        "recover b from the means."),
            (_ridge(x, y, n * sigma ** 2, "none"), "the intercept is missing: the data are not centred. Centre x and "
                                                   "y, solve for w, then b = mean(y) − mean(x)·w."),
        ]
        for (w_wrong, b_wrong), why in mistakes:
            if np.allclose(w, w_wrong, rtol=1e-6, atol=1e-8) and np.isclose(b, b_wrong, rtol=1e-6, atol=1e-8):
                return report(False, why)
        if np.allclose(w, reference.coef_, rtol=1e-6, atol=1e-8):
            return report(False, f"w is right but b is not (for x of shape {(n, d)}): b = mean(y) − mean(x)·w.")
        return report(False, f"for x of shape {(n, d)} and σ={sigma} your (w, b) differ from scikit-learn's "
                             f"Ridge(α = nσ²); largest weight difference "
                             f"{np.abs(w - reference.coef_).max():.3g}. Minimize mean(residual²) + σ²‖w‖² with b "
                             "unpenalized.")
    return report(True, "the same (w, b) as scikit-learn's Ridge with α = nσ² on three problems, intercept "
                        "unpenalized: σ²‖w‖² next to the mean squared error.")


# ----------------------------------------------------------------------------------------- 09.2: Gaussian dropout

def check_gaussian_dropout(gaussian_dropout: Callable[..., Any]) -> Verdict:
    """Exercise 09.2: ``gaussian_dropout(h, p, training)`` multiplies by N(1, p/(1-p)) in training."""
    with torch.random.fork_rng():  # the notebook's random stream is left as it was
        return _check_gaussian_dropout(gaussian_dropout)


def _check_gaussian_dropout(gaussian_dropout) -> Verdict:
    torch.manual_seed(0)
    for p, shape, value in [(0.2, (100_000,), 3.0), (0.5, (200, 500), -2.0)]:
        h = torch.full(shape, value)
        shown = f"gaussian_dropout(h of shape {shape}, p={p}, training="
        answer, unanswered = attempt(gaussian_dropout, h.clone(), p, False,
                                     name="gaussian_dropout", shown=shown + "False)")
        if unanswered is not None:
            return unanswered
        if not isinstance(answer, torch.Tensor):
            return report(False, f"gaussian_dropout receives a torch tensor and must return one; got "
                                 f"{type(answer).__name__}.")
        if answer.shape != h.shape or not torch.equal(answer, h):
            return report(False, "in eval mode (training=False) gaussian_dropout must return h unchanged: the noise "
                                 "is for training only, and its mean is already 1, so no rescaling is needed.")
        given = h.clone()
        answer, problem = call(gaussian_dropout, given, p, True)
        if problem:
            return report(False, f"{shown}True) raised {problem}")
        if not torch.equal(given, h):
            return report(False, "gaussian_dropout changed its input h in place (e.g. h *= noise); return a new "
                                 "tensor, the caller and autograd still need h.")
        if not isinstance(answer, torch.Tensor) or answer.shape != h.shape:
            return report(False, f"gaussian_dropout must return a tensor shaped like h {tuple(h.shape)}; got "
                                 f"{type(answer).__name__} with shape {getattr(answer, 'shape', None)}.")
        verdict = _noise_statistics(answer, h, p, value)
        if verdict is not None:
            return verdict
        again, _ = call(gaussian_dropout, h.clone(), p, True)
        if isinstance(again, torch.Tensor) and torch.equal(again, answer):
            return report(False, "two calls gave exactly the same noise: draw it anew on every call "
                                 "(torch.randn_like inside the function).")
    return report(True, "mean kept, variance α·h² with α = p/(1−p) (the same as Bernoulli dropout), fresh noise "
                        "for every element and every call, identity in eval mode.")


def _noise_statistics(answer, h, p, value) -> Verdict | None:
    if torch.equal(answer, h):
        return report(False, "in training mode the output equals h: no noise was applied.")
    if (answer == 0).float().mean() > 0.05:
        return report(False, "some outputs are exactly 0: that is Bernoulli dropout. Gaussian dropout multiplies "
                             "by continuous noise N(1, α) instead.")
    if answer.ndim == 2 and bool((answer == answer[:1]).all()):
        return report(False, "every example of the batch got the same noise: draw one number per element, "
                             "with the full shape of h.")
    mean, var, want_var = float(answer.mean()), float(answer.var()), p / (1 - p) * value ** 2
    if abs(mean - value) > 0.02 * abs(value):
        hint = " Multiply by (1 + √α·ε), not by √α·ε alone." if abs(mean) < 0.02 * abs(value) else ""
        return report(False, f"the mean output for h = {value} is {mean:.3f}; multiplicative noise of mean 1 keeps "
                             f"it at {value}.{hint}")
    if abs(var - want_var) > 0.05 * want_var:
        if abs(var - (p / (1 - p)) ** 2 * value ** 2) < 0.05 * want_var:
            hint = " The noise's *standard deviation* is √α; its variance is α = p/(1−p)."
        elif abs(var - p * value ** 2) < 0.05 * want_var:
            hint = " α is p/(1 − p), not p."
        else:
            hint = ""
        return report(False, f"for h = {value} and p = {p}, the output variance should be α·h² = {want_var:.3f} "
                             f"with α = p/(1 − p); yours is {var:.3f}.{hint}")
    return None


# ---------------------------------------------------------------------------------------- 09.3: temperature

def _overconfident_logits(rng, n, classes, temperature):
    """Logits whose labels were drawn from softmax(logits / temperature): the fitted T should be near it."""
    calibrated = rng.normal(0, 1.5, (n, classes))
    labels = np.array([rng.choice(classes, p=row) for row in softmax(calibrated)])
    return calibrated * temperature, labels


def _two_class_case(a, q, n=200):
    """Every example has logits (a, 0); a fraction q of the labels is class 0: the NLL is minimal at a / logit(q)."""
    logits = np.tile([a, 0.0], (n, 1))
    labels = (np.arange(n) >= round(q * n)).astype(int)
    return logits, labels, a / np.log(q / (1 - q))


def check_temperature(find_temperature: Callable[..., Any]) -> Verdict:
    """Exercise 09.3: ``find_temperature(logits, labels)`` → the T minimizing the NLL of softmax(logits / T)."""
    rng = np.random.default_rng(11)
    cases = []
    for n, classes, temperature in [(500, 10, 2.0), (300, 3, 0.6), (400, 5, 1.3)]:
        logits, labels = _overconfident_logits(rng, n, classes, temperature)
        cases.append((f"{n} examples of {classes} classes", logits, labels, fit_temperature(logits, labels)))
    for a, q in [(4.0, 0.8), (1.0, 0.9)]:
        logits, labels, exact = _two_class_case(a, q)
        cases.append((f"two classes, logits ({a:g}, 0) for every example and {q:.0%} labels 0, whose NLL is "
                      f"minimal at T = a / log(q / (1 − q)) = {exact:.4f}", logits, labels, exact))
    name, logits, labels, _ = cases[0]
    cases.append(("the first case's logits + 1000 (the same probabilities, so the same T)", logits + 1000.0,
                  labels, cases[0][3]))
    for name, logits, labels, expected in cases:
        given = (logits.copy(), labels.copy())
        answer, unanswered = attempt(find_temperature, *given, name="find_temperature",
                                     shown=f"find_temperature(...) on {name}")
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given[0], logits) and np.array_equal(given[1], labels)):
            return report(False, "find_temperature changed its logits (or labels) in place, e.g. logits /= T; "
                                 "divide into a new array, the caller still needs the logits.")
        try:
            value = float(np.asarray(answer.detach() if isinstance(answer, torch.Tensor) else answer, dtype=float))
        except (TypeError, ValueError):
            shape = f" of shape {answer.shape}" if hasattr(answer, "shape") else ""
            return report(False, f"find_temperature must return one number, the temperature T; got "
                                 f"{type(answer).__name__}{shape}.")
        if np.isclose(value, expected, rtol=1e-3):
            continue
        return report(False, f"on {name} the NLL is minimal at T = {expected:.4f}; yours is {value:.4g}: "
                             f"{_temperature_mistake(value, expected)}")
    return report(True, "the same temperature as fit_temperature on three sets of logits, the exact optimum on two "
                        "two-class problems, and a shift of the logits changes nothing.")


def _temperature_mistake(value, expected) -> str:
    if not np.isfinite(value):
        return ("the NLL overflowed: exp of large logits is inf. Subtract each row's maximum before exp "
                "(log-sum-exp); softmax does not change.")
    if np.isclose(value, 1 / expected, rtol=1e-3):
        return "you returned 1/T: the scaled logits are logits / T, and T > 1 softens the probabilities."
    if value < 0.1 * expected:
        return ("T collapsed towards 0, as it does when the labels are the predicted classes (argmax of the logits): "
                "predictions always agree with themselves, so sharper is always better. Fit on the true labels.")
    if np.isclose(value, expected, rtol=0.05):
        return ("close, but not precise enough (within 5 %, not 0.1 %): refine the search (a finer grid, more "
                "Newton steps, or a tighter tolerance).")
    return ("minimize the mean negative log-likelihood of the true labels under softmax(logits / T) over T > 0.")
