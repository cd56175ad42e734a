"""The contract both engines keep, from members.Members: each member's run as fit would run it.

Every test runs on ``train_batched`` (batched.py's layer rules) and on ``train_stacked`` (vmap): early stopping
and the restoring of the best weights per member, divergence, each member's own data, frozen parameters,
progress, Ctrl-C and the worker threads. Runs of several epochs are held to 1e-4 against fit (rounding
differences between batched and single matrix products grow with every step).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import alone, assert_same_run, make_classification, make_regression, noisy_labels
from course_utils import Config, build_model
from course_utils.batched import train_batched
from course_utils.members import Members
from course_utils.scheduling import estimate_member_bytes
from course_utils.stacked import train_stacked


@pytest.fixture(params=[train_batched, train_stacked], ids=["batched", "stacked"])
def engine(request):
    return request.param


# ---------------------------------------------------------------- early stopping, divergence

def test_early_stopping_per_member_matches_fit(engine):
    data = noisy_labels()
    base = Config(hidden=(32,), epochs=25, batch_size=10, lr=0.05)
    configs = [replace(base, patience=1), replace(base, seed=1, patience=2),
               replace(base, seed=2, patience=3, restore_best=False), replace(base, seed=3, patience=2, min_delta=0.05),
               replace(base, seed=4)]
    runs = engine(configs, data)
    for config, run in zip(configs, runs, strict=True):
        assert_same_run(run, alone(config, data))
    stops = [history.epochs for history, _ in runs]
    assert len(set(stops)) >= 3 and stops[-1] == 25          # members stopped at different epochs, one ran on
    assert sum(history.stopped_early for history, _ in runs) >= 3
    for config, (history, model) in zip(configs, runs):
        if history.stopped_early and config.restore_best:
            for key, value in model.state_dict().items():
                assert torch.equal(value, history.best_state[key])


def test_a_diverging_member_is_frozen_without_harming_the_others(engine):
    data = make_regression(n_train=64)
    base = Config(hidden=(32,) * 4, activation="tanh", optimizer="sgd", batch_size=16, epochs=4)
    configs = [replace(base, lr=1e-3), replace(base, seed=1, lr=100.0), replace(base, seed=2, lr=1e-2)]
    runs = engine(configs, data)
    expected = alone(configs[1], data)[0]
    assert runs[1][0].diverged and expected.diverged and runs[1][0].epochs == expected.epochs < 4
    assert all(math.isfinite(v) for v in runs[1][0].train_loss)
    for i in (0, 2):
        assert_same_run(runs[i], alone(configs[i], data))


def test_divergence_on_the_last_step_is_reported_like_fit(engine):
    data = make_regression(n_train=64)
    config = Config(hidden=(32,) * 4, optimizer="sgd", lr=1e6, batch_size=64, epochs=1)
    (history, _), (sane, _) = engine([config, replace(config, lr=1e-3)], data)
    assert history.diverged and not sane.diverged and sane.epochs == 1


# ---------------------------------------------------------------- each member's data and parameters

def test_members_with_their_own_data_match_fit_on_theirs(engine):
    configs = [Config(hidden=(10,), epochs=2, batch_size=16, lr=0.01, seed=s, dropout=0.2) for s in range(3)]
    datasets = [make_classification(seed=s) for s in (4, 5, 6)]
    for config, dataset, run in zip(configs, datasets, engine(configs, datasets, workers=1), strict=True):
        assert_same_run(run, alone(config, dataset))
    with pytest.raises(ValueError, match="equal sizes"):
        engine(configs[:2], [datasets[0], make_classification(n_train=50)])
    with pytest.raises(ValueError, match="one per configuration"):
        engine(configs, datasets[:2])


def test_frozen_parameters_stay_as_they_are_as_in_fit(engine):
    def model_fn(config, n_inputs, n_outputs):
        torch.manual_seed(config.seed)
        model = nn.Sequential(nn.Linear(n_inputs, 16), nn.ReLU(), nn.Linear(16, n_outputs))
        model[0].weight.requires_grad_(False)   # a frozen layer, as when fine-tuning
        return model
    data = make_classification()
    configs = [Config(epochs=2, batch_size=16, lr=0.01, l2=0.1, seed=s) for s in range(3)]
    for config, run in zip(configs, engine(configs, data, model_fn=model_fn), strict=True):
        assert_same_run(run, alone(config, data, model_fn))
        torch.testing.assert_close(run[1][0].weight, model_fn(config, 8, 3)[0].weight)


# ---------------------------------------------------------------- progress, Ctrl-C, threads

def test_progress_is_reported_per_epoch_and_adds_up_to_every_members_epochs(engine):
    data = make_classification()
    base = Config(hidden=(8,), epochs=6, batch_size=20, patience=1)
    configs = [replace(base, seed=s, lr=0.05 * (s + 1)) for s in range(4)]
    calls = []
    runs = engine(configs, data, workers=2, progress=calls.append)
    assert any(history.stopped_early for history, _ in runs)   # their unused epochs are counted too
    assert sum(calls) == 4 * 6 and min(calls) > 0
    assert len(calls) >= 6                                     # at least once per epoch of each worker's group


@pytest.fixture
def interrupt_on_epoch(monkeypatch):
    """Make Members.train_epoch raise KeyboardInterrupt on its n-th call."""

    def install(n):
        real, calls = Members.train_epoch, []

        def flaky(self):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real(self)

        monkeypatch.setattr(Members, "train_epoch", flaky)
        return calls

    return install


def test_ctrl_c_keeps_every_members_history_and_best_weights(engine, interrupt_on_epoch, capsys):
    interrupt_on_epoch(3)
    data = make_classification()
    base = Config(hidden=(8,), epochs=10, batch_size=20, lr=0.05)
    configs = [base, replace(base, seed=1, patience=5), replace(base, seed=2, restore_best=False)]
    runs = engine(configs, data, workers=1)
    assert "Training interrupted" in capsys.readouterr().out
    for config, (history, model) in zip(configs, runs):
        assert history.interrupted and history.epochs == 2 and len(history.val_loss) == 2
        expected, reference = alone(replace(config, epochs=2), data)
        np.testing.assert_allclose(history.val_loss, expected.val_loss, atol=1e-4)
        if config.restore_best:   # as fit after Ctrl-C: back to the best epoch's weights
            assert all(torch.equal(v, history.best_state[k]) for k, v in model.state_dict().items())
        else:                     # the last weights, those of a 2-epoch fit
            for key, value in model.state_dict().items():
                np.testing.assert_allclose(value, reference.state_dict()[key], atol=1e-4)


def test_ctrl_c_in_the_first_group_leaves_later_members_untrained_but_reported(engine, interrupt_on_epoch, capsys):
    interrupt_on_epoch(2)
    data = make_classification()
    base = Config(hidden=(8,), epochs=5, batch_size=20)
    configs = [replace(base, seed=s) for s in range(4)]
    runs = engine(configs, data, memory_budget=2 * estimate_member_bytes(base, data), workers=1)
    assert [h.epochs for h, _ in runs] == [1, 1, 0, 0]
    assert all(h.interrupted for h, _ in runs)
    untouched = build_model(configs[3], 8, 3)
    assert all(torch.equal(a, b) for a, b in zip(runs[3][1].state_dict().values(), untouched.state_dict().values()))
    assert capsys.readouterr().out.count("\n") == 1


def test_ctrl_c_in_one_worker_stops_every_worker_and_keeps_what_each_member_learned(engine, interrupt_on_epoch,
                                                                                     capsys):
    interrupt_on_epoch(3)   # the third epoch to start, in either worker
    data = make_classification()
    base = Config(hidden=(8,), epochs=300, batch_size=20, lr=0.05)
    configs = [replace(base, seed=s) for s in range(4)]
    runs = engine(configs, data, workers=2)
    assert capsys.readouterr().out.count("Training interrupted") == 1
    for config, (history, model) in zip(configs, runs):
        assert history.interrupted and history.epochs < config.epochs
        assert len(history.train_loss) == len(history.val_loss) == history.epochs
        if history.epochs:   # back to its best epoch's weights, as fit after Ctrl-C
            assert all(torch.equal(v, history.best_state[k]) for k, v in model.state_dict().items())


def test_workers_leave_torchs_thread_count_as_it_was(engine):
    data = make_classification()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        engine([Config(hidden=(4,), epochs=1, seed=s) for s in range(2)], data, workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
