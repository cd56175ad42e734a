"""The references of notebook 08's exercises against the library (tests/exercise_catalogue tests the checkers)."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.early_stopping import early_stop, train_with_early_stopping
from course_utils.training import EarlyStopping


def test_early_stop_agrees_with_the_library_rule():
    rng = np.random.default_rng(0)
    for _ in range(200):
        losses = np.cumsum(rng.normal(0, 0.1, 30)) + 3
        patience, min_delta = int(rng.integers(1, 8)), float(rng.choice([0.0, 0.01, 0.1]))
        stopper = EarlyStopping(patience, min_delta)
        for epoch, loss in enumerate(losses, start=1):
            stopper.update(loss, epoch)
            if stopper.should_stop:
                break
        assert early_stop(losses, patience, min_delta) == (epoch, stopper.best_epoch)
        assert early_stop(losses, patience, min_delta, restore_best=False) == (epoch, epoch)


def test_training_loop_restores_the_weights_of_the_lowest_validation_loss():
    generator = torch.Generator().manual_seed(0)
    x, x_val = torch.randn(20, 5, generator=generator), torch.randn(20, 5, generator=generator)
    w = torch.randn(5, 1, generator=generator)
    y, y_val = x @ w + torch.randn(20, 1, generator=generator), x_val @ w + torch.randn(20, 1, generator=generator)
    model = torch.nn.Linear(5, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    seen = []

    def train_epoch(m):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        optimizer.step()

    def validation_loss(m):
        with torch.no_grad():
            seen.append(float(torch.nn.functional.mse_loss(m(x_val), y_val)))
        return seen[-1]

    epochs = train_with_early_stopping(model, train_epoch, validation_loss, patience=3, max_epochs=200)
    assert epochs == len(seen) and epochs == early_stop(seen, 3)[0]
    assert validation_loss(model) == min(seen[:epochs])
