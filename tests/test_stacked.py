"""The stacked engine's public contract: every member of a batched run against fit of the same configuration.

Deterministic members match fit to 1e-5 after one epoch (measured: ~1e-7, the rounding of batched against
single matrix products); dropout masks and noise come from each member's own generator seeded as fit seeds
the global one, so those members match too. Random layers the engine does not know draw under vmap: they
match fit in distribution, which one test checks statistically. Longer runs (early stopping, several epochs
of Adam) are held to 1e-4, as rounding differences grow with every step.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import alone, assert_same_run, make_classification, make_regression, varied
from course_utils import Config, build_model, evaluate
from course_utils.augment import Compose, GaussianNoise, RandomFlip, RandomScale, RandomShift, with_augmentation
from course_utils.models import CNN1d, MLP
from course_utils.members import can_batch
from course_utils.scheduling import estimate_member_bytes
from course_utils.stacked import StackedMembers, train_stacked

ONE_EPOCH, LONGER = 1e-5, 1e-4


def check_against_fit(configs, data, atol=ONE_EPOCH, model_fn=build_model, **kwargs):
    runs = train_stacked(configs, data, model_fn=model_fn, **kwargs)
    assert len(runs) == len(configs)
    for config, run in zip(configs, runs):
        assert_same_run(run, alone(config, data, model_fn), atol)
    return runs


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01), ("adamw", 0.01)])
def test_mlp_members_match_fit_after_one_epoch(optimizer, lr):
    base = Config(hidden=(12, 10), epochs=1, batch_size=16, optimizer=optimizer, lr=lr)
    check_against_fit(varied(base) + [replace(base, seed=6, momentum=0.9)], make_classification())


# Not Adam with batch norm: the bias before a batch norm has a gradient that is zero up to rounding, which
# Adam's normalisation turns into steps of about lr, in fit as in any other implementation.
@pytest.mark.parametrize("optimizer, batch_norm", [("sgd", False), ("sgd", True), ("adam", False)])
def test_cnn_members_match_fit_after_one_epoch(optimizer, batch_norm):
    base = Config(model="cnn", hidden=(4, 6), epochs=1, batch_size=16, optimizer=optimizer,
                  lr=0.1 if optimizer == "sgd" else 0.01, batch_norm=batch_norm)
    check_against_fit(varied(base), make_classification(length=20))


def test_batch_norm_members_match_fit_and_skip_a_last_batch_of_one():
    data = make_classification(n_train=33)  # batches of 16, 16 and 1
    base = Config(hidden=(12, 10), epochs=2, batch_size=16, optimizer="sgd", lr=0.1, batch_norm=True)
    runs = check_against_fit(varied(base) + [replace(base, seed=6, momentum=0.9)], data)
    assert runs[0][1][2].num_batches_tracked.item() == 4


def test_regression_label_smoothing_and_penalized_biases_match_fit():
    check_against_fit([Config(hidden=(8,), epochs=2, batch_size=8, optimizer="sgd", lr=0.01, seed=s, l2=0.1 * s)
                       for s in range(3)], make_regression())
    check_against_fit([Config(hidden=(), epochs=2, batch_size=8, lr=0.05, seed=s) for s in range(2)],
                      make_regression())
    base = Config(hidden=(10,), epochs=1, batch_size=16, lr=0.01, label_smoothing=0.1)
    check_against_fit([replace(base, seed=s) for s in range(2)], make_classification())
    base = Config(hidden=(10,), epochs=1, batch_size=16, optimizer="sgd", lr=0.1, penalize_biases=True)
    check_against_fit([replace(base, weight_decay=0.1), replace(base, seed=1, l1=0.01, l2=0.1)],
                      make_classification())


@pytest.mark.parametrize("model, layer, n_features", [
    ("mlp", Compose(RandomShift(2), RandomScale(0.8, 1.2, p=0.5), GaussianNoise(0.1)), 8),
    ("cnn", RandomShift(3, mode="zeros"), 20),
    ("mlp", RandomFlip((4, 4)), 16)])
def test_augmented_members_match_fit(model, layer, n_features):
    base = Config(model=model, hidden=(6,) if model == "cnn" else (12,), epochs=1, batch_size=16, lr=0.01)
    configs = [replace(base, seed=0), replace(base, seed=1, dropout=0.3), replace(base, seed=2, input_noise=0.2)]
    data = make_classification(length=n_features) if model == "cnn" else make_classification(n_features=n_features)
    for config, run in zip(configs, train_stacked(configs, data, augmentation=layer), strict=True):
        assert_same_run(run, alone(config, data, with_augmentation(layer)), ONE_EPOCH)


def test_a_model_fn_of_ordinary_layers_trains_batched_and_matches_fit():
    def model_fn(config, n_inputs, n_outputs):
        torch.manual_seed(config.seed)
        return nn.Sequential(nn.Linear(n_inputs, 16), nn.LayerNorm(16), nn.SiLU(), nn.Dropout(config.dropout),
                             nn.Linear(16, n_outputs))
    base = Config(epochs=1, batch_size=16, lr=0.01, dropout=0.2)
    check_against_fit([replace(base, seed=s, dropout=0.1 * (s + 1)) for s in range(3)], make_classification(),
                      model_fn=model_fn)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_max_norm_members_match_fit(model):
    base = Config(model=model, hidden=(6, 5), epochs=2, batch_size=16, optimizer="sgd", lr=0.5)
    data = make_classification(length=12) if model == "cnn" else make_classification()
    configs = [replace(base, max_norm=0.5), replace(base, seed=1, max_norm=1.0), replace(base, seed=2)]
    runs = check_against_fit(configs, data)
    rows = runs[0][1][1].weight.flatten(1).norm(dim=1) if model == "mlp" else \
        runs[0][1].features[0].weight.flatten(1).norm(dim=1)
    assert float(rows.max().detach()) <= 0.5 + 1e-6


class CoinFlip(nn.Module):
    """A random layer the engine does not know: under vmap each member draws its own masks, not fit's."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) > self.p) / (1 - self.p) if self.training else x


def test_unknown_random_layers_match_fit_in_distribution():
    def model_fn(config, n_inputs, n_outputs):
        torch.manual_seed(config.seed)
        return nn.Sequential(nn.Linear(n_inputs, 32), nn.ReLU(), CoinFlip(0.5), nn.Linear(32, n_outputs))
    data = make_classification(n_train=120)
    configs = [Config(epochs=3, batch_size=20, lr=0.01, seed=s) for s in range(12)]
    batched = np.array([h.train_loss[-1] for h, _ in train_stacked(configs, data, model_fn=model_fn)])
    alone_ = np.array([alone(c, data, model_fn)[0].train_loss[-1] for c in configs])
    differences = batched - alone_
    assert np.abs(differences).max() > 1e-4                          # their own draws, not fit's
    assert abs(differences.mean()) < 3 * differences.std(ddof=1) / math.sqrt(len(configs)) + 1e-3


def coin_flip_network(config: Config, n_inputs: int, n_outputs: int) -> nn.Module:
    torch.manual_seed(config.seed)
    return nn.Sequential(nn.Linear(n_inputs, 16), nn.ReLU(), CoinFlip(0.5), nn.Linear(16, n_outputs))


def test_unknown_random_layers_draw_the_same_whatever_the_workers_and_the_threads_around():
    """Their draws come from torch's global generator: their group trains alone, seeded from its first member."""
    data = make_classification()
    configs = [Config(epochs=2, batch_size=16, lr=0.01, seed=s) for s in range(6)]
    plain = [replace(c, lr=0.02) for c in configs]   # MLPs, trained beside them in other threads
    runs = [train_stacked(configs + plain, data, workers=workers,
                          model_fn=lambda c, i, o: coin_flip_network(c, i, o) if c.lr == 0.01 else build_model(c, i, o))
            for workers in (1, 2, 3)]
    for other in runs[1:]:
        for (history, _), (expected, _) in zip(other[:6], runs[0][:6], strict=True):
            assert history.train_loss == expected.train_loss


@pytest.mark.parametrize("network, draws", [
    (nn.Sequential(nn.Linear(8, 4), CoinFlip(0.5)), True),
    (nn.Sequential(nn.Linear(8, 4), nn.Dropout(0.5), nn.BatchNorm1d(4)), False),   # dropout is drawn per member
    (build_model(Config(model="cnn", hidden=(3,), dropout=0.2, input_noise=0.1), 8, 3), False),
])
def test_draws_globally_finds_layers_that_draw_under_vmap(network, draws):
    assert StackedMembers.draws_globally(network, torch.zeros(2, 8)) is draws


def test_members_are_regular_modules_and_results_hardly_depend_on_the_workers():
    data = make_classification()
    configs = [Config(hidden=(8,), epochs=2, batch_size=16, seed=s, lr=0.01 * (s + 1)) for s in range(5)]
    one, two = train_stacked(configs, data, workers=1), train_stacked(configs, data, workers=2)
    for (history, model), (other, other_model) in zip(one, two, strict=True):
        assert isinstance(model, MLP)
        assert evaluate(model, data.x_val, data.y_val)["loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)
        np.testing.assert_allclose(history.val_loss, other.val_loss, atol=ONE_EPOCH)
    (_, cnn), = train_stacked(Config(model="cnn", hidden=(3,), epochs=1), make_classification(length=12))
    assert isinstance(cnn, CNN1d)


def test_what_may_vary_and_the_memory_estimate():
    assert can_batch([Config(seed=s, dropout=0.1 * s) for s in range(3)])[0]
    ok, reason = can_batch([Config(), Config(optimizer="sgd")])
    assert not ok and "optimizer" in reason
    with pytest.raises(ValueError, match="cannot be trained as one batch"):
        train_stacked([Config(), Config(batch_size=7)], make_classification())
    data = make_classification()
    small = estimate_member_bytes(Config(hidden=(8,), batch_size=16), data)
    assert 0 < small < estimate_member_bytes(Config(hidden=(64, 64), batch_size=16), data)
    assert small < estimate_member_bytes(Config(hidden=(8,), batch_size=60), data)
