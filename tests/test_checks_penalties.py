"""The soft threshold exercise 03.1 checks is the lasso's solution, as scikit-learn computes it.

The checker's other references are torch.optim's own SGD, Adam and AdamW; the exercise catalogue
(tests/exercise_catalogue/nb03_penalties.py) passes loops written from scratch through all three checkers.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import Lasso

from course_utils.checks.penalties import check_soft_threshold


def soft_threshold_by_the_lasso(z: np.ndarray, threshold: float) -> np.ndarray:
    """argmin_w ½‖w − z‖² + threshold·‖w‖₁, solved by scikit-learn's Lasso on an orthonormal design.

    With XᵀX / n = I and y = X z, the lasso's objective ‖y − Xw‖² / 2n + α‖w‖₁ is ½‖w − z‖² + α‖w‖₁ up to a
    constant: one soft threshold per coordinate. Without a penalty it is least squares, w = z.
    """
    if threshold == 0:
        return z.copy()
    n = z.size
    X = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0] * np.sqrt(n)
    lasso = Lasso(alpha=threshold, fit_intercept=False, tol=1e-15, max_iter=100_000).fit(X, X @ z.ravel())
    return lasso.coef_.reshape(z.shape)


def test_the_soft_threshold_is_the_lasso_on_an_orthonormal_design():
    verdict = check_soft_threshold(soft_threshold_by_the_lasso)
    assert verdict.passed, verdict.message
