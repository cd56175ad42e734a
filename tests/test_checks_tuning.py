"""The checkers of notebook 10 accept the right answers and explain the usual wrong ones."""
from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.model_selection import GridSearchCV, cross_val_score

from course_utils.checks.tuning import check_nested_score, check_weight_decay_distribution


def test_log_uniform_passes():
    assert check_weight_decay_distribution(lambda: stats.loguniform(1e-5, 1e-1)).passed is True


def test_uniform_list_range_and_errors_fail(capsys):
    assert check_weight_decay_distribution(lambda: stats.uniform(1e-5, 1e-1)).passed is False
    assert "loguniform" in capsys.readouterr().out
    assert check_weight_decay_distribution(lambda: [1e-5, 1e-3, 1e-1]).passed is False
    assert check_weight_decay_distribution(lambda: stats.loguniform(1e-6, 1e-1)).passed is False
    assert check_weight_decay_distribution(lambda: stats.loguniform(1e-5, 1e-2)).passed is False  # out of balance
    assert check_weight_decay_distribution(lambda: 1 / 0).passed is False


def test_not_solved_is_reported():
    def unsolved():
        raise NotImplementedError()
    assert check_weight_decay_distribution(unsolved).passed is None
    assert check_nested_score(lambda *args: unsolved()).passed is None


def test_nested_score_right_and_wrong(capsys):
    def nested(estimator, grid, x, y):
        return cross_val_score(GridSearchCV(estimator, grid, cv=3), x, y, cv=5).mean()

    def best_score(estimator, grid, x, y):
        return GridSearchCV(estimator, grid, cv=3).fit(x, y).best_score_

    def swapped(estimator, grid, x, y):
        return cross_val_score(GridSearchCV(estimator, grid, cv=5), x, y, cv=3).mean()

    assert check_nested_score(nested).passed is True
    assert check_nested_score(best_score).passed is False
    assert "optimistic" in capsys.readouterr().out
    assert check_nested_score(swapped).passed is False
    assert "swapped" in capsys.readouterr().out
    assert check_nested_score(lambda e, g, x, y: np.zeros(5)).passed is False
    assert check_nested_score(lambda e, g, x, y: 0.5).passed is False
