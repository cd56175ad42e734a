"""Shared fixtures of the unit tests: one torch thread, a headless plot backend, small synthetic data."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no display in CI

from collections.abc import Callable
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import settings
from torch import nn

import course_utils
import course_utils.members
from course_utils import Config, build_model, fit
from course_utils.models import model_sizes
from course_utils.batched import LayeredMembers
from course_utils.data import DATA_DIR, Dataset
from course_utils.members import Members
from course_utils.training import History

# Property tests run the same examples every time (no flaky CI, no example
# database written into the repository) and may take as long as torch needs.
settings.register_profile("course", derandomize=True, database=None, deadline=None, max_examples=60)
settings.load_profile("course")

MNIST1D_PATH = DATA_DIR / "mnist1d.npz"


@pytest.fixture(autouse=True)
def _reproducible():
    """Every test starts from the notebook set-up: seeded RNGs, one thread, deterministic kernels."""
    course_utils.setup(0)
    yield
    plt.close("all")


def count_members(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """How many members each group of either engine trains, recorded as they run (one worker: one group
    per structure and engine)."""
    groups = {"batched": [], "stacked": []}
    run = Members.run

    def counted(self):
        groups["batched" if isinstance(self, LayeredMembers) else "stacked"].append(len(self.configs))
        return run(self)
    monkeypatch.setattr(Members, "run", counted)
    monkeypatch.setattr(course_utils.members, "usable_cores", lambda: 1)
    return groups


def make_classification(n_train=60, n_val=30, n_test=30, n_features=8, n_classes=3, seed=0, length=None):
    """Gaussian blobs, one centre per class; ``length`` gives 1-D sequences for the CNN instead."""
    rng = np.random.default_rng(seed)
    width = length or n_features
    centres = rng.normal(0.0, 1.5, (n_classes, width))

    def part(n):
        y = np.arange(n) % n_classes  # balanced classes
        x = centres[y] + rng.standard_normal((n, width))
        return x.astype(np.float32), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = part(n_train), part(n_val), part(n_test)
    return Dataset(xt, yt, xs, ys, x_val=xv, y_val=yv, name="blobs")


def make_regression(n_train=40, n_val=20, n_test=20, n_features=5, noise=0.1, seed=0):
    """y = x·w + noise with a fixed w."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n_features)

    def part(n):
        x = rng.standard_normal((n, n_features))
        return x.astype(np.float32), (x @ w + noise * rng.standard_normal(n)).astype(np.float32)

    (xt, yt), (xv, yv), (xs, ys) = part(n_train), part(n_val), part(n_test)
    return Dataset(xt, yt, xs, ys, x_val=xv, y_val=yv, name="linear")


@pytest.fixture
def blobs() -> Dataset:
    return make_classification()


@pytest.fixture
def linear_data() -> Dataset:
    return make_regression()


def flat_parameters(model: torch.nn.Module) -> torch.Tensor:
    """All parameters and buffers of a model as one detached vector, for comparing runs."""
    return torch.cat([t.detach().reshape(-1).double() for t in model.state_dict().values()])


def adam_step(w, grad, m, v, t, lr, weight_decay, decoupled, *, coupling_swapped=False, ignore_decay=False,
              bias_correction=True, fresh_moments=False, first_step_always=False, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step in NumPy; the keyword switches make the usual learner mistakes."""
    if ignore_decay:
        weight_decay = 0.0
    if fresh_moments:
        m, v = np.zeros_like(m), np.zeros_like(v)
    if first_step_always:
        t = 1
    if decoupled != coupling_swapped:
        w = w * (1 - lr * weight_decay)
    else:
        grad = grad + weight_decay * w
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = (m / (1 - beta1 ** t), v / (1 - beta2 ** t)) if bias_correction else (m, v)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def alone(config: Config, data: Dataset, model_fn: Callable = build_model) -> tuple[History, nn.Module]:
    """The same configuration trained by itself with fit: what every member of an engine's run must match."""
    model = model_fn(config, *model_sizes(data))
    return fit(model, data, config, progress=False), model


def assert_same_run(run, reference, atol=1e-4, skip=(), acc_atol=None) -> None:
    """A member's (history, model) against ``alone``'s: every history field, weight and best weight, to ``atol``
    (accuracies to ``acc_atol`` if given; state entries in ``skip`` left out)."""
    (history, model), (expected, reference_model) = run, reference
    assert type(model) is type(reference_model)
    for name in ("best_epoch", "stopped_early", "diverged", "interrupted", "epochs"):
        assert getattr(history, name) == getattr(expected, name), name
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        tolerance = acc_atol if acc_atol is not None and name.endswith("acc") else atol
        np.testing.assert_allclose(getattr(history, name), getattr(expected, name), atol=tolerance, err_msg=name)
    for states in ((model.state_dict(), reference_model.state_dict()), (history.best_state, expected.best_state)):
        if states[1] is None:
            assert states[0] is None
            continue
        assert list(states[0]) == list(states[1])
        for key, value in states[0].items():
            if key not in skip:
                np.testing.assert_allclose(value.double(), states[1][key].double(), atol=atol, err_msg=key)


def varied(base: Config) -> list[Config]:
    """Members differing in everything a group may vary, one thing each; the last two are stochastic."""
    return [replace(base, seed=0), replace(base, seed=1, lr=base.lr / 3), replace(base, seed=2, weight_decay=0.05),
            replace(base, seed=3, l1=1e-3, l2=1e-2), replace(base, seed=4, dropout=0.3),
            replace(base, seed=5, input_noise=0.3, **({} if base.model == "cnn" else {"input_dropout": 0.2}))]


def noisy_labels(seed: int = 2) -> Dataset:
    """Small data with 30 % of the training labels flipped: validation loss soon rises."""
    data = make_classification(n_train=30, n_val=30, seed=seed)
    y = data.y_train.copy()
    flip = np.random.default_rng(seed).choice(30, 9, replace=False)
    y[flip] = (y[flip] + 1) % 3
    return Dataset(data.x_train, y, data.x_test, data.y_test, x_val=data.x_val, y_val=data.y_val)
