"""train_batched: every member of a batched run against fit of the same configuration (the contract both
engines keep, early stopping, divergence, Ctrl-C, is in test_engine_contract.py).

Tolerance: members match fit to ATOL = 1e-4 on every recorded metric and every
weight (measured differences are ~1e-7: batched and single matrix products
round differently, nothing else differs). Dropout masks and input noise come
from each member's own generator seeded as fit seeds the global one, so
stochastic members match too. One documented exception: with batch norm and
Adam, the bias of a layer followed by batch norm has a gradient that is zero
up to rounding, which Adam's normalisation turns into steps of size ~lr; those
biases and the running means tracking them follow the rounding noise, in fit
as in any other implementation (see test_adam_with_batch_norm...).
"""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import alone, assert_same_run, make_classification, make_regression, varied
from course_utils import Config, Dataset, build_model, evaluate, fit
from course_utils.augment import (Compose, GaussianNoise, RandomFlip, RandomImageShift, RandomRotation, RandomScale,
                                  RandomShift, with_augmentation)
from course_utils.batched import can_train_batched, train_batched
from course_utils.members import Members, can_batch, stack_splits
from course_utils.scheduling import estimate_member_bytes
from course_utils.training import History
from course_utils.models import MLP
from course_utils.models import GaussianNoise as GaussianNoiseLayer

ATOL = 1e-4


def check_against_fit(configs, data, **kwargs):
    runs = train_batched(configs, data)
    assert len(runs) == len(configs)
    for config, run in zip(configs, runs):
        assert_same_run(run, alone(config, data), **kwargs)
    return runs


# ---------------------------------------------------------------- members match fit

@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01), ("adamw", 0.01)])
def test_mlp_members_match_fit(optimizer, lr):
    base = Config(hidden=(12, 10), epochs=3, batch_size=16, optimizer=optimizer, lr=lr)
    configs = varied(base)
    if optimizer == "sgd":
        configs.append(replace(base, seed=6, momentum=0.9))
    check_against_fit(configs, make_classification())


def test_sgd_with_batch_norm_matches_fit():
    base = Config(hidden=(12, 10), epochs=3, batch_size=16, optimizer="sgd", lr=0.1, batch_norm=True)
    check_against_fit(varied(base) + [replace(base, seed=6, momentum=0.9)], make_classification())


def rounding_driven(model: nn.Module) -> set[str]:
    """Keys of the biases of layers followed by batch norm, and of the running means tracking them."""
    layers = list(model.named_children())
    keys = {f"{name}.bias" for (name, layer), (_, after) in zip(layers, layers[1:])
            if isinstance(layer, nn.Linear) and isinstance(after, nn.BatchNorm1d)}
    return keys | {f"{name}.running_mean" for name, layer in layers if isinstance(layer, nn.BatchNorm1d)}


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_with_batch_norm_matches_fit_except_rounding_driven_biases(optimizer):
    """Adam turns the rounding noise in the (zero) gradient of a bias followed by batch norm into steps
    of about lr, so those biases and their running means differ between any two implementations;
    through the running means they shift eval-mode losses by up to ~1e-2 and may flip a sample."""
    base = Config(hidden=(12, 10), epochs=3, batch_size=16, optimizer=optimizer, lr=0.01, batch_norm=True)
    data = make_classification()
    for config, run in zip(varied(base), train_batched(varied(base), data)):
        expected = alone(config, data)
        skip = rounding_driven(run[1])
        assert len(skip) == 4 and skip == rounding_driven(expected[1])
        one_sample = 1 / len(data.y_val) + 1e-6
        assert_same_run(run, expected, atol=2e-2, skip=skip, acc_atol=one_sample)   # losses within 2e-2
        for key, value in run[1].state_dict().items():          # every other tensor to the usual tolerance
            if key not in skip:
                np.testing.assert_allclose(value.double(), expected[1].state_dict()[key].double(), atol=ATOL)


@pytest.mark.parametrize("model, layer, n_features", [
    ("mlp", Compose(RandomShift(2), RandomScale(0.8, 1.2, p=0.5), GaussianNoise(0.1)), 8),
    ("mlp", Compose(RandomImageShift((4, 4), 1, p=0.7), RandomRotation((4, 4), 20)), 16),
    ("mlp", RandomFlip((4, 4)), 16)])
def test_augmented_members_match_fit(model, layer, n_features):
    """Each member's augmentation draws come from its own generator, before its dropout, as in fit."""
    base = Config(model=model, hidden=(12,), epochs=2, batch_size=16, lr=0.01)
    configs = [replace(base, seed=0), replace(base, seed=1, dropout=0.3), replace(base, seed=2, input_noise=0.2)]
    data = make_classification(n_features=n_features)
    runs = train_batched(configs, data, augmentation=layer)
    n_inputs, n_outputs = n_features, data.n_classes
    for config, run in zip(configs, runs, strict=True):
        reference = with_augmentation(layer)(config, n_inputs, n_outputs)
        assert_same_run(run, (fit(reference, data, config, progress=False), reference))


def test_augmentation_without_a_generator_path_is_refused():
    class Mirror(nn.Module):
        def forward(self, x):
            return x.flip(-1) if self.training else x

    configs = [Config(hidden=(4,), epochs=1, seed=s) for s in (0, 1)]
    with pytest.raises(ValueError, match="course_utils.augment layers"):
        train_batched(configs, make_classification(), augmentation=Mirror())


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_other_activations_match_fit(activation):
    base = Config(hidden=(10,), activation=activation, epochs=2, batch_size=16, lr=0.01)
    check_against_fit([replace(base, seed=0), replace(base, seed=1, dropout=0.2)], make_classification())


def test_regression_and_linear_model_match_fit():
    data = make_regression()
    check_against_fit([Config(hidden=(8,), epochs=3, batch_size=8, optimizer="sgd", lr=0.01, seed=s, l2=0.1 * s)
                       for s in range(3)], data)
    check_against_fit([Config(hidden=(), epochs=3, batch_size=8, lr=0.05, seed=s) for s in range(2)], data)


def test_multi_output_regression_matches_fit():
    data = make_regression()
    both = {part: np.stack([getattr(data, f"y_{part}"), -2 * getattr(data, f"y_{part}")], axis=1)
            for part in ("train", "val", "test")}
    data = Dataset(data.x_train, both["train"], data.x_test, both["test"], x_val=data.x_val, y_val=both["val"])
    configs = [Config(hidden=(8,), epochs=2, batch_size=8, optimizer="sgd", lr=0.01, seed=s) for s in range(2)]
    for config, run in zip(configs, train_batched(configs, data)):
        model = build_model(config, 5, 2)
        assert_same_run(run, (fit(model, data, config, progress=False), model))


def test_label_smoothing_matches_fit():
    base = Config(hidden=(10,), epochs=2, batch_size=16, lr=0.01, label_smoothing=0.1)
    check_against_fit([replace(base, seed=s) for s in range(2)], make_classification())


def test_penalized_biases_match_fit():
    base = Config(hidden=(10,), epochs=2, batch_size=16, optimizer="sgd", lr=0.1, penalize_biases=True,
                  batch_norm=True)
    check_against_fit([replace(base, weight_decay=0.1), replace(base, seed=1, l1=0.01, l2=0.1)],
                      make_classification())


@pytest.mark.parametrize("model, optimizer, lr", [("mlp", "sgd", 0.5), ("mlp", "adam", 0.05), ("mlp", "adamw", 0.05)])
def test_max_norm_members_match_fit(model, optimizer, lr):
    """Members with their own bounds (and one without) beside each other; the bounds bind at these rates."""
    base = Config(model=model, hidden=(12, 10), epochs=3, batch_size=16, optimizer=optimizer, lr=lr)
    configs = [replace(base, seed=0), replace(base, seed=1, max_norm=0.3), replace(base, seed=2, max_norm=1.0),
               replace(base, seed=3, max_norm=0.5, dropout=0.3, weight_decay=0.01)]
    data = make_classification()
    runs = check_against_fit(configs, data)
    for config, (_, member) in zip(configs[1:3], runs[1:3]):
        norms = [w.detach().flatten(1).norm(dim=1).max() for w in member.parameters() if w.ndim >= 2]
        assert float(max(norms)) == pytest.approx(config.max_norm, rel=1e-5)   # the bound was reached


def test_batch_norm_skips_a_last_batch_of_one_like_fit():
    data = make_classification(n_train=33)  # batches of 16, 16 and 1
    base = Config(hidden=(8,), batch_norm=True, epochs=2, batch_size=16, optimizer="sgd", lr=0.1)
    runs = check_against_fit([replace(base, seed=s) for s in range(2)], data)
    assert runs[0][1][2].num_batches_tracked.item() == 4


def test_one_config_alone_and_the_global_settings_left_as_found():
    data = make_classification()
    config = Config(hidden=(8,), epochs=2, batch_size=16)
    fill = torch.utils.deterministic.fill_uninitialized_memory
    (run,) = train_batched(config, data)
    assert torch.utils.deterministic.fill_uninitialized_memory == fill
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    assert_same_run(run, alone(config, data))


def test_members_are_regular_modules_holding_their_weights():
    data = make_classification()
    configs = [Config(hidden=(8,), epochs=2, batch_size=16, seed=s) for s in range(2)]
    for history, model in train_batched(configs, data):
        assert isinstance(model, MLP)
        assert evaluate(model, data.x_val, data.y_val)["loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)


# ---------------------------------------------------------------- memory and groups (the rest of the contract both
# engines keep is in test_engine_contract.py)

def test_memory_estimate_grows_with_the_work():
    data = make_classification()
    small = estimate_member_bytes(Config(hidden=(8,), batch_size=16), data)
    assert 0 < small < estimate_member_bytes(Config(hidden=(64, 64), batch_size=16), data)
    assert small < estimate_member_bytes(Config(hidden=(8,), batch_size=60), data)


def assert_identical_runs(runs, others):
    """Bit for bit: every history field and every tensor of every member."""
    for (history, model), (other, other_model) in zip(runs, others, strict=True):
        for name in ("train_loss", "train_acc", "val_loss", "val_acc", "best_epoch", "stopped_early", "diverged",
                     "interrupted"):
            assert getattr(history, name) == getattr(other, name), name
        for key, value in model.state_dict().items():
            assert torch.equal(value, other_model.state_dict()[key]), key


@pytest.fixture
def chunk_sizes(monkeypatch):
    """The size of every chunk of members built, in the order they start."""
    sizes, real = [], Members.__init__

    def spy(self, configs, *args):
        sizes.append(len(configs))
        real(self, configs, *args)

    monkeypatch.setattr(Members, "__init__", spy)
    return sizes


def test_a_small_budget_splits_the_sweep_into_chunks_with_identical_results(chunk_sizes):
    data = make_classification()
    base = Config(hidden=(10,), epochs=2, batch_size=16, lr=0.01, patience=1)
    configs = [replace(base, seed=s, lr=0.01 * (s + 1), dropout=0.1 * s) for s in range(5)]
    whole = train_batched(configs, data, workers=1)
    assert chunk_sizes == [5]                        # the default budget holds them all
    chunk_sizes.clear()
    per_member = estimate_member_bytes(base, data)
    chunked = train_batched(configs, data, memory_budget=2 * per_member, workers=1)
    assert chunk_sizes == [2, 2, 1]
    assert_identical_runs(whole, chunked)
    chunk_sizes.clear()
    train_batched(configs, data, memory_budget=1, workers=1)   # below one member: one at a time
    assert chunk_sizes == [1] * 5


def test_workers_share_the_members_and_the_budget(chunk_sizes):
    data = make_classification()
    base = Config(hidden=(10,), epochs=1, batch_size=16)
    configs = [replace(base, seed=s) for s in range(5)]
    train_batched(configs, data, workers=2)
    assert sorted(chunk_sizes) == [2, 3]                   # one balanced chunk per worker
    chunk_sizes.clear()
    train_batched(configs, data, memory_budget=2 * estimate_member_bytes(base, data), workers=2)
    assert chunk_sizes == [1] * 5                          # two chunks run at once: each gets half the budget
    chunk_sizes.clear()
    train_batched(configs[:1], data, workers=4)
    assert chunk_sizes == [1]


@pytest.mark.parametrize("base", [
    Config(hidden=(12, 12), epochs=4, batch_size=16, patience=2),
    Config(hidden=(12,), epochs=3, batch_size=16, batch_norm=True, optimizer="sgd", momentum=0.9, lr=0.05),
    Config(hidden=(12,), epochs=3, batch_size=16, optimizer="adamw", label_smoothing=0.1),
    Config(hidden=(12, 12), epochs=3, batch_size=16, optimizer="sgd", lr=0.5, max_norm=0.5),
], ids=["mlp-early-stopping", "mlp-bn-sgd", "mlp-adamw", "mlp-max-norm"])
def test_results_do_not_depend_on_the_number_of_workers(base):
    """Why notebooks print the same numbers on any number of cores: each member's run is bit for bit the same."""
    data = make_classification()
    configs = [replace(base, seed=s, lr=base.lr * (1 + s % 2), weight_decay=1e-3 * (s % 3), l1=1e-4 * (s % 2),
                       dropout=0.2 * (s % 2)) for s in range(6)]
    one = train_batched(configs, data, workers=1)
    assert_identical_runs(one, train_batched(configs, data, workers=2))
    assert_identical_runs(one, train_batched(configs, data, workers=3))


# ---------------------------------------------------------------- any network of the layers it has rules for

def small_network(config: Config, n_inputs: int, n_outputs: int) -> nn.Module:
    """A model_fn of the layers train_batched runs, in an order build_model never uses."""
    torch.manual_seed(config.seed)
    return nn.Sequential(nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(n_inputs, 12), nn.GELU(),
                         nn.Sequential(nn.Linear(12, 6, bias=False), nn.BatchNorm1d(6, momentum=0.3, eps=1e-3)),
                         nn.Identity(), nn.Tanh(), nn.Linear(6, n_outputs))


def test_a_model_fns_network_of_these_layers_matches_fit():
    data = make_classification()
    configs = [Config(hidden=(4,), epochs=3, seed=s, dropout=p, patience=2) for s, p in enumerate([0.0, 0.3, 0.6])]
    for config, run in zip(configs, train_batched(configs, data, model_fn=small_network)):
        model = small_network(config, 8, 3)
        assert_same_run(run, (fit(model, data, config, progress=False), model))


@pytest.mark.parametrize("network, message", [
    (nn.Sequential(nn.Linear(4, 4), nn.ELU()), "'1' (ELU) has no rule in train_batched"),
    (nn.Sequential(nn.Linear(4, 4), nn.Flatten()), "'1' (Flatten) has no rule"),
    (nn.Sequential(nn.BatchNorm1d(4, momentum=None)), "BatchNorm1d with its default affine"),
    (build_model(Config(model="cnn", hidden=(4,)), 12, 3), "CNN1d computes its own forward"),
])
def test_layers_without_a_rule_are_named(network, message):
    ok, reason = can_train_batched(network)
    assert not ok and message in reason and "train_stacked" in reason


def test_the_course_mlp_has_a_rule_for_every_layer():
    config = Config(hidden=(8, 8), batch_norm=True, dropout=0.1, input_dropout=0.1, input_noise=0.1)
    assert can_train_batched(build_model(config, 8, 3))[0]


def random_layers_first(config: Config, n_inputs: int, n_outputs: int) -> nn.Module:
    """Noise then dropout (seed 0), dropout then noise (seed 1), or dropout alone (seed 2), then a linear layer."""
    torch.manual_seed(config.seed)
    noise, dropout = GaussianNoiseLayer(0.5), nn.Dropout(0.3)
    layers = [[noise, dropout], [dropout, noise], [dropout]][config.seed]
    return nn.Sequential(*layers, nn.Linear(n_inputs, n_outputs))


@pytest.mark.parametrize("seeds, groups", [((0, 1), [1, 1]), ((0, 2), [2]), ((1, 2), [2]), ((0, 1, 2), [2, 1])])
def test_members_train_together_when_their_draw_orders_agree(seeds, groups, monkeypatch):
    sizes, run = [], Members.run
    monkeypatch.setattr(Members, "run", lambda self: (sizes.append(len(self.configs)), run(self))[1])
    data = make_classification()
    configs = [Config(hidden=(4,), epochs=2, seed=s) for s in seeds]
    for config, result in zip(configs, train_batched(configs, data, workers=1, model_fn=random_layers_first)):
        model = random_layers_first(config, 8, 3)
        assert_same_run(result, (fit(model, data, config, progress=False), model))
    assert sizes == groups


# ---------------------------------------------------------------- stochastic members: statistics

def test_dropout_masks_drop_each_members_own_rate():
    data = make_classification()
    rates = [0.1, 0.5, 0.8, 0.0]
    configs = [Config(hidden=(8,), dropout=p, seed=s) for s, p in enumerate(rates)]
    models = [build_model(c, 8, 3) for c in configs]
    members = Members(configs, models, [History() for _ in configs], stack_splits([data]), threading.Event())
    layers = [next((m for m in model.modules() if isinstance(m, nn.Dropout)), None) for model in models]
    mask = members.draw("dropout", layers, (200, 500))          # (M, B, features), kept units scaled by 1/(1-p)
    dropped = (mask == 0).double().mean(dim=(1, 2))
    np.testing.assert_allclose(dropped.numpy(), rates, atol=0.01)
    for m, p in enumerate(rates):
        kept = mask[m][mask[m] != 0]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))
    assert members.draw("dropout", [None] * 4, (2, 3)) is None, "no member draws: nothing to apply"


def test_dropout_member_reaches_the_accuracy_of_its_sequential_run_over_seeds():
    data = make_classification(n_train=90, n_val=60)
    configs = [Config(hidden=(32,), dropout=0.5, input_noise=0.5, epochs=8, batch_size=15, lr=0.01, seed=s)
               for s in range(3)]
    runs = train_batched(configs, data)
    batched_acc = np.mean([h.val_acc[-1] for h, _ in runs])
    sequential_acc = np.mean([alone(c, data)[0].val_acc[-1] for c in configs])
    assert abs(batched_acc - sequential_acc) < 0.05


# ---------------------------------------------------------------- what can be batched

@pytest.mark.parametrize("field, value", [("model", "cnn"), ("hidden", (9,)), ("activation", "tanh"),
                                          ("batch_norm", True), ("optimizer", "sgd"), ("batch_size", 7),
                                          ("epochs", 3), ("penalize_biases", True), ("label_smoothing", 0.1)])
def test_can_batch_names_the_field_that_differs(field, value):
    base = Config(hidden=(8,))
    ok, reason = can_batch([base, replace(base, **{field: value})])
    assert not ok and field in reason


def test_can_batch_accepts_what_members_may_vary():
    base = Config(hidden=(8,))
    configs = [replace(base, seed=1, lr=0.1), replace(base, momentum=0.5, weight_decay=0.1, l1=0.1, l2=0.2),
               replace(base, dropout=0.3, input_dropout=0.1, input_noise=0.2),
               replace(base, patience=2, min_delta=0.1, restore_best=False)]
    ok, reason = can_batch([base, *configs])
    assert ok and "5 configuration(s)" in reason


@pytest.mark.parametrize("configs, message", [
    ([], "no configurations"),
    ([Config(), "not a config"], "course_utils.Config"),
    ([Config(model="cnn", hidden=(4,)), Config(model="cnn", hidden=(4,), input_dropout=0.1)], "input_dropout"),
])
def test_can_batch_refuses(configs, message):
    ok, reason = can_batch(configs)
    assert not ok and message in reason


def test_train_batched_rejects_what_fit_rejects():
    data = make_classification()
    with pytest.raises(ValueError, match="CNN1d computes its own forward: train it with train_stacked"):
        train_batched([Config(model="cnn", hidden=(4,))], make_classification(length=12))
    with pytest.raises(ValueError, match="cannot be trained as one batch: the configurations differ in epochs"):
        train_batched([Config(), Config(epochs=3)], data)
    no_val = Dataset(data.x_train, data.y_train, data.x_test, data.y_test)
    with pytest.raises(ValueError, match="needs a validation set"):
        train_batched([Config(hidden=(4,), patience=2)], no_val)
    with pytest.raises(ValueError, match="classification only"):
        train_batched([Config(hidden=(4,), label_smoothing=0.1)], make_regression())
    with pytest.raises(ValueError, match="memory_budget"):
        train_batched([Config(hidden=(4,))], data, memory_budget=0)
    for workers in (0, True, 1.5):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            train_batched([Config(hidden=(4,))], data, workers=workers)
    with pytest.raises(TypeError, match="Dataset"):
        train_batched([Config(hidden=(4,))], data.x_train)
