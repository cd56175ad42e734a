"""Checkers for the exercises of notebook 04 (elastic net)."""
from __future__ import annotations

import numpy as np

from . import Verdict, attempt, call, report


def _objective(x, y, w, alpha, l1_ratio, data_scale, l1_scale=1.0, l2_scale=0.5):
    return (data_scale * np.sum((y - x @ w) ** 2) + alpha * l1_ratio * l1_scale * np.sum(np.abs(w))
            + alpha * (1 - l1_ratio) * l2_scale * np.sum(w ** 2))


def check_enet_objective(enet_objective) -> Verdict:
    """Exercise 04.1: ``enet_objective(x, y, w, alpha, l1_ratio)`` in scikit-learn's scaling."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 4))
    w = np.array([1.5, -2.0, 0.0, 0.5])
    y = x @ w + rng.normal(size=20)
    w_try = np.array([1.0, -1.0, 0.3, 0.0])
    alpha, l1_ratio = 0.7, 0.3
    n = len(y)
    expected = _objective(x, y, w_try, alpha, l1_ratio, 1 / (2 * n))
    answer, unanswered = attempt(enet_objective, x.copy(), y.copy(), w_try.copy(), alpha, l1_ratio,
                                 name="enet_objective")
    if unanswered is not None:
        return unanswered
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return report(False, f"enet_objective must return one number; got {type(answer).__name__}")
    if np.isclose(answer, expected, rtol=1e-9):
        # and the minimizer must be sklearn's: the objective is lowest at ElasticNet's coefficients
        from sklearn.linear_model import ElasticNet
        fitted = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-12).fit(x, y).coef_
        at_fit, problem = call(enet_objective, x.copy(), y.copy(), fitted, alpha, l1_ratio)
        nudged = [call(enet_objective, x.copy(), y.copy(), fitted + 1e-3 * e, alpha, l1_ratio)[0] for e in np.eye(4)]
        if problem is None and all(float(at_fit) <= float(v) + 1e-12 for v in nudged):
            return report(True, "your objective has sklearn's scaling: ElasticNet's coefficients minimize it.")
        return report(False, "your value is right here, but sklearn's ElasticNet solution does not minimize it.")
    wrong = {
        "the squared error is divided by n instead of 2n": _objective(x, y, w_try, alpha, l1_ratio, 1 / n),
        "the squared error is not divided by 2n (sklearn averages it: 1/(2n))": _objective(x, y, w_try, alpha, l1_ratio, 1.0),
        "the squared error is halved but not averaged over the n samples": _objective(x, y, w_try, alpha, l1_ratio, 0.5),
        "the L2 part lacks its factor 1/2: it is alpha·(1 − l1_ratio)/2·‖w‖²": _objective(x, y, w_try, alpha, l1_ratio, 1 / (2 * n), l2_scale=1.0),
        "l1_ratio and 1 − l1_ratio are swapped: l1_ratio is the share of the L1 penalty":
            _objective(x, y, w_try, alpha, 1 - l1_ratio, 1 / (2 * n)),
        "the L1 part uses w instead of |w|": (np.sum((y - x @ w_try) ** 2) / (2 * n) + alpha * l1_ratio * np.sum(w_try)
                                            + alpha * (1 - l1_ratio) / 2 * np.sum(w_try ** 2)),
        "the L1 part is squared: it should be the sum of |w|, not its square": (
            np.sum((y - x @ w_try) ** 2) / (2 * n) + alpha * l1_ratio * np.sum(np.abs(w_try)) ** 2
            + alpha * (1 - l1_ratio) / 2 * np.sum(w_try ** 2)),
    }
    for mistake, value in wrong.items():
        if np.isclose(answer, value, rtol=1e-9):
            return report(False, f"{mistake}.")
    return report(False, f"for this test case you return {answer:.6g}; expected {expected:.6g}. Recall "
                          "1/(2n)·‖y − Xw‖² + alpha·l1_ratio·‖w‖₁ + alpha·(1 − l1_ratio)/2·‖w‖².")
