"""Checkers for the exercises of notebook 11 (ensembles and calibration).

Each compares the learner's function with an independent reference on several
random shapes and seeds: ``course_utils.ensembles`` for the ensemble's
probabilities and the members' disagreement, ``course_utils.calibration`` for
the expected calibration error, and scikit-learn's ``roc_auc_score`` for the
AUROC. Typical mistakes are recognized by computing them and comparing.
"""
from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np
import torch

from ..calibration import expected_calibration_error, reliability_curve, softmax
from ..ensembles import average_probabilities, disagreement, entropy
from . import Verdict, attempt, report

__all__ = ["check_auroc", "check_disagreement", "check_ensemble_probabilities", "check_expected_calibration_error"]

SEEDS = (11, 12, 13)


def _as_array(answer) -> np.ndarray | None:
    """A NumPy or torch answer as a float NumPy array; None for any other type."""
    if isinstance(answer, torch.Tensor):
        return answer.detach().double().numpy()
    if isinstance(answer, np.ndarray) and np.issubdtype(answer.dtype, np.number):
        return answer.astype(float)
    return None


def _as_number(answer) -> float | None:
    """A single number (Python, NumPy or a 0-d tensor/array) as a float; None for anything else."""
    if isinstance(answer, (torch.Tensor, np.ndarray)) and answer.ndim == 0:
        return float(answer)
    if isinstance(answer, Real) and not isinstance(answer, bool):
        return float(answer)
    return None


def _close(a, b, tolerance: float = 1e-6) -> bool:
    return a is not None and np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=tolerance, atol=tolerance))


def _run_cases(cases, answer_of, compare):
    """Run the learner on every case; the first verdict of ``compare`` that is not None, or None if all pass."""
    for case in cases:
        verdict = compare(case, *answer_of(case))
        if verdict is not None:
            return verdict
    return None


# --- 11.1 the ensemble's probabilities ---------------------------------------------------------------

def _logit_cases() -> list[np.ndarray]:
    cases = []
    for seed, (members, samples, classes) in zip(SEEDS, [(5, 40, 10), (3, 7, 4), (8, 25, 3)]):
        rng = np.random.default_rng(seed)
        cases.append(rng.normal(0.0, 3.0, (members, samples, classes)))
    large = np.random.default_rng(14).normal(0.0, 3.0, (4, 6, 5))
    large[:, :3] += 1000.0        # logits this large overflow exp() unless each row's maximum is subtracted
    return cases + [large]


def check_ensemble_probabilities(ensemble_probabilities: Callable[..., Any]) -> Verdict:
    """Exercise 11.1: the mean of the members' softmax probabilities, from logits (members, samples, classes)."""
    cases = _logit_cases()

    def answer_of(logits):
        given = logits.copy()
        out, unanswered = attempt(ensemble_probabilities, given, name="ensemble_probabilities",
                                  shown=f"ensemble_probabilities(member_logits of shape {logits.shape})")
        return given, out, unanswered

    def compare(logits, given, out, unanswered):
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, logits):
            return report(False, "ensemble_probabilities changed member_logits in place (e.g. logits -= max or "
                                 "np.exp(..., out=...)). The caller still needs the logits: compute into new arrays.")
        probabilities = _as_array(out)
        if probabilities is None:
            return report(False, f"ensemble_probabilities must return a NumPy array (or a torch tensor) of shape "
                                 f"(samples, classes); got {type(out).__name__}.")
        members, samples, classes = logits.shape
        if probabilities.shape == logits.shape:
            return report(False, f"you returned one probability table per member, shape {logits.shape}: the "
                                 "ensemble's prediction is their mean over the members' axis (axis 0), shape "
                                 f"{(samples, classes)}.")
        if probabilities.shape != (samples, classes):
            return report(False, f"for logits of shape {logits.shape} (members, samples, classes) the result must "
                                 f"have shape {(samples, classes)}; got {probabilities.shape}. Average over the "
                                 "members' axis, 0.")
        if not np.isfinite(probabilities).all():
            return report(False, "some probabilities are NaN or infinite for large logits (around 1000): exp() "
                                 "overflowed. Subtract each row's largest logit before exponentiating; softmax "
                                 "does not change when a constant is added to a row.")
        expected = average_probabilities(softmax(logits.reshape(-1, classes)).reshape(logits.shape))
        if _close(probabilities, softmax(logits.mean(axis=0))):
            return report(False, "you averaged the logits (or took the geometric mean of the probabilities) and "
                                 "then applied softmax. That is not the mixture the ensemble predicts: apply "
                                 "softmax to each member first, then average the probabilities.")
        over_members = np.exp(logits - logits.max(axis=0)) / np.exp(logits - logits.max(axis=0)).sum(axis=0)
        if _close(probabilities, over_members.mean(axis=0)):
            return report(False, "your softmax normalizes over the members' axis. The classes are the last axis: "
                                 "each member's row of class probabilities must sum to 1.")
        if not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6):
            return report(False, "the rows of the result do not sum to 1, so they are not probabilities: softmax "
                                 "each member's logits over the classes, then average.")
        if not _close(probabilities, expected, 1e-6):
            return report(False, "the probabilities differ from the mean of the members' softmax outputs.")
        return None

    failed = _run_cases(cases, answer_of, compare)
    if failed is not None:
        return failed
    return report(True, f"the members' softmax probabilities averaged, on {len(cases)} ensembles of different "
                        "sizes, also with logits near 1000.")


# --- 11.2 the expected calibration error -------------------------------------------------------------

def _calibration_cases():
    cases = []
    for seed, (samples, classes, bins) in zip(SEEDS, [(500, 10, 10), (300, 3, 15), (200, 5, 7)]):
        rng = np.random.default_rng(seed)
        probabilities = softmax(rng.normal(0.0, 2.0, (samples, classes)))
        # labels drawn from sharpened probabilities: an over-confident-looking, imperfect model
        sharper = softmax(np.log(probabilities) * 0.6)
        labels = np.array([rng.choice(classes, p=row) for row in sharper])
        cases.append((probabilities, labels, bins))
    return cases


def _ece_variants(probabilities, labels, bins) -> dict[str, float]:
    """The usual wrong versions of the ECE, to name the mistake a learner made."""
    curve = reliability_curve(probabilities, labels, bins)
    filled = curve.counts > 0
    gaps = curve.accuracy[filled] - curve.confidence[filled]
    weights = curve.counts[filled] / curve.counts.sum()
    true_class = probabilities[np.arange(len(labels)), labels]
    which = np.clip(np.searchsorted(curve.edges, true_class, side="left") - 1, 0, bins - 1)
    correct = probabilities.argmax(1) == labels
    true_class_ece = sum(abs(correct[which == b].mean() - true_class[which == b].mean()) * (which == b).mean()
                         for b in range(bins) if (which == b).any())
    return {"unweighted": float(np.abs(gaps).mean()), "signed": float(abs(np.sum(weights * gaps))),
            "maximum": float(np.abs(gaps).max()), "true class": float(true_class_ece),
            "ten bins": expected_calibration_error(probabilities, labels, 10)}


def check_expected_calibration_error(expected_calibration_error_: Callable[..., Any]) -> Verdict:
    """Exercise 11.2: ECE = Σ_b (n_b/n)·|accuracy_b − confidence_b| over equal-width confidence bins."""
    cases = _calibration_cases()

    def answer_of(case):
        probabilities, labels, bins = case
        given = probabilities.copy(), labels.copy()
        out, unanswered = attempt(expected_calibration_error_, *given, bins, name="expected_calibration_error",
                                  shown=f"expected_calibration_error(probabilities, labels, n_bins={bins})")
        return given, out, unanswered

    def compare(case, given, out, unanswered):
        probabilities, labels, bins = case
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given[0], probabilities) and np.array_equal(given[1], labels)):
            return report(False, "expected_calibration_error changed its inputs in place (e.g. sorting "
                                 "probabilities or labels). The caller still needs them: work on copies.")
        value = _as_number(out)
        if value is None:
            return report(False, "expected_calibration_error must return one number (a float); got "
                                 f"{type(out).__name__}{' of shape ' + str(np.shape(out)) if np.ndim(out) else ''}. "
                                 "Sum the bins' weighted gaps into a single value.")
        expected = expected_calibration_error(probabilities, labels, bins)
        if abs(value - expected) < 1e-9:
            return None
        variants = _ece_variants(probabilities, labels, bins)
        messages = {
            "unweighted": "you averaged the bins' gaps with equal weights. Weight each bin by its share of the "
                          "predictions, n_b / n: a bin with 3 predictions must count less than one with 300.",
            "signed": "you summed signed gaps (accuracy − confidence), so over- and under-confident bins cancel. "
                      "Take the absolute value of each bin's gap before weighting and summing.",
            "maximum": "that is the largest gap over the bins (the maximum calibration error). The ECE is the "
                       "weighted average of the gaps.",
            "true class": "you binned by the probability of the true class. Confidence is the probability of the "
                          "predicted class, the largest one in each row.",
            "ten bins": f"the result matches 10 bins, but n_bins={bins} was asked: use the n_bins argument for "
                        "the number of equal-width bins.",
        }
        for name, wrong in variants.items():
            if abs(value - wrong) < 1e-9:
                return report(False, messages[name])
        return report(False, f"with n_bins={bins} the ECE should be {expected:.4f}; yours is {value:.4f}. Use "
                             f"{bins} equal-width bins of the top-class probability on [0, 1], and in each the "
                             "fraction of correct predictions against the mean confidence.")

    failed = _run_cases(cases, answer_of, compare)
    if failed is not None:
        return failed
    return report(True, f"the same ECE as course_utils.calibration on {len(cases)} sets of predictions with "
                        "7, 10 and 15 bins.")


# --- 11.3 the AUROC ------------------------------------------------------------------------------

def _auroc_cases():
    cases = []
    for seed, (positives, negatives, tied) in zip(SEEDS, [(300, 500, False), (40, 25, True), (120, 80, True)]):
        rng = np.random.default_rng(seed)
        scores = np.r_[rng.normal(0.8, 1.0, positives), rng.normal(0.0, 1.0, negatives)]
        if tied:
            scores = np.round(scores, 1)      # many ties, as scores of saturated softmax outputs have
        is_positive = np.r_[np.ones(positives, bool), np.zeros(negatives, bool)]
        order = rng.permutation(len(scores))
        cases.append((scores[order], is_positive[order]))
    return cases


def _pairwise(scores, is_positive):
    """P(score of a positive > score of a negative), ties counted as wins and as losses."""
    difference = scores[is_positive][:, None] - scores[~is_positive][None, :]
    return float((difference > 0).mean()), float((difference >= 0).mean())


def check_auroc(auroc: Callable[..., Any]) -> Verdict:
    """Exercise 11.3: the AUROC of ``scores`` for telling ``is_positive`` apart, against sklearn's."""
    from sklearn.metrics import roc_auc_score
    cases = _auroc_cases()

    def answer_of(case):
        given = case[0].copy(), case[1].copy()
        out, unanswered = attempt(auroc, *given, name="auroc", shown="auroc(scores, is_positive)")
        return given, out, unanswered

    def compare(case, given, out, unanswered):
        scores, is_positive = case
        if unanswered is not None:
            return unanswered
        if not (np.array_equal(given[0], scores) and np.array_equal(given[1], is_positive)):
            return report(False, "auroc changed its inputs in place (e.g. scores.sort()): the caller's scores no "
                                 "longer line up with is_positive. Sort a copy, or use np.argsort.")
        value = _as_number(out)
        if value is None:
            return report(False, f"auroc must return one number (a float); got {type(out).__name__}. If you built "
                                 "the ROC curve, return the area under it, not the curve.")
        expected = roc_auc_score(is_positive, scores)
        if abs(value - expected) < 1e-9:
            return None
        if abs(value - (1 - expected)) < 1e-9:
            return report(False, "your AUROC is 1 minus the right one: a higher score must mean 'more likely "
                                 "positive'. Count the pairs where the positive scores higher than the negative.")
        strict, inclusive = _pairwise(scores, is_positive)
        if abs(value - strict) < 1e-9 or abs(value - inclusive) < 1e-9:
            return report(False, "ties are counted wrongly: a positive and a negative with the same score are a "
                                 "coin flip, and count one half (scikit-learn does the same). Here many scores "
                                 f"are tied; the AUROC is {expected:.4f}, yours {value:.4f}.")
        return report(False, f"the AUROC should be {expected:.4f} (sklearn.metrics.roc_auc_score); yours is "
                             f"{value:.4f}. It is the probability that a random positive scores higher than a "
                             "random negative, ties counting one half.")

    failed = _run_cases(cases, answer_of, compare)
    if failed is not None:
        return failed
    return report(True, f"the same AUROC as sklearn.metrics.roc_auc_score on {len(cases)} sets of scores, "
                        "with and without ties.")


# --- 11.4 the members' disagreement ------------------------------------------------------------------

def _member_cases():
    cases = []
    for seed, (members, samples, classes) in zip(SEEDS, [(5, 30, 10), (3, 8, 4), (10, 12, 3)]):
        rng = np.random.default_rng(seed)
        cases.append(rng.dirichlet(np.full(classes, 0.5), (members, samples)))
    one_hot = np.eye(4)[np.random.default_rng(14).integers(0, 4, (3, 6))]   # exact zeros: 0 · log 0 must be 0
    return cases + [one_hot]


def _disagreement_variants(probabilities) -> dict[str, np.ndarray]:
    mean = probabilities.mean(axis=0)
    reverse = np.mean([(mean * (np.log(np.maximum(mean, 1e-300)) - np.log(np.maximum(member, 1e-300))))
                       .sum(axis=-1) for member in probabilities], axis=0)
    return {"entropy of the mean": entropy(mean), "mean entropy": entropy(probabilities).mean(axis=0),
            "variance": probabilities.var(axis=0).sum(axis=-1),
            "standard deviation": probabilities.std(axis=0).sum(axis=-1),
            "base 2": disagreement(probabilities) / np.log(2), "reverse KL": reverse}


def check_disagreement(disagreement_: Callable[..., Any]) -> Verdict:
    """Exercise 11.4: per sample, entropy of the members' mean minus the mean of their entropies."""
    cases = _member_cases()

    def answer_of(probabilities):
        given = probabilities.copy()
        out, unanswered = attempt(disagreement_, given, name="disagreement",
                                  shown=f"disagreement(member_probabilities of shape {probabilities.shape})")
        return given, out, unanswered

    def compare(probabilities, given, out, unanswered):
        if unanswered is not None:
            return unanswered
        if not np.array_equal(given, probabilities):
            return report(False, "disagreement changed member_probabilities in place (e.g. p += 1e-12 or "
                                 "np.log(p, out=p)). The caller still needs them: compute into new arrays.")
        value = _as_array(out)
        members, samples, _ = probabilities.shape
        if value is None:
            return report(False, f"disagreement must return a NumPy array (or torch tensor) with one value per "
                                 f"sample, shape ({samples},); got {type(out).__name__}.")
        if value.shape != (samples,):
            return report(False, f"for member_probabilities of shape {probabilities.shape} (members, samples, "
                                 f"classes) the result must have shape ({samples},), one value per sample; got "
                                 f"{value.shape}.")
        if not np.isfinite(value).all():
            return report(False, "some values are NaN: a probability of exactly 0 gives 0 · log 0 = 0 · (−inf). "
                                 "Its limit is 0: floor the probabilities under the logarithm (e.g. at 1e-12), or "
                                 "leave zero entries out of the sum.")
        expected = disagreement(probabilities)
        if _close(value, expected, 1e-6):
            return None
        messages = {
            "entropy of the mean": "that is the entropy of the ensemble's mean prediction, the total "
                                   "uncertainty: it is large when every member is unsure, even if they agree. "
                                   "Subtract the members' mean entropy.",
            "mean entropy": "that is the members' mean entropy (how unsure each member is on its own). The "
                            "disagreement is the entropy of their mean minus this.",
            "variance": "that is the variance of the members' probabilities. The exercise asks for the "
                        "information-theoretic disagreement: entropy of the mean minus the mean entropy.",
            "standard deviation": "that is the spread (standard deviation) of the members' probabilities, "
                                  "notebook 05's score. The exercise asks for the entropy of the mean minus the "
                                  "mean entropy.",
            "base 2": "your values are the right ones divided by log 2: use the natural logarithm (np.log).",
            "reverse KL": "that is the mean KL divergence of the ensemble's mean from each member, the wrong "
                          "direction. Entropy of the mean minus the mean entropy equals the mean of "
                          "KL(member ‖ mean).",
        }
        for name, wrong in _disagreement_variants(probabilities).items():
            if _close(value, wrong, 1e-6):
                return report(False, messages[name])
        return report(False, "the values differ from the entropy of the members' mean probabilities minus the "
                             "mean of the members' entropies (natural logarithm, entropies over the classes).")

    failed = _run_cases(cases, answer_of, compare)
    if failed is not None:
        return failed
    return report(True, f"entropy of the mean minus the mean entropy on {len(cases)} ensembles, also with "
                        "one-hot members (0 · log 0 = 0).")
