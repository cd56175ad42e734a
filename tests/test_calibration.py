"""Expected calibration error and reliability curves, checked against a hand-computed example."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.calibration import expected_calibration_error, plot_reliability, reliability_curve, softmax

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
