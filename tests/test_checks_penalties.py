"""The references the checkers of notebook 03 compare against, tested against torch and scikit-learn."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Lasso

from course_utils.checks.penalties import _reference_run, _small_network, _soft_threshold, _torch_adam


def test_soft_threshold_is_the_lasso_on_an_orthonormal_design():
    rng = np.random.default_rng(0)
    n = 8
    X = np.linalg.qr(rng.normal(size=(n, n)))[0] * np.sqrt(n)  # XᵀX / n = I: the lasso decouples
    y = rng.normal(0, 2, n)
    z = X.T @ y / n                                            # least squares, coordinate by coordinate
    lasso = Lasso(alpha=0.4, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
    assert np.allclose(_soft_threshold(z, 0.4), lasso.coef_, atol=1e-8)
    assert np.allclose(_soft_threshold(z, 0.4), torch.nn.functional.softshrink(torch.tensor(z), 0.4).numpy())


def test_the_sgd_reference_is_a_loop_with_half_lambda_squared_in_the_loss():
    torch.manual_seed(0)
    model = _small_network(4, 5, 3)
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    expected = _reference_run(model, x, y, weight_decay=0.2, lr=0.3, steps=5)
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y) + 0.1 * sum((p ** 2).sum() for p in model.parameters())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.3 * p.grad
    assert torch.allclose(torch.cat([p.detach().flatten() for p in model.parameters()]), expected, atol=1e-12)


def test_torch_adam_reference_starts_with_a_step_of_size_lr():
    w, grad = np.array([1.0, -2.0]), np.array([0.5, -3.0])
    assert np.allclose(_torch_adam(w, [grad], lr=0.01, weight_decay=0.0, decoupled=False)[0],
                       w - 0.01 * np.sign(grad), atol=1e-7)
