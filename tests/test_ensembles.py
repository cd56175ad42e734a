"""course_utils.ensembles against independent computations (scipy, torch, sklearn, hand-worked cases)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import rel_entr
from scipy.special import softmax as scipy_softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import log_loss
from torch import nn

from course_utils.ensembles import (average_probabilities, disagreement, entropy, mc_dropout_probabilities,
                                    member_probabilities, negative_log_likelihood)


def _members(seed=0, shape=(5, 30, 4)):
    return scipy_softmax(np.random.default_rng(seed).normal(0, 2, shape), axis=-1)


def test_member_probabilities_are_each_models_softmax_in_eval_mode():
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)) for _ in range(3)]
    x = np.random.default_rng(1).normal(size=(10, 6)).astype(np.float32)
    stacked = member_probabilities(models, x)
    assert stacked.shape == (3, 10, 3)
    for model, probabilities in zip(models, stacked):
        with torch.no_grad():
            expected = model.eval()(torch.as_tensor(x)).softmax(1).numpy()
        np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)


def test_average_is_the_mixture_and_differs_from_averaging_logits():
    logits = np.random.default_rng(2).normal(0, 3, (4, 20, 5))
    mixture = average_probabilities(scipy_softmax(logits, axis=-1))
    np.testing.assert_allclose(mixture, torch.as_tensor(logits).softmax(-1).mean(0).numpy(), atol=1e-12)
    assert not np.allclose(mixture, scipy_softmax(logits.mean(0), axis=-1), atol=1e-3)


def test_two_confident_members_that_disagree_average_to_half_and_half():
    members = np.array([[[0.99, 0.01]], [[0.01, 0.99]]])
    np.testing.assert_allclose(average_probabilities(members), [[0.5, 0.5]])
    np.testing.assert_allclose(disagreement(members), [np.log(2) - scipy_entropy([0.99, 0.01])])


def test_negative_log_likelihood_matches_sklearn_log_loss():
    probabilities = _members(3, (1, 50, 6))[0]
    labels = np.random.default_rng(4).integers(0, 6, 50)
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(
        log_loss(labels, probabilities, labels=range(6)), rel=1e-10)


def test_negative_log_likelihood_of_a_zero_probability_is_large_but_finite():
    value = negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1]))
    assert value == pytest.approx(-np.log(1e-12))


def test_negative_log_likelihood_rejects_labels_beyond_the_columns():
    with pytest.raises(ValueError, match="labels go up to"):
        negative_log_likelihood(np.full((2, 2), 0.5), np.array([0, 2]))


def test_entropy_matches_scipy_and_treats_zero_as_zero():
    probabilities = _members(5, (1, 8, 5))[0]
    np.testing.assert_allclose(entropy(probabilities), scipy_entropy(probabilities, axis=1), rtol=1e-12)
    np.testing.assert_allclose(entropy(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])), [0.0, np.log(2)], atol=1e-10)


def test_disagreement_is_the_mean_kl_of_the_members_from_their_mean():
    members = _members(6)
    expected = rel_entr(members, members.mean(0)).sum(-1).mean(0)
    np.testing.assert_allclose(disagreement(members), expected, rtol=1e-9, atol=1e-12)


def test_disagreement_is_zero_for_identical_members_however_unsure():
    unsure = np.tile(np.full((1, 3, 4), 0.25), (5, 1, 1))
    np.testing.assert_allclose(disagreement(unsure), 0.0, atol=1e-12)
    assert (entropy(unsure.mean(0)) > 1.3).all()


def test_disagreement_rejects_rows_that_are_not_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        disagreement(np.random.default_rng(7).normal(size=(3, 4, 5)))
    with pytest.raises(ValueError):
        disagreement(np.full((4, 5), 0.2))   # one member's table: the members' axis is missing


def _dropout_net(p=0.5, batch_norm=False):
    torch.manual_seed(0)
    layers = [nn.Linear(6, 32)] + ([nn.BatchNorm1d(32)] if batch_norm else []) + [nn.ReLU(), nn.Dropout(p),
                                                                               nn.Linear(32, 3)]
    return nn.Sequential(*layers)


def test_mc_dropout_passes_differ_average_near_the_eval_prediction_and_are_reproducible():
    model = _dropout_net(p=0.2).eval()
    x = np.random.default_rng(8).normal(size=(40, 6)).astype(np.float32)
    passes = mc_dropout_probabilities(model, x, passes=200, seed=3)
    assert passes.shape == (200, 40, 3)
    assert not np.allclose(passes[0], passes[1])
    np.testing.assert_allclose(passes.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(passes, mc_dropout_probabilities(model, x, passes=200, seed=3))
    assert not np.array_equal(passes, mc_dropout_probabilities(model, x, passes=200, seed=4))
    with torch.no_grad():
        deterministic = model(torch.as_tensor(x)).softmax(1).numpy()
    assert np.abs(passes.mean(0) - deterministic).mean() < 0.05


def test_mc_dropout_with_p_zero_layers_repeats_the_eval_prediction():
    model = _dropout_net(p=0.0)
    x = np.random.default_rng(9).normal(size=(5, 6)).astype(np.float32)
    passes = mc_dropout_probabilities(model, x, passes=3)
    with torch.no_grad():
        expected = model.eval()(torch.as_tensor(x)).softmax(1).numpy()
    np.testing.assert_allclose(passes, np.broadcast_to(expected, passes.shape), rtol=1e-6)


def test_mc_dropout_keeps_batch_norm_in_eval_mode_and_restores_modes_and_random_stream():
    model = _dropout_net(batch_norm=True)
    model.train()
    model[1].running_mean.fill_(0.3)
    before = model[1].running_mean.clone()
    x = np.random.default_rng(10).normal(size=(16, 6)).astype(np.float32)
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    mc_dropout_probabilities(model, x, passes=4, seed=0)
    assert torch.equal(torch.rand(3), expected_next)           # the caller's stream is untouched
    assert torch.equal(model[1].running_mean, before)          # batch norm used, not updated, its statistics
    assert all(m.training for m in model.modules())            # the modes are as they were


def test_mc_dropout_needs_a_dropout_layer():
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_dropout_probabilities(nn.Linear(4, 2), np.zeros((3, 4), np.float32))
