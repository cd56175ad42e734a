"""NetClassifier and NetRegressor: scikit-learn's own estimator checks, and its model-selection tools."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import (GridSearchCV, KFold, RandomizedSearchCV, cross_val_score,
                                     validation_curve)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_utils.estimators import NetClassifier, NetRegressor


def blobs(n=90, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (3, n_features))
    y = np.arange(n) % 3
    return centres[y] + rng.standard_normal((n, n_features)), y


def linear(n=80, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_features))
    return x, 100.0 + 30.0 * (x @ rng.standard_normal(n_features)) + rng.standard_normal(n)


# Every check scikit-learn runs on its own estimators. The one it skips by itself,
# check_array_api_input, needs array-API namespaces (CuPy, torch tensors as X), which these
# estimators do not claim to support: they take NumPy-like input, as most of scikit-learn does.
@parametrize_with_checks([NetClassifier(), NetRegressor()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_init_stores_parameters_unchanged_and_validates_in_fit():
    model = NetClassifier(hidden=[8, 8], dropout=1.5)  # invalid, but __init__ must not judge
    assert model.hidden == [8, 8] and model.dropout == 1.5
    with pytest.raises(ValueError, match="dropout"):
        model.fit(*blobs())


@pytest.mark.parametrize("Estimator, method", [(NetClassifier, "predict"), (NetClassifier, "predict_proba"),
                                               (NetRegressor, "predict"), (NetClassifier, "score")])
def test_unfitted_raises_not_fitted_error(Estimator, method):
    x, y = blobs()
    with pytest.raises(NotFittedError):
        getattr(Estimator(), method)(*((x, y) if method == "score" else (x,)))


def test_arbitrary_labels_are_mapped_and_returned():
    x, y = blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    model = NetClassifier(hidden=(16,), epochs=30, lr=1e-2).fit(x, labels)
    assert list(model.classes_) == ["cat", "dog", "emu"]
    assert set(model.predict(x)) <= set(model.classes_)
    assert model.score(x, labels) > 0.9
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), 3) and np.allclose(proba.sum(1), 1)
    assert np.array_equal(model.classes_[proba.argmax(1)], model.predict(x))


def test_learned_attributes_end_with_underscore():
    x, y = blobs()
    model = NetClassifier(hidden=(8,), epochs=3).fit(x, y)
    assert model.n_features_in_ == x.shape[1] and model.n_iter_ == 3
    assert {"model_", "history_", "classes_", "n_iter_", "n_features_in_"} <= set(vars(model))
    with pytest.raises(ValueError, match="features"):
        model.predict(x[:, :3])


def test_fit_is_reproducible_with_an_int_random_state_and_seeds_differ():
    x, y = blobs()
    a = NetClassifier(hidden=(8,), epochs=5, random_state=3).fit(x, y).predict_proba(x)
    b = NetClassifier(hidden=(8,), epochs=5, random_state=3).fit(x, y).predict_proba(x)
    c = NetClassifier(hidden=(8,), epochs=5, random_state=4).fit(x, y).predict_proba(x)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_random_state_none_or_a_generator_draws_the_seed():
    x, y = blobs()

    def probabilities(random_state):
        return NetClassifier(hidden=(8,), epochs=2, random_state=random_state).fit(x, y).predict_proba(x)

    # generators in the same state draw the same seed; None draws from NumPy's global one, anew at every fit
    assert np.array_equal(probabilities(np.random.RandomState(0)), probabilities(np.random.RandomState(0)))
    assert not np.allclose(probabilities(np.random.RandomState(0)), probabilities(np.random.RandomState(1)))
    assert not np.allclose(probabilities(None), probabilities(None))


def test_negative_random_state_is_rejected():
    with pytest.raises(ValueError, match="random_state"):
        NetClassifier(random_state=-1).fit(*blobs())


def test_clone_and_pickle():
    x, y = blobs()
    model = NetClassifier(hidden=(8,), epochs=5, dropout=0.2).fit(x, y)
    fresh = clone(model)
    assert fresh.get_params() == model.get_params() and not hasattr(fresh, "model_")
    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(restored.predict_proba(x), model.predict_proba(x))


def test_regressor_standardizes_the_target_and_fits_a_linear_function():
    x, y = linear()
    model = NetRegressor(hidden=(32,), epochs=200, lr=1e-2).fit(x, y)
    assert abs(model.y_mean_ - y.mean()) < 1e-9 and abs(model.y_scale_ - y.std()) < 1e-9
    assert model.predict(x).shape == (len(x),)
    assert model.score(x, y) > 0.95


def test_constant_target_does_not_divide_by_zero():
    x, _ = linear()
    model = NetRegressor(hidden=(4,), epochs=2).fit(x, np.full(len(x), 7.0))
    assert model.y_scale_ == 1.0 and np.allclose(model.predict(x), 7.0, atol=1.0)


def test_early_stopping_holds_out_validation_data():
    x, _ = blobs(n=120)
    y = np.random.default_rng(0).permutation(np.arange(120) % 3)  # random labels: validation loss soon rises
    model = NetClassifier(hidden=(64,), lr=1e-2, epochs=200, patience=3, validation_fraction=0.25).fit(x, y)
    assert len(model.history_.val_loss) == model.n_iter_ and model.n_iter_ < 200
    assert model.history_.stopped_early and model.history_.best_epoch is not None
    with pytest.raises(ValueError, match="validation_fraction"):
        NetClassifier(patience=3, validation_fraction=1.5).fit(x, y)


def test_cnn_on_sequences():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = rng.standard_normal((60, 16)) + np.where(y[:, None] == 1, np.sin(np.arange(16)), 0.0) * 2
    model = NetClassifier(model="cnn", hidden=(4,), epochs=30, lr=1e-2).fit(x, y)
    assert model.score(x, y) > 0.9


def test_divergence_warns():
    x, y = linear()
    with pytest.warns(Warning, match="diverged"):
        NetRegressor(hidden=(16,), optimizer="sgd", lr=1e6, epochs=5).fit(x, y * 1e6)


def test_model_selection_tools_work_unchanged():
    x, y = blobs(n=90)
    base = NetClassifier(hidden=(8,), epochs=10)
    scores = cross_val_score(base, x, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))

    grid = GridSearchCV(base, {"weight_decay": [0.0, 1e-2], "dropout": [0.0, 0.2]}, cv=3).fit(x, y)
    assert len(grid.cv_results_["params"]) == 4 and grid.best_estimator_.n_features_in_ == x.shape[1]

    search = RandomizedSearchCV(base, {"lr": [1e-3, 3e-3, 1e-2], "hidden": [(4,), (8,)]}, n_iter=3, cv=3,
                                random_state=0).fit(x, y)
    assert len(search.cv_results_["params"]) == 3

    train, val = validation_curve(base, x, y, param_name="l2", param_range=[0.0, 0.1], cv=3)
    assert train.shape == val.shape == (2, 3)

    pipe = make_pipeline(StandardScaler(), NetRegressor(hidden=(8,), epochs=20))
    xr, yr = linear()
    assert cross_val_score(pipe, xr, yr, cv=KFold(3)).shape == (3,)
    tuned = GridSearchCV(pipe, {"netregressor__l2": [0.0, 1e-3]}, cv=3).fit(xr, yr)
    assert tuned.best_params_["netregressor__l2"] in (0.0, 1e-3)
