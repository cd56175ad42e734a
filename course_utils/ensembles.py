"""Ensembles: combining members' predictions, and what their disagreement says.

A deep ensemble (Lakshminarayanan et al. 2017) is several networks trained
from different random initializations; it predicts the *mean of the members'
class probabilities*. Averaging probabilities, not logits, is what makes the
ensemble a mixture: its confidence drops wherever the members disagree.
Monte-Carlo dropout (Gal & Ghahramani 2016) makes members out of one network
by keeping dropout on at prediction time. Arrays of members' probabilities
have shape (members, samples, classes); logarithms are natural.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .calibration import softmax
from .training import predict
from .validation import check_array, check_labels, check_positive_int, check_same_length

__all__ = ["member_probabilities", "average_probabilities", "negative_log_likelihood", "entropy", "disagreement",
           "mc_dropout_probabilities"]

TINY = 1e-12   # floor of a probability under a logarithm: log(0) would be -inf


def _check_members(member_probabilities) -> np.ndarray:
    probabilities = check_array(member_probabilities, "member_probabilities", ndim=3)
    if probabilities.min() < 0 or not np.allclose(probabilities.sum(axis=2), 1.0, atol=1e-4):
        raise ValueError("member_probabilities must hold non-negative rows that sum to 1, shaped "
                         "(members, samples, classes); pass logits through softmax first")
    return probabilities


def member_probabilities(models: Iterable[nn.Module], x: npt.ArrayLike) -> np.ndarray:
    """Each model's softmax probabilities on ``x`` in eval mode: shape (members, samples, classes).

    ``x`` holds the inputs the models take: (samples, features) or (samples, channels, length).
    """
    models = list(models)
    if not models:
        raise ValueError("models is empty: give at least one trained network")
    return np.stack([softmax(predict(model, x)) for model in models])


def average_probabilities(member_probabilities: npt.ArrayLike) -> np.ndarray:
    """The ensemble's prediction: the mean of the members' probabilities, shape (samples, classes)."""
    return _check_members(member_probabilities).mean(axis=0)


def negative_log_likelihood(probabilities: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean −log p(true class) of rows of probabilities (samples, classes); probabilities are floored at 1e-12.

    ``labels`` are class indices, shape (samples,).
    """
    probabilities = check_array(probabilities, "probabilities", ndim=2)
    labels = check_labels(labels, "labels")
    check_same_length(probabilities=probabilities, labels=labels)
    if labels.max() >= probabilities.shape[1]:
        raise ValueError(f"labels go up to {labels.max()} but probabilities have only "
                         f"{probabilities.shape[1]} columns (classes)")
    return float(-np.log(np.maximum(probabilities[np.arange(len(labels)), labels], TINY)).mean())


def entropy(probabilities: npt.ArrayLike) -> np.ndarray:
    """Entropy −Σ_k p_k log p_k of each row (the last axis holds the classes): that axis is summed away."""
    probabilities = np.asarray(probabilities, dtype=float)
    return -(probabilities * np.log(np.maximum(probabilities, TINY))).sum(axis=-1)


def disagreement(member_probabilities: npt.ArrayLike) -> np.ndarray:
    """Per sample, the members' disagreement: entropy of their mean − mean of their entropies.

    This is the mutual information between the prediction and the member
    (Depeweg et al. 2018), equal to the mean KL divergence of each member from
    the ensemble's mean. It is 0 when all members agree, whatever their
    confidence, so it separates "the members disagree" from "every member is unsure".
    ``member_probabilities`` is (members, samples, classes); the result is (samples,).
    """
    probabilities = _check_members(member_probabilities)
    return entropy(probabilities.mean(axis=0)) - entropy(probabilities).mean(axis=0)


def mc_dropout_probabilities(model: nn.Module, x: npt.ArrayLike, passes: int = 20, seed: int = 0) -> np.ndarray:
    """Softmax probabilities of ``passes`` forward passes with dropout on: shape (passes, samples, classes).

    Only the dropout layers are switched to training mode (batch norm keeps its
    stored statistics), and the masks come from a generator seeded with
    ``seed`` inside ``torch.random.fork_rng``, so the caller's random stream is
    left alone and the passes are reproducible. The model's modes are restored.
    """
    passes = check_positive_int(passes, "passes")
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if not dropouts:
        raise ValueError("the model has no dropout layer: every pass would be the same prediction")
    inputs = torch.as_tensor(check_array(x, "x", ndim=(2, 3)), dtype=torch.float32)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for layer in dropouts:
            layer.train()
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)
            return np.stack([model(inputs).softmax(dim=1).numpy() for _ in range(passes)])
    finally:
        for module, training in modes.items():
            module.train(training)
