"""Checkers for the exercises of notebook 09 (noise injection)."""
from __future__ import annotations

import numpy as np
import torch

from . import Verdict, attempt, call, report


def check_noise_to_ridge(noise_to_ridge) -> Verdict:
    """Exercise 09.1: ``noise_to_ridge(sigma, n_samples, convention)`` → α (sklearn) or l2 (Config)."""
    sigma, n = 0.3, 50
    wanted = {"sklearn": n * sigma ** 2, "config": 2 * sigma ** 2}
    wrong = {  # value → what it reveals
        "sklearn": {sigma ** 2: "σ² is the penalty next to the *mean* squared error; Ridge sums the squared errors, "
                                "so its α is n times larger.",
                    sigma: "the penalty grows with the noise *variance* σ², not with σ.",
                    2 * sigma ** 2: "2σ² is the course's l2 (whose penalty is l2/2·‖w‖²); Ridge's α is nσ².",
                    n * sigma: "the penalty grows with the noise *variance* σ², not with σ."},
        "config": {sigma ** 2: "Config's penalty is l2/2·‖w‖², so l2 must be twice the σ² of the derivation.",
                   n * sigma ** 2: "nσ² is scikit-learn's α for a *summed* loss; cu.fit uses the mean loss.",
                   sigma ** 2 / 2: "Config's penalty is l2/2·‖w‖²: to get σ²‖w‖² you need l2 = 2σ², not σ²/2.",
                   2 * sigma: "the penalty grows with the noise *variance* σ², not with σ."},
    }
    for convention in ("sklearn", "config"):
        answer, unanswered = attempt(noise_to_ridge, sigma, n, convention,
                                     name="noise_to_ridge", shown=f"noise_to_ridge({sigma}, {n}, {convention!r})")
        if unanswered is not None:
            return unanswered
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return report(False, f"noise_to_ridge must return a number; got {answer!r}")
        if not np.isclose(value, wanted[convention], rtol=1e-9):
            why = next((msg for v, msg in wrong[convention].items() if np.isclose(value, v, rtol=1e-9)),
                       "expand E[(y − wᵀ(x + ε))²] and compare with the penalty of that convention.")
            return report(False, f"noise_to_ridge(sigma={sigma}, n_samples={n}, convention={convention!r}) returned "
                                  f"{value:g}; expected {wanted[convention]:g}: {why}")
    return report(True, "α = nσ² for scikit-learn's summed loss, l2 = 2σ² for the course's l2/2·‖w‖² on the mean loss.")


def check_gaussian_dropout(gaussian_dropout) -> Verdict:
    """Exercise 09.2: ``gaussian_dropout(h, p, training)`` multiplies by N(1, p/(1-p)) in training."""
    h = torch.full((400_000,), 3.0)
    p = 0.2
    torch.manual_seed(0)
    answer, unanswered = attempt(gaussian_dropout, h.clone(), p, False,
                                 name="gaussian_dropout", shown=f"gaussian_dropout(h, p={p}, training=False)")
    if unanswered is not None:
        return unanswered
    if not isinstance(answer, torch.Tensor) or answer.shape != h.shape or not torch.equal(answer, h):
        return report(False, "in eval mode (training=False) gaussian_dropout must return h unchanged: the noise is "
                              "for training only, and its mean is already 1, so no rescaling is needed.")
    answer, problem = call(gaussian_dropout, h.clone(), p, True)
    if problem:
        return report(False, f"gaussian_dropout(h, p={p}, training=True) raised {problem}")
    if not isinstance(answer, torch.Tensor) or answer.shape != h.shape:
        return report(False, f"gaussian_dropout must return a tensor shaped like h {tuple(h.shape)}.")
    mean, var = float(answer.mean()), float(answer.var())
    want_var = p / (1 - p) * 9.0
    if torch.equal(answer, h):
        return report(False, "in training mode the output equals h: no noise was applied.")
    if (answer == 0).float().mean() > 0.05:
        return report(False, "some outputs are exactly 0: that is Bernoulli dropout. Gaussian dropout multiplies "
                              "by continuous noise N(1, α) instead.")
    if abs(mean - 3.0) > 0.05:
        hint = " Multiply by (1 + √α·ε), not by √α·ε alone." if abs(mean) < 0.05 else ""
        return report(False, f"the mean output for h = 3 is {mean:.3f}; multiplicative noise of mean 1 keeps it at 3.{hint}")
    if abs(var - want_var) > 0.05 * want_var:
        if abs(var - p / (1 - p) ** 2 * 9.0) < 0.05 * want_var or abs(var - (p / (1 - p)) ** 2 * 9.0) < 0.05 * want_var:
            hint = " The noise's *standard deviation* is √α; its variance is α = p/(1−p)."
        elif abs(var - p * 9.0) < 0.05 * want_var:
            hint = " α is p/(1 − p), not p."
        else:
            hint = ""
        return report(False, f"for h = 3 and p = {p}, the output variance should be α·h² = {want_var:.3f} with "
                              f"α = p/(1 − p); yours is {var:.3f}.{hint}")
    return report(True, "mean kept, variance α·h² with α = p/(1−p) (the same as Bernoulli dropout), identity in eval mode.")
