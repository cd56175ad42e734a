"""The references of notebook 04's checkers against scikit-learn (the checkers: tests/exercise_catalogue/nb04_*.py)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, enet_path

from course_utils.checks.elastic_net import enet_update, largest_alpha


def _data(seed, n=50, p=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.2, 4.0, p)
    y = x @ rng.normal(size=p) + rng.normal(size=n)
    return x - x.mean(0), y - y.mean()


@pytest.mark.parametrize("alpha, l1_ratio", [(0.05, 0.5), (0.5, 0.9), (0.01, 0.1)])
def test_cycling_the_reference_update_reaches_sklearn(alpha, l1_ratio):
    x, y = _data(0)
    w = np.zeros(x.shape[1])
    for _ in range(2000):
        previous = w.copy()
        for j in range(len(w)):
            w[j] = enet_update(x, y, w, j, alpha, l1_ratio)
        if np.max(np.abs(w - previous)) < 1e-14:
            break
    theirs = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y)
    np.testing.assert_allclose(w, theirs.coef_, atol=1e-8)


def test_the_reference_update_minimizes_over_its_coordinate():
    x, y = _data(1)
    w = np.random.default_rng(2).normal(size=x.shape[1])
    alpha, l1_ratio, n = 0.3, 0.4, len(y)

    def objective(v):
        return (np.sum((y - x @ v) ** 2) / (2 * n) + alpha * l1_ratio * np.abs(v).sum()
                + alpha * (1 - l1_ratio) / 2 * (v ** 2).sum())
    for j in range(len(w)):
        best = w.copy()
        best[j] = enet_update(x, y, w, j, alpha, l1_ratio)
        for step in (-1e-4, 1e-4):
            nudged = best.copy()
            nudged[j] += step
            assert objective(best) < objective(nudged)


@pytest.mark.parametrize("l1_ratio", [0.2, 0.7, 1.0])
def test_largest_alpha_is_where_sklearn_starts_its_path(l1_ratio):
    x, y = _data(3)
    alphas, _, _ = enet_path(x, y, l1_ratio=l1_ratio, alphas=5)
    assert largest_alpha(x, y, l1_ratio) == pytest.approx(alphas[0], rel=1e-12)
