"""Datasets, splits, subsampling, label noise and the synthetic generators."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import MNIST1D_PATH, make_classification
from course_utils import data as data_module
from course_utils.data import (DRAW_STRIDE, DRAW_VARIABLE, Dataset, Draws, add_label_noise, data_draw,
                               draw_seed, load_diabetes, load_digits, load_mnist1d, make_correlated_groups,
                               make_noisy_sine, make_sparse_regression, sine, split_validation, subsample)


def id_dataset(n_train=100, n_test=20, n_classes=4) -> Dataset:
    """Column 0 of every training row is its index, so rows can be traced through a split."""
    ids = np.arange(n_train, dtype=np.float64)
    x_train = np.column_stack([ids, np.ones(n_train)])
    y_train = np.arange(n_train) % n_classes
    x_test = np.column_stack([-1.0 - np.arange(n_test), np.zeros(n_test)])
    y_test = np.arange(n_test) % n_classes
    return Dataset(x_train, y_train, x_test, y_test, name="ids")


class TestDataset:
    def test_classification_properties(self):
        d = id_dataset()
        assert d.is_classification
        assert d.n_classes == 4
        assert "4 classes" in repr(d) and "train (100, 2)" in repr(d)

    def test_classes_are_counted_over_every_split(self):
        d = id_dataset(n_classes=4)
        with_val = Dataset(d.x_train, d.y_train, d.x_test, d.y_test, x_val=d.x_test[:1], y_val=np.array([6]))
        assert with_val.n_classes == 7

    def test_regression_has_no_classes(self):
        d = Dataset(np.zeros((3, 2)), np.array([0.5, 1.0, 2.0]), np.zeros((1, 2)), np.array([1.0]), name="r")
        assert not d.is_classification
        with pytest.raises(ValueError, match="r is a regression task: it has no classes"):
            d.n_classes

    def test_x_and_y_come_together(self):
        with pytest.raises(ValueError, match="x_val and y_val must be given together"):
            Dataset(np.zeros((3, 2)), np.zeros(3), np.zeros((1, 2)), np.zeros(1), x_val=np.zeros((2, 2)))


def test_load_digits_shapes_and_scale():
    d = load_digits()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.y_train.shape == (1347,) and d.y_test.shape == (450,)
    assert d.n_classes == 10
    assert d.x_train.min() >= 0.0 and d.x_train.max() == 1.0
    # The test split is stratified: each class keeps its share within one sample.
    full = np.bincount(np.concatenate([d.y_train, d.y_test]))
    np.testing.assert_allclose(np.bincount(d.y_test), full * 450 / 1797, atol=1)


def test_load_digits_is_seeded():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)


def test_load_diabetes_shapes():
    d = load_diabetes(test_fraction=0.25)
    assert d.x_train.shape == (331, 10) and d.x_test.shape == (111, 10)
    assert not d.is_classification
    assert d.y_train.dtype == np.float64


class TestSplitValidation:
    def test_test_set_untouched(self):
        d = id_dataset()
        split = split_validation(d, 0.2, seed=3)
        assert split.x_test is d.x_test and split.y_test is d.y_test

    def test_train_and_val_partition_the_old_train_set(self):
        d = id_dataset()
        split = split_validation(d, 0.2, seed=3)
        train_ids, val_ids = split.x_train[:, 0], split.x_val[:, 0]
        assert len(val_ids) == 20 and len(train_ids) == 80
        assert not set(train_ids) & set(val_ids)
        assert sorted(np.concatenate([train_ids, val_ids])) == list(range(100))
        # Labels travel with their rows.
        np.testing.assert_array_equal(split.y_val, val_ids.astype(int) % 4)

    def test_stratified(self):
        split = split_validation(id_dataset(), 0.2, seed=3)
        assert np.bincount(split.y_val).tolist() == [5, 5, 5, 5]
        assert np.bincount(split.y_train).tolist() == [20, 20, 20, 20]

    def test_seeded(self):
        d = id_dataset()
        a, b, c = split_validation(d, seed=1), split_validation(d, seed=1), split_validation(d, seed=2)
        np.testing.assert_array_equal(a.x_val, b.x_val)
        assert not np.array_equal(a.x_val, c.x_val)

    @pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
    def test_fraction_must_be_inside_unit_interval(self, fraction):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
            split_validation(id_dataset(), fraction)


class TestSubsample:
    @given(n_train=st.integers(4, 96), seed=st.integers(0, 2**16))
    @example(n_train=4, seed=0)
    @example(n_train=96, seed=0)
    def test_exact_size_and_class_balance(self, n_train, seed):
        d = split_validation(id_dataset(n_train=125, n_classes=4), 0.2, seed=0)  # 100 train, 25 per class
        small = subsample(d, n_train, seed=seed)
        assert len(small.y_train) == len(small.x_train) == n_train
        counts = np.bincount(small.y_train, minlength=4)
        assert np.all(np.abs(counts - n_train / 4) <= 1), counts
        # Rows come from the training set, without repetition, with their labels.
        ids = small.x_train[:, 0]
        assert len(set(ids)) == n_train and set(ids) <= set(d.x_train[:, 0])
        np.testing.assert_array_equal(small.y_train, ids.astype(int) % 4)
        # Validation and test sets are unchanged.
        assert small.x_val is d.x_val and small.x_test is d.x_test

    def test_all_samples_returns_the_same_data(self):
        d = id_dataset()
        assert subsample(d, 100) is d

    def test_too_many(self):
        with pytest.raises(ValueError, match="n_train must be <= the 100 training samples available; got 101"):
            subsample(id_dataset(), 101)

    @pytest.mark.parametrize("n_train", [1, 3, 97, 99])
    def test_every_class_must_fit_on_both_sides(self, n_train):
        # 4 classes of 25: fewer than 4 kept, or fewer than 4 left out, cannot be stratified
        d = split_validation(id_dataset(n_train=125, n_classes=4), 0.2, seed=0)
        with pytest.raises(ValueError, match=rf"n_train must be between 4 and 96 \(or all 100\) .*; got {n_train}"):
            subsample(d, n_train)

    def test_regression_targets_need_no_classes(self):
        d = Dataset(np.arange(20.0).reshape(10, 2), np.linspace(0, 1, 10), np.zeros((2, 2)), np.zeros(2))
        small = subsample(d, 9, seed=0)
        assert len(small.y_train) == 9 and len(set(small.x_train[:, 0])) == 9

    @pytest.mark.parametrize("bad", [0, -5, 10.0])
    def test_not_a_count(self, bad):
        with pytest.raises(ValueError, match="n_train must be an integer >= 1"):
            subsample(id_dataset(), bad)


class TestLabelNoise:
    @given(n=st.integers(1, 300), fraction=st.floats(0.0, 1.0), n_classes=st.integers(2, 10),
           seed=st.integers(0, 2**32 - 1))
    def test_exact_count_all_to_another_class(self, n, fraction, n_classes, seed):
        y = np.arange(n) % n_classes
        before = y.copy()
        noisy = add_label_noise(y, fraction, seed=seed, n_classes=n_classes, always_wrong=True)
        assert np.count_nonzero(noisy != y) == int(round(fraction * n))
        assert noisy.min() >= 0 and noisy.max() < n_classes
        np.testing.assert_array_equal(y, before)  # the input is not modified
        np.testing.assert_array_equal(add_label_noise(y, fraction, seed=seed, n_classes=n_classes,
                                                      always_wrong=True), noisy)

    @given(n=st.integers(1, 300), fraction=st.floats(0.0, 1.0), n_classes=st.integers(2, 10),
           seed=st.integers(0, 2**32 - 1))
    def test_uniform_redraws_change_at_most_the_chosen_labels(self, n, fraction, n_classes, seed):
        y = np.arange(n) % n_classes
        noisy = add_label_noise(y, fraction, seed=seed, n_classes=n_classes)
        assert np.count_nonzero(noisy != y) <= int(round(fraction * n))
        assert noisy.min() >= 0 and noisy.max() < n_classes

    def test_random_labels_are_right_by_chance_only(self):
        # Zhang et al.'s random labels: uniform over the classes, so about 1/k stay right
        y = np.arange(5000) % 10
        noisy = add_label_noise(y, 1.0, seed=0)
        assert abs(np.mean(noisy == y) - 0.1) < 0.015
        assert np.all(np.abs(np.bincount(noisy, minlength=10) - 500) < 90)

    def test_always_wrong_leaves_no_label_right(self):
        y = np.arange(50) % 5
        assert np.all(add_label_noise(y, 1.0, seed=0, always_wrong=True) != y)
        with pytest.raises(TypeError, match="always_wrong must be True or False"):
            add_label_noise(y, 1.0, always_wrong=1)

    def test_seed_changes_which_labels(self):
        y = np.arange(200) % 10
        a, b = add_label_noise(y, 0.3, seed=0), add_label_noise(y, 0.3, seed=1)
        assert not np.array_equal(a != y, b != y)

    def test_new_classes_are_spread(self):
        # Every wrong class is reachable, not just the next one.
        y = np.zeros(3000, dtype=int)
        noisy = add_label_noise(y, 1.0, seed=0, n_classes=4, always_wrong=True)
        counts = np.bincount(noisy, minlength=4)
        assert counts[0] == 0 and np.all(np.abs(counts[1:] - 1000) < 120)

    @pytest.mark.parametrize("fraction", [-0.1, 1.5, np.nan])
    def test_bad_fraction(self, fraction):
        with pytest.raises(ValueError, match="fraction must be"):
            add_label_noise([0, 1, 2], fraction)

    def test_single_class_needs_n_classes(self):
        with pytest.raises(ValueError, match="n_classes must be an integer >= 2; got 1"):
            add_label_noise([0, 0, 0, 0], 0.5)
        assert add_label_noise([0, 0, 0, 0], 0.5, n_classes=2, always_wrong=True).tolist().count(1) == 2

    def test_n_classes_must_cover_the_labels(self):
        with pytest.raises(ValueError, match="n_classes must be larger than the largest label 5; got 3"):
            add_label_noise([0, 5, 1], 0.5, n_classes=3)

    def test_labels_must_be_class_indices(self):
        with pytest.raises(ValueError, match="y must hold class indices"):
            add_label_noise([0.5, 1.0], 0.5)


def test_noisy_sine():
    x, y = make_noisy_sine(50, noise=0.0, seed=0)
    assert np.all(np.diff(x) >= 0) and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(y, np.sin(2 * np.pi * x))
    _, y_noisy = make_noisy_sine(2000, noise=0.3, seed=1)
    x_noisy, _ = make_noisy_sine(2000, noise=0.3, seed=1)
    assert np.std(y_noisy - sine(x_noisy)) == pytest.approx(0.3, rel=0.05)


class TestSparseRegression:
    @given(n_features=st.integers(1, 40), data=st.data())
    def test_support_size(self, n_features, data):
        n_informative = data.draw(st.integers(1, n_features))
        x, y, w = make_sparse_regression(30, n_features, n_informative, noise=0.0, seed=n_features)
        assert x.shape == (30, n_features) and y.shape == (30,) and w.shape == (n_features,)
        assert np.count_nonzero(w) == n_informative
        assert np.all((np.abs(w[w != 0]) >= 1) & (np.abs(w[w != 0]) <= 3))
        np.testing.assert_allclose(y, x @ w)

    def test_noise_level(self):
        x, y, w = make_sparse_regression(5000, 10, 3, noise=2.0, seed=0)
        assert np.std(y - x @ w) == pytest.approx(2.0, rel=0.05)

    def test_too_many_informative(self):
        with pytest.raises(ValueError, match=r"n_informative must be <= n_features \(5\); got 6"):
            make_sparse_regression(10, 5, 6)


@pytest.mark.parametrize("correlation", [0.0, 0.5, 0.95])
def test_correlated_groups(correlation):
    x, y, w, groups = make_correlated_groups(5000, n_groups=3, group_size=3, correlation=correlation,
                                             n_noise_features=4, noise=0.5, seed=0)
    assert x.shape == (5000, 13)
    assert groups.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, -1, -1]
    np.testing.assert_array_equal(w, (groups >= 0).astype(float))
    corr = np.corrcoef(x, rowvar=False)
    same = (groups[:, None] == groups[None, :]) & (groups[:, None] >= 0) & ~np.eye(13, dtype=bool)
    np.testing.assert_allclose(corr[same], correlation, atol=0.05)
    assert np.all(np.abs(corr[~same & ~np.eye(13, dtype=bool)]) < 0.05)
    assert np.std(y - x @ w) == pytest.approx(0.5, rel=0.05)


def test_correlation_must_be_a_rate():
    with pytest.raises(ValueError, match=r"correlation must be in \[0, 1\)"):
        make_correlated_groups(10, correlation=1.0)


def test_load_mnist1d():
    d = load_mnist1d()
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.n_classes == 10
    assert set(np.unique(d.y_train)) == set(range(10)) == set(np.unique(d.y_test))


def test_corrupted_mnist1d_is_refused(tmp_path, monkeypatch):
    shutil.copy(MNIST1D_PATH.parent / "SHA256SUMS", tmp_path / "SHA256SUMS")
    with np.load(MNIST1D_PATH) as arrays:
        changed = {k: arrays[k].copy() for k in arrays.files}
    changed["y_train"][0] = (changed["y_train"][0] + 1) % 10  # one label edited
    np.savez(tmp_path / "mnist1d.npz", **changed)
    monkeypatch.setattr(data_module, "DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match="does not match its checksum"):
        load_mnist1d()


def test_missing_mnist1d_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="make data"):
        load_mnist1d()


def test_blobs_fixture_is_balanced():
    # The synthetic set other tests build on really has balanced classes.
    assert np.bincount(make_classification(n_train=60).y_train).tolist() == [20, 20, 20]


class TestDraws:
    def test_replicate_r_is_the_split_and_subsample_with_seed_r(self):
        source = load_mnist1d()
        draws = Draws(source, n_train=400)
        for r in (0, 3):
            expected = subsample(split_validation(source, 0.2, seed=r), 400, seed=r)
            got = draws(r)
            for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
                np.testing.assert_array_equal(getattr(got, part), getattr(expected, part))
        assert not np.array_equal(draws(0).y_val, draws(1).y_val)         # the validation split is drawn too
        np.testing.assert_array_equal(draws(0).x_test, draws(1).x_test)   # the test set stays fixed

    def test_without_split_or_subsample(self):
        source = load_mnist1d()
        assert Draws(source, val_fraction=None)(2) is source
        assert len(Draws(source, n_train=None)(1).y_train) == 3200

    @pytest.mark.parametrize("kwargs, error, message", [
        (dict(source="mnist"), TypeError, "source must be a course_utils.data.Dataset; got str"),
        (dict(val_fraction=1.0), ValueError, "val_fraction must be"),
        (dict(n_train=0), ValueError, "n_train must be an integer >= 1"),
    ])
    def test_bad_arguments(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            Draws(**{"source": id_dataset(), **kwargs})

    def test_bad_replicate(self):
        with pytest.raises(ValueError, match="replicate must be an integer >= 0"):
            Draws(id_dataset(), val_fraction=0.5)(-1)


class TestOtherDataDraws:
    """COURSE_DATA_DRAW re-runs a notebook on fresh data: every data seed moves, none is shared with draw 0."""

    def test_draw_zero_keeps_the_named_seeds(self, monkeypatch):
        monkeypatch.delenv(DRAW_VARIABLE, raising=False)
        assert data_draw() == 0 and draw_seed(7) == 7

    def test_another_draw_moves_every_data_seed(self, monkeypatch):
        y = np.arange(100) % 5
        before = (subsample(load_mnist1d(), 100, seed=0).y_train, add_label_noise(y, 0.5, seed=0),
                  make_noisy_sine(20, seed=0)[1])
        monkeypatch.setenv(DRAW_VARIABLE, "1")
        assert data_draw() == 1 and draw_seed(7) == 7 + DRAW_STRIDE
        after = (subsample(load_mnist1d(), 100, seed=0).y_train, add_label_noise(y, 0.5, seed=0),
                 make_noisy_sine(20, seed=0)[1])
        for a, b in zip(before, after):
            assert not np.array_equal(a, b)

    @pytest.mark.parametrize("value", ["-1", "one", "1.5"])
    def test_bad_value(self, monkeypatch, value):
        monkeypatch.setenv(DRAW_VARIABLE, value)
        with pytest.raises(ValueError, match="COURSE_DATA_DRAW must be a non-negative integer"):
            data_draw()
