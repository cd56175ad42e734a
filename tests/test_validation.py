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


# ---------------------------------------------------------------- every public entry point

def _clear_error_cases():
    """(call, exception, message pattern): the message names the argument and what is allowed."""
    import torch

    import course_utils
    from course_utils import Config, Dataset, build_model, evaluate, fit, predict, sweep
    from course_utils.data import (add_label_noise, load_digits, make_correlated_groups, make_noisy_sine,
                                   make_sparse_regression, split_validation, subsample)
    from course_utils.models import CNN1d, MLP, GaussianNoise
    from course_utils.penalties import elastic_net_penalty, parameter_groups
    from course_utils.training import EarlyStopping

    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    good = Dataset(x, y, x, y)
    one_of_models, one_of_optimizers = "'mlp', 'cnn'", "'sgd', 'adam', 'adamw'"
    cases = {
        # Config: ranges, options, counts
        "dropout=1": (lambda: Config(dropout=1.0), ValueError, r"dropout must be in \[0, 1\); got 1.0"),
        "dropout<0": (lambda: Config(dropout=-0.1), ValueError, r"dropout must be in \[0, 1\); got -0.1"),
        "input_dropout": (lambda: Config(input_dropout=1.5), ValueError, r"input_dropout must be in \[0, 1\)"),
        "dropout-str": (lambda: Config(dropout="0.5"), ValueError, "dropout must be a finite number; got '0.5'"),
        "l1<0": (lambda: Config(l1=-1), ValueError, r"l1 must be in \[0, inf\); got -1"),
        "l2<0": (lambda: Config(l2=-0.1), ValueError, r"l2 must be in \[0, inf\); got -0.1"),
        "weight_decay<0": (lambda: Config(weight_decay=-1e-4), ValueError, r"weight_decay must be in \[0, inf\)"),
        "l2=nan": (lambda: Config(l2=float("nan")), ValueError, "l2 must be a finite number; got nan"),
        "input_noise<0": (lambda: Config(input_noise=-0.1), ValueError, r"input_noise must be in \[0, inf\)"),
        "optimizer": (lambda: Config(optimizer="rmsprop"), ValueError,
                      rf"optimizer must be one of {one_of_optimizers}; got 'rmsprop'"),
        "optimizer-case": (lambda: Config(optimizer="Adam"), ValueError, rf"one of {one_of_optimizers}; got 'Adam'"),
        "activation": (lambda: Config(activation="sigmoid"), ValueError,
                       r"activation must be one of 'relu', 'tanh', 'gelu'; got 'sigmoid'"),
        "model": (lambda: Config(model="resnet"), ValueError, rf"model must be one of {one_of_models}; got 'resnet'"),
        "seed<0": (lambda: Config(seed=-1), ValueError, "seed must be an integer >= 0; got -1"),
        "seed-float": (lambda: Config(seed=1.5), ValueError, "seed must be an integer >= 0; got 1.5"),
        "seed-str": (lambda: Config(seed="0"), ValueError, "seed must be an integer >= 0; got '0'"),
        "seed-bool": (lambda: Config(seed=True), ValueError, "seed must be an integer >= 0; got True"),
        "patience=0": (lambda: Config(patience=0), ValueError, "patience must be an integer >= 1; got 0"),
        "patience-float": (lambda: Config(patience=2.5), ValueError, "patience must be an integer >= 1; got 2.5"),
        "min_delta<0": (lambda: Config(min_delta=-0.1), ValueError, r"min_delta must be in \[0, inf\)"),
        "lr=0": (lambda: Config(lr=0), ValueError, r"lr must be in \(0, inf\); got 0"),
        "momentum=1": (lambda: Config(momentum=1.0), ValueError, r"momentum must be in \[0, 1\); got 1.0"),
        "batch_size=0": (lambda: Config(batch_size=0), ValueError, "batch_size must be an integer >= 1; got 0"),
        "epochs-float": (lambda: Config(epochs=2.5), ValueError, "epochs must be an integer >= 1; got 2.5"),
        "label_smoothing": (lambda: Config(label_smoothing=1.0), ValueError, r"label_smoothing must be in \[0, 1\)"),
        "hidden-int": (lambda: Config(hidden=100), ValueError,
                       r"hidden must be a tuple of positive layer sizes such as \(100, 100\); got 100"),
        "hidden-zero": (lambda: Config(hidden=(100, 0)), ValueError, "hidden must be a tuple of positive layer sizes"),
        "cnn-no-layers": (lambda: Config(model="cnn", hidden=()), ValueError, "a CNN needs at least one conv layer"),
        # models
        "mlp-dropout=1": (lambda: MLP(10, 2, dropout=1.0), ValueError, r"dropout must be in \[0, 1\); got 1.0"),
        "mlp-dropout<0": (lambda: MLP(10, 2, dropout=-0.5), ValueError, r"dropout must be in \[0, 1\)"),
        "mlp-input_dropout": (lambda: MLP(10, 2, input_dropout=1), ValueError, r"input_dropout must be in \[0, 1\)"),
        "mlp-input_noise": (lambda: MLP(10, 2, input_noise=-1.0), ValueError, r"input_noise must be in \[0, inf\)"),
        "mlp-n_inputs": (lambda: MLP(0, 2), ValueError, "n_inputs must be an integer >= 1; got 0"),
        "mlp-n_outputs": (lambda: MLP(10, 2.0), ValueError, "n_outputs must be an integer >= 1; got 2.0"),
        "mlp-activation": (lambda: MLP(10, 2, activation="sigmoid"), ValueError,
                           "activation must be one of 'relu', 'tanh', 'gelu'"),
        "mlp-width": (lambda: MLP(10, 2, hidden=(5, -1)), ValueError,
                      r"hidden must be a tuple of positive layer sizes such as \(100, 100\); got \(5, -1\)"),
        "mlp-hidden-int": (lambda: MLP(10, 2, hidden=100), ValueError,
                           r"hidden must be a tuple of positive layer sizes such as \(100, 100\); got 100"),
        "hidden-bool": (lambda: Config(hidden=(True,)), ValueError, "hidden must be a tuple of positive layer sizes"),
        "hidden-str": (lambda: Config(hidden="100"), ValueError, "hidden must be a tuple of positive layer sizes"),
        "cnn-dropout": (lambda: CNN1d(40, 10, dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
        "cnn-input_noise": (lambda: CNN1d(40, 10, input_noise=-1.0), ValueError, r"input_noise must be in \[0, inf\)"),
        "cnn-channels": (lambda: CNN1d(40, 10, channels=(4, 0)), ValueError,
                         r"channels must be a tuple of positive layer sizes such as \(100, 100\); got \(4, 0\)"),
        "cnn-channels-int": (lambda: CNN1d(40, 10, channels=25), ValueError, "channels must be a tuple of positive"),
        "cnn-length": (lambda: CNN1d(0, 10), ValueError, "length must be an integer >= 1; got 0"),
        "noise-std": (lambda: GaussianNoise(-0.5), ValueError, r"std must be in \[0, inf\)"),
        "build_model-config": (lambda: build_model("mlp", 4, 2), TypeError, "config must be a course_utils.Config"),
        # data
        "x-nan": (lambda: Dataset(np.array([[np.nan, 1.0]]), [0], x[:1, :2], [0]), ValueError,
                  r"x_train contains 1 NaN or infinite value\(s\)"),
        "y-inf": (lambda: Dataset(x, [0.0, np.inf, 1.0, 2.0], x, y), ValueError,
                  r"y_train contains 1 NaN or infinite value\(s\)"),
        "x_test-nan": (lambda: Dataset(x, y, np.full((2, 3), np.nan), [0, 1]), ValueError,
                       "x_test contains 6 NaN"),
        "x-empty": (lambda: Dataset(np.ones((0, 3)), [], x, y), ValueError, r"x_train is empty \(shape \(0, 3\)\)"),
        "x-1d": (lambda: Dataset(np.ones(4), y, x, y), ValueError, r"x_train must be 2-D or 3-D; got shape \(4,\)"),
        "x-4d": (lambda: Dataset(np.ones((4, 1, 1, 3)), y, x, y), ValueError, "x_train must be 2-D or 3-D"),
        "lengths": (lambda: Dataset(x, y[:3], x, y), ValueError, "x_train has 4, y_train has 3"),
        "val-lengths": (lambda: Dataset(x, y, x, y, x_val=x, y_val=y[:2]), ValueError, "x_val has 4, y_val has 2"),
        "x-strings": (lambda: Dataset([["a", "b"]], [0], x, y), TypeError, "x_train must be array-like of numbers"),
        "n_train-too-large": (lambda: subsample(good, 5), ValueError,
                              "n_train must be <= the 4 training samples available; got 5"),
        "n_train-zero": (lambda: subsample(good, 0), ValueError, "n_train must be an integer >= 1; got 0"),
        "split-fraction": (lambda: split_validation(good, 1.0), ValueError, r"fraction must be in \(0, 1\); got 1.0"),
        "noise-fraction": (lambda: add_label_noise(y, 2.0), ValueError, r"fraction must be in \[0, 1\]; got 2.0"),
        "noise-labels": (lambda: add_label_noise([0, -1], 0.5), ValueError, "y must hold class indices"),
        "noise-n_classes": (lambda: add_label_noise(y, 0.5, n_classes=1), ValueError,
                            "n_classes must be an integer >= 2; got 1"),
        "sparse-n_samples": (lambda: make_sparse_regression(0, 5, 2), ValueError,
                             "n_samples must be an integer >= 1; got 0"),
        "sparse-noise": (lambda: make_sparse_regression(10, 5, 2, noise=-1.0), ValueError,
                         r"noise must be in \[0, inf\)"),
        "groups-correlation": (lambda: make_correlated_groups(10, correlation=1.0), ValueError,
                               r"correlation must be in \[0, 1\); got 1.0"),
        "groups-noise-features": (lambda: make_correlated_groups(10, n_noise_features=-1), ValueError,
                                  "n_noise_features must be an integer >= 0; got -1"),
        "sine-noise": (lambda: make_noisy_sine(10, noise=-0.3), ValueError, r"noise must be in \[0, inf\)"),
        "digits-test_fraction": (lambda: load_digits(test_fraction=0.0), ValueError,
                                 r"test_fraction must be in \(0, 1\); got 0.0"),
        # training
        "patience-without-val": (lambda: fit(MLP(3, 2, hidden=()), good, Config(patience=2), progress=False),
                                 ValueError, r"early stopping \(patience\) needs a validation set"),
        "fit-model": (lambda: fit(None, good), TypeError, "model must be a torch.nn.Module; got NoneType"),
        "stopper-patience": (lambda: EarlyStopping(0), ValueError, "patience must be a positive integer or None; got 0"),
        "stopper-patience-bool": (lambda: EarlyStopping(True), ValueError,
                                  "patience must be a positive integer or None; got True"),
        "predict-1d": (lambda: predict(MLP(3, 2), np.ones(3)), ValueError, r"x must be 2-D or 3-D; got shape \(3,\)"),
        "predict-nan": (lambda: predict(MLP(3, 2), np.full((2, 3), np.nan)), ValueError, "x contains 6 NaN"),
        "evaluate-lengths": (lambda: evaluate(MLP(3, 2), x, y[:2]), ValueError, "x has 4, y has 2"),
        "evaluate-empty": (lambda: evaluate(MLP(3, 2), np.ones((0, 3)), []), ValueError, "x is empty"),
        # penalties
        "elastic-l1": (lambda: elastic_net_penalty([torch.ones(2)], -0.1, 0.0), ValueError, r"l1 must be in \[0, inf\)"),
        "groups-decay": (lambda: parameter_groups(MLP(3, 2), -1.0), ValueError, r"weight_decay must be in \[0, inf\)"),
        # sweep and set-up
        "sweep-seeds": (lambda: sweep(Config(), good, seeds=[-1], progress=False), ValueError,
                        r"seeds must be a non-empty list of non-negative integers; got \[-1\]"),
        "sweep-configs": (lambda: sweep(["mlp"], good, progress=False), TypeError,
                          "every configuration must be a course_utils.Config; got str"),
        "setup-seed<0": (lambda: course_utils.setup(-1), ValueError, "seed must be a non-negative integer; got -1"),
        "setup-seed-float": (lambda: course_utils.setup(0.5), ValueError, "seed must be a non-negative integer"),
    }
    return [pytest.param(*case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize("call, error, message", _clear_error_cases())
def test_public_functions_explain_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
