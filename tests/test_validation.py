"""The input checks every public function relies on: what they accept, and what their messages say."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.validation import (check_array, check_choice, check_labels, check_nonnegative, check_number,
                                     check_positive_int, check_rate, check_same_length)


class TestCheckArray:
    def test_returns_float_array(self):
        arr = check_array([[1, 2], [3, 4]], "x", ndim=2)
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.float64
        np.testing.assert_array_equal(arr, [[1.0, 2.0], [3.0, 4.0]])

    @pytest.mark.parametrize("ndim, allowed", [(2, "2-D"), ((2, 3), "2-D or 3-D")])
    def test_wrong_rank_names_argument_and_allowed_ranks(self, ndim, allowed):
        with pytest.raises(ValueError, match=rf"x_train must be {allowed}; got shape \(3,\)"):
            check_array([1.0, 2.0, 3.0], "x_train", ndim=ndim)

    def test_empty_rejected(self):
        with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 4\)\)"):
            check_array(np.zeros((0, 4)), "x", ndim=2)

    def test_empty_allowed_on_request(self):
        assert check_array(np.zeros((0, 4)), "x", allow_empty=True).shape == (0, 4)

    @pytest.mark.parametrize("bad, count", [([1.0, np.nan, 2.0], 1), ([np.inf, -np.inf, 0.0], 2)])
    def test_non_finite_values_counted(self, bad, count):
        with pytest.raises(ValueError, match=rf"values contains {count} NaN or infinite value\(s\)"):
            check_array(bad, "values")

    def test_non_numeric_is_type_error(self):
        with pytest.raises(TypeError, match="x must be array-like of numbers; got list"):
            check_array(["a", "b"], "x")


class TestCheckLabels:
    def test_float_labels_that_are_integers_become_int64(self):
        labels = check_labels([0.0, 2.0, 1.0])
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, [0, 2, 1])

    @pytest.mark.parametrize("bad", [[0, 1.5, 2], [0, -1, 2]])
    def test_rejects_non_class_indices(self, bad):
        with pytest.raises(ValueError, match=r"y must hold class indices 0, 1, 2"):
            check_labels(bad)

    def test_rejects_2d(self):
        with pytest.raises(ValueError, match="y must be 1-D"):
            check_labels([[0, 1]])


def test_same_length_returns_length():
    assert check_same_length(x=np.zeros((4, 2)), y=np.zeros(4)) == 4


def test_same_length_message_lists_each_length():
    with pytest.raises(ValueError, match="same number of samples: x has 4, y has 3"):
        check_same_length(x=np.zeros((4, 2)), y=np.zeros(3))


class TestCheckNumber:
    @pytest.mark.parametrize("bad", [None, "0.1", True, math.nan, math.inf, [0.1]])
    def test_not_a_finite_number(self, bad):
        with pytest.raises(ValueError, match=r"lr must be a finite number; got"):
            check_number(bad, "lr")

    def test_open_and_closed_bounds_in_message(self):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\); got 0"):
            check_number(0, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\); got 1"):
            check_number(1, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]; got 1.5"):
            check_number(1.5, "momentum", low=0.0, high=1.0)

    def test_half_open_intervals(self):
        with pytest.raises(ValueError, match=r"lr must be in \(0, inf\); got -1"):
            check_number(-1, "lr", low=0.0, low_inclusive=False)
        with pytest.raises(ValueError, match=r"x must be in \(-inf, 2\]; got 3"):
            check_number(3, "x", high=2.0)

    @given(st.floats(0.0, 1.0, exclude_max=True))
    def test_rate_accepts_half_open_unit_interval(self, value):
        assert check_rate(value, "dropout") == value

    @pytest.mark.parametrize("bad", [1.0, -0.01, 2])
    def test_rate_message(self, bad):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\); got"):
            check_rate(bad, "dropout")

    @given(st.floats(0.0, 1e12))
    def test_nonnegative_accepts_every_nonnegative_float(self, value):
        assert check_nonnegative(value, "l2") == value

    def test_nonnegative_accepts_numpy_scalars(self):
        assert check_nonnegative(np.float32(0.5), "l2") == 0.5

    def test_nonnegative_message(self):
        with pytest.raises(ValueError, match=r"l2 must be in \[0, inf\); got -0.1"):
            check_nonnegative(-0.1, "l2")


class TestCheckPositiveInt:
    def test_accepts_python_and_numpy_integers(self):
        assert check_positive_int(3, "epochs") == 3
        value = check_positive_int(np.int64(3), "epochs")
        assert value == 3 and type(value) is int

    @pytest.mark.parametrize("bad", [0, -2, 2.0, 2.5, True, "3", None])
    def test_rejects(self, bad):
        with pytest.raises(ValueError, match=r"epochs must be an integer >= 1; got"):
            check_positive_int(bad, "epochs")

    def test_minimum(self):
        assert check_positive_int(0, "seed", minimum=0) == 0
        with pytest.raises(ValueError, match="seed must be an integer >= 0; got -1"):
            check_positive_int(-1, "seed", minimum=0)


def test_choice_lists_every_option():
    assert check_choice("adam", "optimizer", ("sgd", "adam")) == "adam"
    with pytest.raises(ValueError, match=r"optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"):
        check_choice("rmsprop", "optimizer", ("sgd", "adam"))
