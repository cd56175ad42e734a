"""The AR series generator, the chronological split and windowing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import course_utils as cu
from course_utils.timeseries import (chronological_split, forecasting_dataset, is_stationary, make_ar_series,
                                     make_windows)


def test_ar_series_recovers_its_coefficients():
    phi = np.array([0.6, -0.2, 0.3])
    x = make_ar_series(20000, phi, noise=1.0, seed=0)
    lagged = np.column_stack([x[3 - k:len(x) - k] for k in (1, 2, 3)])  # x[t-1], x[t-2], x[t-3]
    estimate, *_ = np.linalg.lstsq(lagged, x[3:], rcond=None)
    np.testing.assert_allclose(estimate, phi, atol=0.03)
    residual = x[3:] - lagged @ phi
    assert residual.std() == pytest.approx(1.0, abs=0.03)


def test_ar_series_is_seeded_and_scales_with_noise():
    a, b = make_ar_series(50, seed=3), make_ar_series(50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_ar_series(50, seed=4))
    np.testing.assert_allclose(make_ar_series(50, noise=2.0, seed=3), 2 * a)
    assert np.all(make_ar_series(10, noise=0.0) == 0)


def test_stationarity():
    assert is_stationary([0.5]) and is_stationary([0.6, -0.2, 0.3])
    assert not is_stationary([1.0]) and not is_stationary([0.5, 0.6])
    with pytest.raises(ValueError, match="explosive"):
        make_ar_series(10, coefficients=[1.1])


def test_split_is_chronological_and_covers_the_series():
    series = np.arange(100.0)
    train, val, test = chronological_split(series, 0.2, 0.1)
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), series)  # in order, nothing shuffled
    assert train.max() < val.min() and val.max() < test.min()


@given(n=st.integers(5, 200), window=st.integers(1, 10))
def test_windows_pair_each_input_with_the_next_value(n, window):
    series = np.arange(n, dtype=float) * 3.0
    if n <= window:
        with pytest.raises(ValueError, match="needs at least"):
            make_windows(series, window)
        return
    x, y = make_windows(series, window)
    assert x.shape == (n - window, window) and y.shape == (n - window,)
    np.testing.assert_array_equal(x[:, 0], series[:n - window])  # in time order
    np.testing.assert_array_equal(y, x[:, -1] + 3.0)  # the value right after the window
    assert not np.shares_memory(x, series)


def test_forecasting_dataset_never_mixes_splits():
    series = np.arange(200.0)
    ds = forecasting_dataset(series, window=5, val_fraction=0.25, test_fraction=0.25)
    assert ds.y_train.dtype == np.float32 and not ds.is_classification
    assert ds.x_train.shape == (95, 5) and ds.x_val.shape == (45, 5) and ds.x_test.shape == (45, 5)
    # train values all come before validation values, which all come before test values
    assert max(ds.x_train.max(), ds.y_train.max()) < ds.x_val.min()
    assert max(ds.x_val.max(), ds.y_val.max()) < ds.x_test.min()


def test_forecasting_dataset_without_validation():
    ds = forecasting_dataset(np.arange(50.0), window=4, val_fraction=0.0, test_fraction=0.2)
    assert ds.x_val is None and ds.x_train.shape == (36, 4)


def test_fit_trains_a_regressor_on_windows():
    series = make_ar_series(300, (0.8,), noise=0.5, seed=0)
    ds = forecasting_dataset(series, window=3)
    config = cu.Config(hidden=(), epochs=60, lr=0.05)
    model = cu.build_model(config, n_inputs=3, n_outputs=1)
    history = cu.fit(model, ds, config, progress=False)
    assert np.isnan(history.train_acc[-1])  # regression: no accuracy
    # a linear model learns the lag-1 coefficient and forecasts near the noise variance 0.25
    assert cu.evaluate(model, ds.x_test, ds.y_test)["loss"] < 0.4
    assert model[-1].weight.detach().numpy()[0, -1] == pytest.approx(0.8, abs=0.15)


@pytest.mark.parametrize("call, match", [
    (lambda: make_ar_series(0), "n_steps"),
    (lambda: make_ar_series(10, noise=-1), "noise"),
    (lambda: make_ar_series(10, coefficients=[]), "empty"),
    (lambda: chronological_split(np.arange(10.0), 0.5, 0.5), "val_fraction \\+ test_fraction"),
    (lambda: chronological_split(np.arange(10.0), 0.2, 0.0), "test_fraction"),
    (lambda: chronological_split(np.ones((3, 3)), 0.2, 0.2), "1-D"),
    (lambda: make_windows(np.arange(10.0), 0), "window"),
    (lambda: forecasting_dataset(np.arange(20.0), window=5), "too few for windows"),
    (lambda: make_windows([1.0, np.nan, 2.0], 1), "NaN"),
])
def test_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
