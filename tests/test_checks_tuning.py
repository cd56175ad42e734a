"""The winner's validation score of notebook 12 against its known value; the checkers themselves, nested
cross-validation among them, run against right and typical wrong answers in the exercise catalogue."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks.tuning import winner_optimism


def test_winner_optimism_is_the_selection_bias():
    rng = np.random.default_rng(0)
    truth = np.full(20, 0.8)
    noisy = truth + rng.normal(0, 0.05, (2000, 20))
    # the expected maximum of 20 standard normals is about 1.87 standard deviations
    assert winner_optimism(noisy, truth) == pytest.approx(1.87 * 0.05, rel=0.05)
    assert winner_optimism(noisy[:, :1], truth[:1]) == pytest.approx(np.mean(noisy[:, 0] - 0.8))
