"""The checker of notebook 02 accepts the right decomposition and explains the usual mistakes."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks.bias_variance import check_decompose


def right(predictions, f_test):
    return np.mean((predictions.mean(0) - f_test) ** 2), np.mean(predictions.var(0))


def test_right_answer(capsys):
    assert check_decompose(right).passed is True
    assert "Correct" in capsys.readouterr().out


def test_not_solved():
    def unsolved(predictions, f_test):
        raise NotImplementedError()
    assert check_decompose(unsolved).passed is None


@pytest.mark.parametrize("wrong, phrase", [
    (lambda p, f: (right(p, f)[0], np.mean(p.var(0, ddof=1))), "n − 1"),
    (lambda p, f: (right(p, f)[0], np.mean(p.var(1))), "wrong axis"),
    (lambda p, f: (np.mean((p - f) ** 2), right(p, f)[1]), "bias² + variance"),
    (lambda p, f: (np.mean(p.mean(0) - f), right(p, f)[1]), "squared"),
    (lambda p, f: (np.mean(p.mean(0) - f) ** 2, right(p, f)[1]), "cancel"),
    (lambda p, f: right(p, f)[0], "two numbers"),
    (lambda p, f: p.missing, "AttributeError"),
    (lambda p, f: (right(p, f)[0], 2 * right(p, f)[1]), "expected"),
])
def test_wrong_answers(wrong, phrase, capsys):
    assert check_decompose(wrong).passed is False
    assert phrase in capsys.readouterr().out
