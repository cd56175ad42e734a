"""The references the checkers of notebook 12 compare with; the checkers themselves run in the exercise catalogue."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from course_utils.checks.tuning import _nested, _scaled_regression, winner_optimism


@pytest.mark.parametrize("seed, outer, inner, scale", [(11, 5, 3, True), (12, 5, 3, True), (11, 3, 5, False)])
def test_nested_estimate_written_out_equals_scikit_learns(seed, outer, inner, scale):
    x, y = _scaled_regression(seed, 90, 12)
    alphas = [0.3, 10.0, 300.0]
    model = make_pipeline(StandardScaler(), Ridge()) if scale else make_pipeline(Ridge())
    search = GridSearchCV(model, {"ridge__alpha": alphas}, cv=inner)
    assert _nested(Ridge(), {"alpha": alphas}, x, y, outer, inner, scale) == pytest.approx(
        cross_val_score(search, x, y, cv=outer).mean(), abs=1e-12)


def test_winner_optimism_is_the_selection_bias():
    rng = np.random.default_rng(0)
    truth = np.full(20, 0.8)
    noisy = truth + rng.normal(0, 0.05, (2000, 20))
    # the expected maximum of 20 standard normals is about 1.87 standard deviations
    assert winner_optimism(noisy, truth) == pytest.approx(1.87 * 0.05, rel=0.05)
    assert winner_optimism(noisy[:, :1], truth[:1]) == pytest.approx(np.mean(noisy[:, 0] - 0.8))
