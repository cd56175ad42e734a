"""Expected calibration error and reliability curves, checked against a hand-computed example."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.calibration import (expected_calibration_error, fit_temperature, plot_reliability,
                                     reliability_curve, softmax, temperature_nll)

# Four predictions over three classes, five bins of width 0.2:
#   A conf 0.50 (bin 0.4–0.6) correct, B conf 0.35 (bin 0.2–0.4) wrong,
#   C conf 0.90 and D conf 0.85 (bin 0.8–1.0): one right, one wrong.
PROBS = np.array([[0.50, 0.30, 0.20], [0.35, 0.33, 0.32], [0.90, 0.05, 0.05], [0.10, 0.85, 0.05]])
LABELS = np.array([0, 1, 0, 2])
# ECE by hand: 1/4·|0 − 0.35| + 1/4·|1 − 0.5| + 2/4·|0.5 − 0.875| = 0.0875 + 0.125 + 0.1875 = 0.4
HAND_ECE = 0.4


def test_ece_matches_hand_computation():
    assert expected_calibration_error(PROBS, LABELS, n_bins=5) == pytest.approx(HAND_ECE, abs=1e-12)


def test_reliability_curve_bins_by_hand():
    curve = reliability_curve(PROBS, LABELS, n_bins=5)
    np.testing.assert_allclose(curve.edges, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(curve.counts, [0, 1, 1, 0, 2])
    np.testing.assert_allclose(curve.accuracy[[1, 2, 4]], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(curve.confidence[[1, 2, 4]], [0.35, 0.5, 0.875])
    assert np.isnan(curve.accuracy[0]) and np.isnan(curve.confidence[3])


def test_a_bin_edge_belongs_to_the_lower_bin():
    curve = reliability_curve(np.array([[0.6, 0.4], [0.4, 0.6]]), np.array([0, 0]), n_bins=5)
    np.testing.assert_array_equal(curve.counts, [0, 0, 2, 0, 0])  # both confidences are 0.6: bin (0.4, 0.6]


def test_perfectly_calibrated_and_maximally_overconfident():
    # confidence 0.75 with 3 of 4 right: calibrated
    probs = np.tile([0.75, 0.25], (4, 1))
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    # confidence 1 and always wrong: ECE 1
    assert expected_calibration_error(np.tile([1.0, 0.0], (3, 1)), np.array([1, 1, 1])) == pytest.approx(1.0)


def test_one_bin_gives_the_gap_between_mean_confidence_and_accuracy():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(0, 2, (200, 4)))
    labels = rng.integers(0, 4, 200)
    expected = abs(np.mean(probs.argmax(1) == labels) - probs.max(1).mean())
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(expected)


def test_softmax_agrees_with_torch_and_is_stable():
    logits = np.random.default_rng(1).normal(0, 5, (10, 6))
    np.testing.assert_allclose(softmax(logits), torch.softmax(torch.tensor(logits), 1).numpy(), atol=1e-12)
    big = softmax(np.array([[1000.0, 0.0], [-1000.0, 0.0]]))
    assert np.all(np.isfinite(big)) and big[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("probs, labels, match", [
    (np.array([[0.5, 0.6]]), np.array([0]), "sum to 1"),
    (np.array([[1.5, -0.5]]), np.array([0]), "non-negative"),
    (np.array([[0.5, 0.5]]), np.array([2]), "only 2 columns"),
    (np.array([[0.5, 0.5]]), np.array([0, 1]), "same number of samples"),
    (np.array([0.5, 0.5]), np.array([0]), "2-D"),
    (np.array([[0.5, 0.5]]), np.array([0.5]), "class indices"),
])
def test_rejects_bad_input(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(probs, labels)


def test_rejects_bad_bins():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(PROBS, LABELS, n_bins=0)


def test_plot_reliability_shows_the_ece_in_its_legend():
    ax = plot_reliability(PROBS, LABELS, n_bins=5, label="model")
    assert ax.get_legend().get_texts()[0].get_text() == "model: ECE 0.400"


def test_temperature_nll_by_hand_and_at_temperature_one():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 0])
    # −log σ(2) and −log σ(−1), averaged; at T = 2 the logits halve
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(1.0))) / 2
    assert temperature_nll(logits, labels, 1.0) == pytest.approx(expected)
    assert temperature_nll(logits, labels, 2.0) == pytest.approx(temperature_nll(logits / 2, labels, 1.0))
    probs = softmax(logits)
    assert temperature_nll(logits, labels, 1.0) == pytest.approx(-np.mean(np.log(probs[[0, 1], labels])))


def _calibrated_sample(seed, n=4000, k=5):
    """Logits and labels drawn from softmax(logits): calibrated by construction, so the best T is about 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, k))
    probs = softmax(logits)
    labels = np.array([rng.choice(k, p=p) for p in probs])
    return logits, labels


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    logits, labels = _calibrated_sample(0)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)
    assert fit_temperature(3 * logits, labels) == pytest.approx(3 * fit_temperature(logits, labels), rel=1e-5)
    assert fit_temperature(logits / 2, labels) == pytest.approx(fit_temperature(logits, labels) / 2, rel=1e-5)


def test_fit_temperature_is_the_minimum_of_a_fine_grid():
    logits, labels = _calibrated_sample(1, n=500)
    logits = 2.5 * logits
    grid = np.exp(np.linspace(np.log(0.5), np.log(10), 4001))
    best = grid[np.argmin([temperature_nll(logits, labels, t) for t in grid])]
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(best, rel=2e-3)
    assert temperature_nll(logits, labels, fitted) <= min(temperature_nll(logits, labels, t) for t in grid) + 1e-9


def test_temperature_scaling_keeps_the_predicted_class_and_lowers_the_ece_of_overconfident_logits():
    logits, labels = _calibrated_sample(2)
    hot = 4 * logits
    t = fit_temperature(hot, labels)
    np.testing.assert_array_equal(softmax(hot / t).argmax(1), hot.argmax(1))
    assert expected_calibration_error(softmax(hot / t), labels) < expected_calibration_error(softmax(hot), labels) / 3


def test_fit_temperature_stays_inside_its_bounds():
    # every prediction right: the NLL keeps falling as T → 0, so the search stops at the lower bound
    logits = np.array([[0.5, 0.0], [0.0, 0.5]])
    assert fit_temperature(logits, np.array([0, 1]), low=0.1) == pytest.approx(0.1, rel=1e-3)
    # every prediction wrong: the NLL falls as T grows, up to the upper bound
    assert fit_temperature(logits, np.array([1, 0]), high=5.0) == pytest.approx(5.0, rel=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: temperature_nll(np.zeros((2, 3)), np.array([0, 1]), 0.0), "temperature"),
    (lambda: temperature_nll(np.zeros((2, 3)), np.array([0, 3]), 1.0), "only 3 columns"),
    (lambda: fit_temperature(np.zeros(3), np.array([0, 1, 2])), "2-D"),
    (lambda: fit_temperature(np.zeros((2, 3)), np.array([0])), "same number of samples"),
    (lambda: fit_temperature(np.zeros((2, 3)), np.array([0, 1]), low=2.0, high=1.0), "high"),
])
def test_temperature_functions_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
