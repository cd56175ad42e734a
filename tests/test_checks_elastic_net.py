"""The checker of notebook 04 accepts sklearn's objective and names the usual scaling mistakes."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks.elastic_net import check_enet_objective


def right(x, y, w, alpha, l1_ratio):
    n = len(y)
    return (np.sum((y - x @ w) ** 2) / (2 * n) + alpha * l1_ratio * np.abs(w).sum()
            + alpha * (1 - l1_ratio) / 2 * np.sum(w ** 2))


def test_right(capsys):
    assert check_enet_objective(right).passed is True
    assert "Correct" in capsys.readouterr().out


def test_not_solved():
    def unsolved(*args):
        raise NotImplementedError()
    assert check_enet_objective(unsolved).passed is None


def sse(x, y, w):
    return np.sum((y - x @ w) ** 2)


@pytest.mark.parametrize("wrong, phrase", [
    (lambda x, y, w, a, r: sse(x, y, w) / len(y) + a * r * np.abs(w).sum() + a * (1 - r) / 2 * (w ** 2).sum(),
     "divided by n instead of 2n"),
    (lambda x, y, w, a, r: sse(x, y, w) + a * r * np.abs(w).sum() + a * (1 - r) / 2 * (w ** 2).sum(), "1/(2n)"),
    (lambda x, y, w, a, r: sse(x, y, w) / 2 + a * r * np.abs(w).sum() + a * (1 - r) / 2 * (w ** 2).sum(),
     "not averaged"),
    (lambda x, y, w, a, r: sse(x, y, w) / (2 * len(y)) + a * r * np.abs(w).sum() + a * (1 - r) * (w ** 2).sum(),
     "factor 1/2"),
    (lambda x, y, w, a, r: right(x, y, w, a, 1 - r), "swapped"),
    (lambda x, y, w, a, r: sse(x, y, w) / (2 * len(y)) + a * r * w.sum() + a * (1 - r) / 2 * (w ** 2).sum(), "|w|"),
    (lambda x, y, w, a, r: right(x, y, w, a, r) + 1.0, "expected"),
    (lambda x, y, w, a, r: [1, 2], "one number"),
    (lambda x, y, w, a, r: 1 / 0, "ZeroDivisionError"),
])
def test_wrong(wrong, phrase, capsys):
    assert check_enet_objective(wrong).passed is False
    assert phrase in capsys.readouterr().out
