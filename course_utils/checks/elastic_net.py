"""Checkers for the exercises of notebook 04 (elastic net), and the references they compare against.

Everything uses scikit-learn's scaling of the objective,
1/(2n)·‖y − Xw‖² + alpha·l1_ratio·‖w‖₁ + alpha·(1 − l1_ratio)/2·‖w‖², with no intercept.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import Verdict, attempt, call, report

__all__ = ["check_enet_objective", "check_enet_update", "check_largest_alpha", "enet_update", "largest_alpha",
           "soft_threshold"]


def _objective(x, y, w, alpha, l1_ratio, data_scale, l1_scale=1.0, l2_scale=0.5):
    return (data_scale * np.sum((y - x @ w) ** 2) + alpha * l1_ratio * l1_scale * np.sum(np.abs(w))
            + alpha * (1 - l1_ratio) * l2_scale * np.sum(w ** 2))


def _problem(rng, n, p):
    """Centred data whose columns have different scales, so that (1/n)·x_jᵀx_j is not 1."""
    x = rng.normal(size=(n, p)) * rng.uniform(0.3, 3.0, p)
    x -= x.mean(0)
    y = x @ rng.normal(size=p) + rng.normal(size=n)
    return x, y - y.mean()


def _number(answer, name: str, vector_hint: str = "") -> tuple[float | None, Verdict | None]:
    """The answer as a float (a Python, NumPy or torch scalar), or a verdict about its type."""
    if np.ndim(answer) == 0 and not isinstance(answer, (str, bytes)):
        try:
            return float(answer), None
        except (TypeError, ValueError):
            pass
    shape = getattr(answer, "shape", None)
    return None, report(False, f"{name} must return one number; got {type(answer).__name__}"
                               f"{f' with shape {tuple(shape)}' if shape is not None else ''}.{vector_hint}")


def _unchanged(originals, given) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(originals, given))


def check_enet_objective(enet_objective: Callable[..., Any]) -> Verdict:
    """Exercise 4.1: ``enet_objective(x, y, w, alpha, l1_ratio)`` in scikit-learn's scaling."""
    rng = np.random.default_rng(8)
    cases = [(*_problem(rng, n, p), rng.normal(size=p), alpha, l1_ratio)
             for n, p, alpha, l1_ratio in [(20, 4, 0.7, 0.3), (35, 6, 0.2, 0.8), (12, 3, 1.5, 0.5)]]
    for x, y, w, alpha, l1_ratio in cases:
        answer, unanswered = attempt(enet_objective, x.copy(), y.copy(), w.copy(), alpha, l1_ratio,
                                     name="enet_objective")
        if unanswered is not None:
            return unanswered
        answer, wrong_type = _number(answer, "enet_objective")
        if wrong_type is not None:
            return wrong_type
        n = len(y)
        expected = _objective(x, y, w, alpha, l1_ratio, 1 / (2 * n))
        if np.isclose(answer, expected, rtol=1e-9):
            continue
        mistakes = {
            "the squared error is divided by n instead of 2n": _objective(x, y, w, alpha, l1_ratio, 1 / n),
            "the squared error is not divided by 2n (sklearn averages it: 1/(2n))":
                _objective(x, y, w, alpha, l1_ratio, 1.0),
            "the squared error is halved but not averaged over the n samples":
                _objective(x, y, w, alpha, l1_ratio, 0.5),
            "the L2 part lacks its factor 1/2: it is alpha·(1 − l1_ratio)/2·‖w‖²":
                _objective(x, y, w, alpha, l1_ratio, 1 / (2 * n), l2_scale=1.0),
            "l1_ratio and 1 − l1_ratio are swapped: l1_ratio is the share of the L1 penalty":
                _objective(x, y, w, alpha, 1 - l1_ratio, 1 / (2 * n)),
            "the L1 part uses w instead of |w|": (np.sum((y - x @ w) ** 2) / (2 * n) + alpha * l1_ratio * np.sum(w)
                                                + alpha * (1 - l1_ratio) / 2 * np.sum(w ** 2)),
            "the L1 part is squared: it should be the sum of |w|, not its square": (
                np.sum((y - x @ w) ** 2) / (2 * n) + alpha * l1_ratio * np.sum(np.abs(w)) ** 2
                + alpha * (1 - l1_ratio) / 2 * np.sum(w ** 2)),
        }
        for mistake, value in mistakes.items():
            if np.isclose(answer, value, rtol=1e-9):
                return report(False, f"{mistake}.")
        return report(False, f"for a test case with n={n}, p={len(w)} you return {answer:.6g}; expected "
                             f"{expected:.6g}. Recall 1/(2n)·‖y − Xw‖² + alpha·l1_ratio·‖w‖₁ + "
                             "alpha·(1 − l1_ratio)/2·‖w‖².")
    # the minimizer must be sklearn's: the objective is lowest at ElasticNet's coefficients
    from sklearn.linear_model import ElasticNet
    x, y, _, alpha, l1_ratio = cases[0]
    # every ElasticNet here gets a random_state: without one, sklearn draws a seed from NumPy's global
    # stream, which belongs to the learner's notebook
    fitted = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-12,
                        random_state=0).fit(x, y).coef_
    at_fit, problem = call(enet_objective, x.copy(), y.copy(), fitted, alpha, l1_ratio)
    nudged = [call(enet_objective, x.copy(), y.copy(), fitted + 1e-3 * e, alpha, l1_ratio)[0]
              for e in np.eye(len(fitted))]
    if problem is None and all(float(at_fit) <= float(v) + 1e-12 for v in nudged):
        return report(True, "your objective has sklearn's scaling on three test problems: ElasticNet's "
                            "coefficients minimize it.")
    return report(False, "your values are right here, but sklearn's ElasticNet solution does not minimize "
                         "your objective.")


def soft_threshold(z: float, t: float) -> float:
    """The reference soft-thresholding operator S(z, t) = sign(z)·max(|z| − t, 0)."""
    return float(np.sign(z) * max(abs(z) - t, 0.0))


def enet_update(x: np.ndarray, y: np.ndarray, w: np.ndarray, j: int, alpha: float, l1_ratio: float) -> float:
    """The reference: the minimizer over w_j of the objective, the other coefficients held fixed.

    With the partial residual r = y − Xw + x_j·w_j (the fit without feature j), it is
    S((1/n)·x_jᵀr, alpha·l1_ratio) / ((1/n)·x_jᵀx_j + alpha·(1 − l1_ratio)).
    ``x`` is (n, p), ``y`` (n,) and ``w`` (p,); the result is the new value of ``w[j]``.
    """
    n = len(y)
    partial = y - x @ w + x[:, j] * w[j]
    return soft_threshold(x[:, j] @ partial / n, alpha * l1_ratio) / (x[:, j] @ x[:, j] / n + alpha * (1 - l1_ratio))


def _update_mistakes(x, y, w, j, alpha, l1_ratio) -> dict[str, float]:
    """What the usual wrong updates return, keyed by the message that explains each."""
    n, column = len(y), x[:, j]
    partial = y - x @ w + column * w[j]
    z, scale, l1, l2 = column @ partial / n, column @ column / n, alpha * l1_ratio, alpha * (1 - l1_ratio)
    return {
        "the 1/n is missing: the objective averages the squared error (1/(2n)), so both x_jᵀr and x_jᵀx_j "
        "are divided by n before the penalties are added":
            soft_threshold(column @ partial, l1) / (column @ column + l2),
        "x_jᵀr is divided by n but x_jᵀx_j is not: both come from the same 1/(2n)·‖y − Xw‖² term":
            soft_threshold(z, l1) / (column @ column + l2),
        "the L2 part is missing from the denominator: the L1 part only thresholds, the L2 part adds "
        "alpha·(1 − l1_ratio) to (1/n)·x_jᵀx_j":
            soft_threshold(z, l1) / scale,
        "the soft-thresholded value is not divided by anything: the 1-D problem's curvature "
        "(1/n)·x_jᵀx_j + alpha·(1 − l1_ratio) belongs in the denominator":
            soft_threshold(z, l1),
        "the denominator assumes unit-variance features (1 + alpha·(1 − l1_ratio)); these columns have "
        "other scales, so use (1/n)·x_jᵀx_j":
            soft_threshold(z, l1) / (1 + l2),
        "you used the full residual y − Xw, which still contains feature j's own contribution: use the "
        "partial residual y − Xw + x_j·w_j (the fit without feature j)":
            soft_threshold(column @ (y - x @ w) / n, l1) / (scale + l2),
        "the threshold should be alpha·l1_ratio and the L2 term alpha·(1 − l1_ratio); you swapped them":
            soft_threshold(z, l2) / (scale + l1),
        "the threshold is alpha alone: only the L1 share, alpha·l1_ratio, thresholds":
            soft_threshold(z, alpha) / (scale + l2),
        "the L2 term has a factor 2 too many: the penalty alpha·(1 − l1_ratio)/2·w_j² has derivative "
        "alpha·(1 − l1_ratio)·w_j":
            soft_threshold(z, l1) / (scale + 2 * l2),
        "the sign is lost: the soft threshold keeps the sign of (1/n)·x_jᵀr, S(z, t) = sign(z)·max(|z| − t, 0)":
            abs(soft_threshold(z, l1)) / (scale + l2),
    }


# (n, p, alpha, l1_ratio, seed): thresholds small enough that most updates are not zero
_UPDATE_CASES = [(30, 5, 0.3, 0.5, 1), (50, 8, 0.1, 0.7, 2), (17, 3, 0.5, 0.2, 3), (40, 6, 0.05, 0.9, 4)]


def check_enet_update(enet_update_fn: Callable[..., Any]) -> Verdict:
    """Exercise 4.2: ``enet_update(x, y, w, j, alpha, l1_ratio)``, one coordinate-descent update of w_j."""
    name = "enet_update"
    for n, p, alpha, l1_ratio, seed in _UPDATE_CASES:
        rng = np.random.default_rng(seed)
        x, y = _problem(rng, n, p)
        w = rng.normal(size=p)
        for j in range(p):
            given = x.copy(), y.copy(), w.copy()
            answer, unanswered = attempt(enet_update_fn, *given, j, alpha, l1_ratio, name=name,
                                         shown=f"{name}(x, y, w, j={j}, alpha={alpha}, l1_ratio={l1_ratio})")
            if unanswered is not None:
                return unanswered
            if not _unchanged((x, y, w), given):
                return report(False, f"{name} changed its inputs in place (e.g. w[j] = ...). It must only return "
                                     "the new value of w_j: the caller decides when to store it, and x, y are "
                                     "shared data.")
            answer, wrong_type = _number(answer, name, " Return the new value of w_j alone, not the whole "
                                                       "vector w.")
            if wrong_type is not None:
                return wrong_type
            expected = enet_update(x, y, w, j, alpha, l1_ratio)
            if np.isclose(answer, expected, rtol=1e-9, atol=1e-12):
                continue
            for mistake, value in _update_mistakes(x, y, w, j, alpha, l1_ratio).items():
                if np.isclose(answer, value, rtol=1e-9, atol=1e-12):
                    return report(False, f"{mistake}.")
            return report(False, f"for a test problem with n={n}, p={p}, j={j}, alpha={alpha}, "
                                 f"l1_ratio={l1_ratio} you return {answer:.6g}; the minimizer over w_j is "
                                 f"{expected:.6g}. Write the objective as a function of w_j alone and minimize it.")
    return _converges_like_sklearn(enet_update_fn)


def _converges_like_sklearn(enet_update_fn) -> Verdict:
    """Cycling the learner's update over the coordinates must reach ElasticNet's coefficients."""
    from sklearn.linear_model import ElasticNet
    rng = np.random.default_rng(11)
    x, y = _problem(rng, 60, 6)
    alpha, l1_ratio = 0.2, 0.6
    w = np.zeros(x.shape[1])
    for _ in range(300):
        previous = w.copy()
        for j in range(len(w)):
            w[j], problem = call(enet_update_fn, x, y, w.copy(), j, alpha, l1_ratio)
            if problem:
                return report(False, f"while iterating, enet_update raised {problem}")
        if np.max(np.abs(w - previous)) < 1e-13:
            break
    theirs = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=100_000,
                        random_state=0).fit(x, y).coef_
    gap = float(np.max(np.abs(w - theirs)))
    if gap > 1e-6:
        return report(False, f"each single update matched, but cycling it over the coordinates ends {gap:.2g} "
                             "away from sklearn's ElasticNet coefficients.")
    return report(True, f"every update on {len(_UPDATE_CASES)} test problems is the exact minimizer over w_j, and "
                        f"cycling it over the coordinates reaches sklearn's ElasticNet coefficients "
                        f"(largest difference {gap:.0e}).")


def largest_alpha(x: np.ndarray, y: np.ndarray, l1_ratio: float) -> float:
    """The reference: the smallest alpha at which every coefficient is zero, max_j |x_jᵀy| / (n·l1_ratio).

    ``x`` is (n, p) and ``y`` (n,).
    """
    return float(np.max(np.abs(x.T @ y)) / (len(y) * l1_ratio))


def check_largest_alpha(largest_alpha_fn: Callable[..., Any]) -> Verdict:
    """Exercise 4.3: ``largest_alpha(x, y, l1_ratio)``, where the elastic-net path starts."""
    from sklearn.linear_model import ElasticNet
    name = "largest_alpha"
    for n, p, l1_ratio, seed in [(40, 5, 0.5, 1), (25, 8, 0.9, 2), (60, 3, 0.2, 3), (30, 4, 1.0, 4)]:
        rng = np.random.default_rng(seed)
        x, y = _problem(rng, n, p)
        given = x.copy(), y.copy()
        answer, unanswered = attempt(largest_alpha_fn, *given, l1_ratio, name=name,
                                     shown=f"{name}(x, y, l1_ratio={l1_ratio})")
        if unanswered is not None:
            return unanswered
        if not _unchanged((x, y), given):
            return report(False, f"{name} changed x or y in place; compute from them without modifying them.")
        answer, wrong_type = _number(answer, name, " Take the largest over the features: one alpha zeroes "
                                                   "every coefficient only when it zeroes the hardest one.")
        if wrong_type is not None:
            return wrong_type
        correlations = x.T @ y
        expected = largest_alpha(x, y, l1_ratio)
        if np.isclose(answer, expected, rtol=1e-9):
            continue
        mistakes = {
            "the 1/n is missing: with w = 0 the update thresholds (1/n)·x_jᵀy":
                np.max(np.abs(correlations)) / l1_ratio,
            "l1_ratio is missing: only the L1 share alpha·l1_ratio thresholds, so alpha must be divided by it":
                np.max(np.abs(correlations)) / n,
            "you multiplied by l1_ratio: the threshold alpha·l1_ratio must reach max|(1/n)·x_jᵀy|, so alpha is "
            "divided by it": np.max(np.abs(correlations)) * l1_ratio / n,
            "the absolute value is missing: a strongly negative x_jᵀy also makes w_j non-zero":
                np.max(correlations) / (n * l1_ratio),
            "you took the smallest feature: alpha must zero every coefficient, so the largest |x_jᵀy| decides":
                np.min(np.abs(correlations)) / (n * l1_ratio),
            "you added over the features: each coordinate is thresholded on its own, so the largest decides":
                np.sum(np.abs(correlations)) / (n * l1_ratio),
        }
        for mistake, value in mistakes.items():
            if np.isclose(answer, value, rtol=1e-9):
                return report(False, f"{mistake}.")
        return report(False, f"for a test problem with n={n}, p={p}, l1_ratio={l1_ratio} you return "
                             f"{answer:.6g}, but the path starts at {expected:.6g}.")
    above, below = (ElasticNet(alpha=answer * factor, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-12,
                               random_state=0).fit(x, y).coef_ for factor in (1.001, 0.99))
    if np.any(above != 0) or not np.any(below != 0):
        return report(False, "sklearn's ElasticNet does not start its path at your alpha.")
    return report(True, "on four test problems: sklearn's ElasticNet zeroes every coefficient just above your "
                        "alpha, and not just below it.")
