"""Notebook 11: the ensemble's probabilities, the expected calibration error, the AUROC, the disagreement."""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import rel_entr, softmax
from scipy.stats import rankdata

from course_utils.checks.ensembles import (check_auroc, check_disagreement, check_ensemble_probabilities,
                                           check_expected_calibration_error)

from . import Exercise, Wrong

# --- 11.1 ensemble_probabilities(member_logits) ---


def ensemble_probabilities(member_logits):
    shifted = member_logits - member_logits.max(axis=2, keepdims=True)
    exponentials = np.exp(shifted)
    return (exponentials / exponentials.sum(axis=2, keepdims=True)).mean(axis=0)


def with_scipy(member_logits):
    return softmax(member_logits, axis=-1).mean(axis=0)


def with_torch(member_logits):
    return torch.as_tensor(member_logits).softmax(dim=-1).mean(dim=0)


def averaged_logits(member_logits):
    return softmax(member_logits.mean(axis=0), axis=-1)


def geometric_mean(member_logits):
    log_mean = np.log(softmax(member_logits, axis=-1)).mean(axis=0)
    return softmax(log_mean, axis=-1)


def softmax_over_members(member_logits):
    return softmax(member_logits, axis=0).mean(axis=0)


def not_averaged(member_logits):
    return softmax(member_logits, axis=-1)


def unstable(member_logits):
    with np.errstate(over="ignore", invalid="ignore"):   # the overflow is the mistake the checker must name
        exponentials = np.exp(member_logits)
        return (exponentials / exponentials.sum(axis=2, keepdims=True)).mean(axis=0)


def shifted_in_place(member_logits):
    member_logits -= member_logits.max(axis=2, keepdims=True)
    return softmax(member_logits, axis=-1).mean(axis=0)


def as_list(member_logits):
    return softmax(member_logits, axis=-1).mean(axis=0).tolist()


# --- 11.2 expected_calibration_error(probabilities, labels, n_bins) ---

def calibration_error(probabilities, labels, n_bins):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def _bins(probabilities, labels, n_bins):
    """Per non-empty bin (left-closed bins, the other valid edge convention): weight, accuracy, confidence."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum(np.digitize(confidence, np.linspace(0, 1, n_bins + 1)) - 1, n_bins - 1)
    return [((which == b).mean(), correct[which == b].mean(), confidence[which == b].mean())
            for b in range(n_bins) if (which == b).any()]


def with_digitize(probabilities, labels, n_bins):
    return sum(w * abs(a - c) for w, a, c in _bins(probabilities, labels, n_bins))


def torch_version(probabilities, labels, n_bins):
    p = torch.as_tensor(probabilities)
    confidence, predicted = p.max(dim=1)
    correct = (predicted == torch.as_tensor(labels)).double()
    which = (confidence * n_bins).ceil().long().clamp(1, n_bins) - 1
    counts = torch.bincount(which, minlength=n_bins).double()
    gaps = (torch.bincount(which, correct, n_bins) - torch.bincount(which, confidence, n_bins)).abs()
    return (gaps.sum() / counts.sum()).reshape(())


def unweighted(probabilities, labels, n_bins):
    return float(np.mean([abs(a - c) for _, a, c in _bins(probabilities, labels, n_bins)]))


def signed(probabilities, labels, n_bins):
    return float(abs(sum(w * (a - c) for w, a, c in _bins(probabilities, labels, n_bins))))


def maximum_gap(probabilities, labels, n_bins):
    return float(max(abs(a - c) for _, a, c in _bins(probabilities, labels, n_bins)))


def true_class_probability(probabilities, labels, n_bins):
    confidence = probabilities[np.arange(len(labels)), labels]
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return float(sum((which == b).mean() * abs(correct[which == b].mean() - confidence[which == b].mean())
                     for b in range(n_bins) if (which == b).any()))


def ten_bins_always(probabilities, labels, n_bins):
    return with_digitize(probabilities, labels, 10)


def sorts_in_place(probabilities, labels, n_bins):
    value = with_digitize(probabilities, labels, n_bins)
    probabilities.sort(axis=1)
    return value


def per_bin_array(probabilities, labels, n_bins):
    return np.array([w * abs(a - c) for w, a, c in _bins(probabilities, labels, n_bins)])


# --- 11.3 auroc(scores, is_positive) ---

def auroc(scores, is_positive):
    difference = scores[is_positive][:, None] - scores[~is_positive][None, :]
    return float((difference > 0).mean() + 0.5 * (difference == 0).mean())


def mann_whitney(scores, is_positive):
    ranks = rankdata(scores)
    positives, negatives = is_positive.sum(), (~is_positive).sum()
    return (ranks[is_positive].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def ties_ignored(scores, is_positive):
    return float((scores[is_positive][:, None] > scores[~is_positive][None, :]).mean())


def ties_as_wins(scores, is_positive):
    return float((scores[is_positive][:, None] >= scores[~is_positive][None, :]).mean())


def reversed_direction(scores, is_positive):
    return 1 - auroc(scores, is_positive)


def accuracy_at_median(scores, is_positive):
    return float(((scores > np.median(scores)) == is_positive).mean())


def sorts_scores_in_place(scores, is_positive):
    value = auroc(scores, is_positive)
    scores.sort()
    return value


def roc_curve_returned(scores, is_positive):
    thresholds = np.sort(np.unique(scores))[::-1]
    return ([float((scores[~is_positive] >= t).mean()) for t in thresholds],
            [float((scores[is_positive] >= t).mean()) for t in thresholds])


# --- 11.4 disagreement(member_probabilities) ---

def _entropy(p):
    return -(p * np.log(np.maximum(p, 1e-12))).sum(axis=-1)


def disagreement(member_probabilities):
    return _entropy(member_probabilities.mean(axis=0)) - _entropy(member_probabilities).mean(axis=0)


def mean_kl(member_probabilities):
    return rel_entr(member_probabilities, member_probabilities.mean(axis=0)).sum(axis=-1).mean(axis=0)


def torch_disagreement(member_probabilities):
    p = torch.as_tensor(member_probabilities)
    entropy = lambda q: -torch.special.xlogy(q, q).sum(-1)  # noqa: E731
    return entropy(p.mean(0)) - entropy(p).mean(0)


def entropy_of_mean(member_probabilities):
    return _entropy(member_probabilities.mean(axis=0))


def mean_entropy(member_probabilities):
    return _entropy(member_probabilities).mean(axis=0)


def variance(member_probabilities):
    return member_probabilities.var(axis=0).sum(axis=-1)


def log_base_two(member_probabilities):
    entropy = lambda p: -(p * np.log2(np.maximum(p, 1e-12))).sum(axis=-1)  # noqa: E731
    return entropy(member_probabilities.mean(axis=0)) - entropy(member_probabilities).mean(axis=0)


def zero_log_zero(member_probabilities):
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = lambda p: -(p * np.log(p)).sum(axis=-1)  # noqa: E731
        return entropy(member_probabilities.mean(axis=0)) - entropy(member_probabilities).mean(axis=0)


def reverse_kl(member_probabilities):
    return rel_entr(member_probabilities.mean(axis=0), member_probabilities).sum(axis=-1).mean(axis=0)


def per_member(member_probabilities):
    return rel_entr(member_probabilities, member_probabilities.mean(axis=0)).sum(axis=-1)


def floors_in_place(member_probabilities):
    np.maximum(member_probabilities, 1e-12, out=member_probabilities)
    return disagreement(member_probabilities)


def mean_as_float(member_probabilities):
    return float(disagreement(member_probabilities).mean())


EXERCISES = [
    Exercise("11.1 ensemble probabilities", check_ensemble_probabilities,
             right=(ensemble_probabilities, with_scipy, with_torch), wrong={
                 "averages logits": Wrong(averaged_logits, "you averaged the logits"),
                 "geometric mean": Wrong(geometric_mean, "geometric mean"),
                 "softmax over the members": Wrong(softmax_over_members, "normalizes over the members' axis"),
                 "not averaged": Wrong(not_averaged, "one probability table per member"),
                 "overflows": Wrong(unstable, "exp() overflowed"),
                 "shifts the logits in place": Wrong(shifted_in_place, "changed member_logits in place",
                                                     kind="in-place"),
                 "returns a list": Wrong(as_list, "must return a NumPy array", kind="type"),
             }),
    Exercise("11.2 expected calibration error", check_expected_calibration_error,
             right=(calibration_error, with_digitize, torch_version), wrong={
                 "bins unweighted": Wrong(unweighted, "Weight each bin by its share"),
                 "signed gaps": Wrong(signed, "absolute value"),
                 "maximum gap": Wrong(maximum_gap, "maximum calibration error"),
                 "true-class probability": Wrong(true_class_probability, "probability of the predicted class"),
                 "n_bins ignored": Wrong(ten_bins_always, "use the n_bins argument"),
                 "sorts the probabilities in place": Wrong(sorts_in_place, "changed its inputs in place",
                                                           kind="in-place"),
                 "returns the per-bin gaps": Wrong(per_bin_array, "must return one number", kind="type"),
             }),
    Exercise("11.3 AUROC", check_auroc, right=(auroc, mann_whitney), wrong={
        "ties ignored": Wrong(ties_ignored, "ties are counted wrongly"),
        "ties counted as wins": Wrong(ties_as_wins, "ties are counted wrongly"),
        "direction reversed": Wrong(reversed_direction, "1 minus the right one"),
        "accuracy at the median": Wrong(accuracy_at_median, "probability that a random positive scores higher"),
        "sorts the scores in place": Wrong(sorts_scores_in_place, "changed its inputs in place", kind="in-place"),
        "returns the ROC curve": Wrong(roc_curve_returned, "must return one number", kind="type"),
    }),
    Exercise("11.4 disagreement", check_disagreement, right=(disagreement, mean_kl, torch_disagreement), wrong={
        "entropy of the mean": Wrong(entropy_of_mean, "total uncertainty"),
        "mean entropy": Wrong(mean_entropy, "members' mean entropy"),
        "variance": Wrong(variance, "variance of the members' probabilities"),
        "log base 2": Wrong(log_base_two, "natural logarithm"),
        "0 log 0 = nan": Wrong(zero_log_zero, "0 · log 0"),
        "KL the wrong way": Wrong(reverse_kl, "the wrong direction"),
        "one value per member": Wrong(per_member, "one value per sample"),
        "floors in place": Wrong(floors_in_place, "changed member_probabilities in place", kind="in-place"),
        "returns the mean as a float": Wrong(mean_as_float, "must return a NumPy array", kind="type"),
    }),
]
