"""The checkers of notebook 03 accept the right answers and explain the usual wrong ones."""
from __future__ import annotations

import numpy as np

from conftest import adam_step
from course_utils.checks.penalties import check_adam_step, check_soft_threshold


def soft_threshold(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def test_soft_threshold_right(capsys):
    assert check_soft_threshold(soft_threshold).passed is True
    assert "Correct" in capsys.readouterr().out


def test_soft_threshold_not_solved(capsys):
    def unsolved(z, t):
        raise NotImplementedError()
    assert check_soft_threshold(unsolved).passed is None
    assert "not yet solved" in capsys.readouterr().out


def test_soft_threshold_wrong_answers(capsys):
    wrong = {
        "hard": (lambda z, t: np.where(np.abs(z) > t, z, 0.0), "hard"),
        "no sign": (lambda z, t: np.maximum(z - t, 0.0), "sign"),
        "no clip": (lambda z, t: np.sign(z) * (np.abs(z) - t), "exactly 0"),
        "ridge": (lambda z, t: z / (1 + t), "L2"),
        "scalar": (lambda z, t: 0.0, "shape"),
        "crash": (lambda z, t: z.nonexistent, "AttributeError"),
        "off": (lambda z, t: soft_threshold(z, t) + 0.1 * (np.abs(z) > 2), "expected"),
    }
    for name, (fn, phrase) in wrong.items():
        verdict = check_soft_threshold(fn)
        assert verdict.passed is False, name
        assert phrase in capsys.readouterr().out, name


def test_adam_step_right(capsys):
    assert check_adam_step(adam_step).passed is True


def decay_without_lr(w, grad, m, v, t, lr, weight_decay, decoupled):
    """AdamW that shrinks by weight_decay·w, forgetting the learning rate."""
    if decoupled:
        w = w - weight_decay * w
        return adam_step(w, grad, m, v, t, lr, 0.0, False)
    return adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)


def decay_after_the_step(w, grad, m, v, t, lr, weight_decay, decoupled):
    """AdamW that shrinks the already updated weights."""
    if decoupled:
        w, m, v = adam_step(w, grad, m, v, t, lr, 0.0, False)
        return w * (1 - lr * weight_decay), m, v
    return adam_step(w, grad, m, v, t, lr, weight_decay, decoupled)


def test_adam_step_wrong_answers(capsys):
    cases = {
        "swapped": (lambda *a: adam_step(*a, coupling_swapped=True), "*other* kind of decay"),
        "no bias correction": (lambda *a: adam_step(*a, bias_correction=False), "bias correction"),
        "no decay": (lambda *a: adam_step(*a, ignore_decay=True), "ignores weight_decay"),
        "fresh moments": (lambda *a: adam_step(*a, fresh_moments=True), "at step 2 your w differs"),
        "t stuck at 1": (lambda *a: adam_step(*a, first_step_always=True), "use this step's t"),
        "returns w only": (lambda *a: adam_step(*a)[0], "tuple"),
        "decay without lr": (decay_without_lr, "shrinks by lr·weight_decay·w"),
        "decay after the step": (decay_after_the_step, "you shrink the weights after the adaptive step"),
        "crash": (lambda *a: 1 / 0, "ZeroDivisionError"),
    }
    for name, (fn, phrase) in cases.items():
        assert check_adam_step(fn).passed is False, name
        assert phrase in capsys.readouterr().out, name


def test_adam_step_not_solved():
    def unsolved(*args):
        raise NotImplementedError()
    assert check_adam_step(unsolved).passed is None
