"""Calibration: does a classifier's confidence match how often it is right?

A model is calibrated when, among the predictions it makes with confidence
0.8, about 80 % are correct. Predictions are grouped into equal-width bins of
confidence; the expected calibration error (ECE, Naeini et al. 2015; Guo et
al. 2017) is the average |accuracy − confidence| over bins, weighted by how
many predictions fall in each. Temperature scaling (Guo et al. 2017) divides
a trained network's logits by one number T, fitted on held-out data by
minimizing the negative log-likelihood: it changes confidence, never the
predicted class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .validation import check_array, check_labels, check_number, check_positive_int, check_same_length

if TYPE_CHECKING:   # matplotlib is imported only when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.typing import ColorType

__all__ = ["softmax", "temperature_nll", "fit_temperature", "ReliabilityCurve", "reliability_curve",
           "expected_calibration_error", "plot_reliability"]


def softmax(logits: npt.ArrayLike) -> np.ndarray:
    """Class probabilities from logits (n_samples, n_classes), computed stably."""
    logits = check_array(logits, "logits", ndim=2)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _check_logits(logits, labels):
    logits = check_array(logits, "logits", ndim=2)
    labels = check_labels(labels, "labels")
    check_same_length(logits=logits, labels=labels)
    if labels.max() >= logits.shape[1]:
        raise ValueError(f"labels go up to {labels.max()} but logits have only {logits.shape[1]} columns (classes)")
    return logits, labels


def temperature_nll(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / temperature).

    ``logits`` is (n_samples, n_classes) and ``labels`` holds class indices, shape (n_samples,).
    """
    logits, labels = _check_logits(logits, labels)
    check_number(temperature, "temperature", low=0.0, low_inclusive=False)
    scaled = logits / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature T in [low, high] that minimizes ``temperature_nll`` on held-out logits and labels.

    Fit it on validation data, never on the test set. A bounded scalar search over log T
    (``scipy.optimize.minimize_scalar``); the NLL is convex in 1/T, so the minimum is unique.
    T > 1 softens over-confident predictions; T < 1 sharpens under-confident ones.
    ``logits`` and ``labels`` are shaped as for ``temperature_nll``.
    """
    from scipy.optimize import minimize_scalar
    logits, labels = _check_logits(logits, labels)
    check_number(low, "low", low=0.0, low_inclusive=False)
    check_number(high, "high", low=low, low_inclusive=False)
    result = minimize_scalar(lambda log_t: temperature_nll(logits, labels, float(np.exp(log_t))),
                             bounds=(np.log(low), np.log(high)), method="bounded",
                             options={"xatol": 1e-8})
    return float(np.exp(result.x))


def _check_probabilities(probabilities, labels):
    probabilities = check_array(probabilities, "probabilities", ndim=2)
    labels = check_labels(labels, "labels")
    check_same_length(probabilities=probabilities, labels=labels)
    if probabilities.min() < 0 or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probabilities must be non-negative rows that sum to 1; "
                         "pass logits through course_utils.calibration.softmax first")
    if labels.max() >= probabilities.shape[1]:
        raise ValueError(f"labels go up to {labels.max()} but probabilities have only "
                         f"{probabilities.shape[1]} columns (classes)")
    return probabilities, labels


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per confidence bin: mean confidence, accuracy and number of predictions (empty bins hold NaN and 0)."""

    edges: np.ndarray       # n_bins + 1 bin edges from 0 to 1
    confidence: np.ndarray  # mean top-class probability in each bin
    accuracy: np.ndarray    # fraction of correct top-class predictions in each bin
    counts: np.ndarray      # predictions in each bin


def reliability_curve(probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10) -> ReliabilityCurve:
    """Bin predictions by confidence (their top-class probability) into ``n_bins`` equal-width bins.

    Bins are ``(edge[b], edge[b+1]]``, with the first one closed on the left. ``probabilities`` is
    (n_samples, n_classes), rows summing to 1, and ``labels`` (n_samples,); each field of the curve has
    one value per bin (``edges`` one more).
    """
    probabilities, labels = _check_probabilities(probabilities, labels)
    n_bins = check_positive_int(n_bins, "n_bins")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / counts
    return ReliabilityCurve(edges, mean_confidence, accuracy, counts)


def expected_calibration_error(probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10) -> float:
    """ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b| over non-empty confidence bins; 0 is perfect."""
    curve = reliability_curve(probabilities, labels, n_bins)
    filled = curve.counts > 0
    weights = curve.counts[filled] / curve.counts.sum()
    return float(np.sum(weights * np.abs(curve.accuracy[filled] - curve.confidence[filled])))


def plot_reliability(probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10, ax: Axes | None = None,
                     label: str = "", color: ColorType | None = None) -> Axes:
    """Reliability diagram: accuracy against confidence per bin; the diagonal is perfect calibration.

    Points below the diagonal are over-confident bins. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    curve = reliability_curve(probabilities, labels, n_bins)
    ece = expected_calibration_error(probabilities, labels, n_bins)
    ax = ax if ax is not None else plt.subplots()[1]
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    filled = curve.counts > 0
    ax.plot(curve.confidence[filled], curve.accuracy[filled], marker="o", markersize=4, color=color,
            label=f"{label + ': ' if label else ''}ECE {ece:.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-class probability)", ylabel="accuracy")
    ax.legend(loc="upper left")
    return ax
