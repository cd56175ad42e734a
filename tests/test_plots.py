"""Plot helpers: each returns its Axes with the expected lines, bands and labels."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection

from course_utils.plots import OKABE_ITO, apply_style, plot_band, plot_gap, plot_history, plot_sequences, plot_sweep
from course_utils.training import History


def history(epochs=5, val=True, stopped_early=False, best_epoch=None):
    h = History(train_loss=list(np.linspace(1, 0.2, epochs)), train_acc=list(np.linspace(0.5, 1.0, epochs)))
    if val:
        h.val_loss = list(np.linspace(1.1, 0.6, epochs))
        h.val_acc = list(np.linspace(0.4, 0.8, epochs))
    h.stopped_early, h.best_epoch = stopped_early, best_epoch
    return h


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


class TestPlotHistory:
    def test_train_and_validation(self):
        ax = plot_history(history(), "loss")
        assert isinstance(ax, Axes)
        train, val = ax.get_lines()
        np.testing.assert_allclose(train.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_allclose(val.get_ydata(), np.linspace(1.1, 0.6, 5))
        assert val.get_linestyle() == "--" and train.get_color() == val.get_color()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
        assert ax.get_ylabel() == "loss"

    def test_train_only(self):
        ax = plot_history(history(val=False))
        assert len(ax.get_lines()) == 1 and ax.get_ylabel() == "accuracy"

    def test_early_stop_marks_the_best_epoch(self):
        ax = plot_history(history(stopped_early=True, best_epoch=3))
        lines = ax.get_lines()
        assert len(lines) == 3
        np.testing.assert_allclose(lines[2].get_xdata(), [3, 3])

    def test_best_epoch_without_early_stop_is_not_marked(self):
        assert len(plot_history(history(best_epoch=3)).get_lines()) == 2

    def test_draws_on_a_given_axes_with_a_label(self):
        fig, ax = plt.subplots()
        plot_history(history(), ax=ax, label="L2")
        plot_history(history(), ax=ax, label="none")
        assert len(ax.get_lines()) == 4 and len(fig.axes) == 1
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["L2 train", "L2 validation", "none train",
                                                                       "none validation"]

    def test_bad_metric(self):
        with pytest.raises(ValueError, match="metric must be 'acc' or 'loss'; got 'accuracy'"):
            plot_history(history(), "accuracy")


def test_plot_gap():
    ax = plot_gap(history())
    assert isinstance(ax, Axes) and len(ax.get_lines()) == 2 and len(bands(ax)) == 1
    assert "generalization gap" in [t.get_text() for t in ax.get_legend().get_texts()]


class TestPlotBand:
    def test_mean_and_std(self):
        x = [0.1, 1.0, 10.0]
        values = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [0.0, 4.0, 8.0]])
        ax = plot_band(x, values, label="val acc", logx=True)
        assert isinstance(ax, Axes)
        (line,) = ax.get_lines()
        np.testing.assert_allclose(line.get_ydata(), [2.0, 2.0, 4.0])
        (band,) = bands(ax)
        ys = band.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(0.0) and ys.max() == pytest.approx(8.0)  # 4 ± 4
        assert ax.get_xscale() == "log" and line.get_label() == "val acc"

    def test_single_run_has_no_spread(self):
        ax = plot_band([1, 2], [[1.0], [3.0]])
        ys = bands(ax)[0].get_paths()[0].vertices[:, 1]
        assert set(np.round(ys, 12)) <= {1.0, 3.0}

    @pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [[1.0, 2.0]] * 2])
    def test_shape_must_match(self, values):
        with pytest.raises(ValueError, match=r"values must have shape \(len\(x\), runs\) = \(3, runs\)"):
            plot_band([1, 2, 3], values)


class TestPlotSweep:
    table = pd.DataFrame({"l2": [0.0, 0.0, 0.1, 0.1, 1.0, 1.0], "seed": [0, 1] * 3,
                          "train_acc": [1.0, 0.9, 0.8, 0.8, 0.5, 0.7], "val_acc": [0.6, 0.7, 0.75, 0.75, 0.5, 0.6]})

    def test_one_curve_per_metric(self):
        ax = plot_sweep(self.table, "l2", ["train_acc", "val_acc"])
        assert isinstance(ax, Axes)
        lines = ax.get_lines()
        assert len(lines) == 2 and len(bands(ax)) == 2
        np.testing.assert_allclose(lines[0].get_xdata(), [0.0, 0.1, 1.0])
        np.testing.assert_allclose(lines[0].get_ydata(), [0.95, 0.8, 0.6])
        np.testing.assert_allclose(lines[1].get_ydata(), [0.65, 0.75, 0.55])
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train acc", "val acc"]
        assert ax.get_xlabel() == "l2"

    def test_single_metric(self):
        assert len(plot_sweep(self.table, "l2", "val_acc").get_lines()) == 1

    @pytest.mark.parametrize("x, y, name", [("l1", "val_acc", "l1"), ("l2", "test_acc", "test_acc")])
    def test_unknown_column(self, x, y, name):
        with pytest.raises(ValueError, match=f"unknown column '{name}'; the table has l2, seed, train_acc, val_acc"):
            plot_sweep(self.table, x, y)


def test_plot_sequences_one_panel_per_class():
    x = np.arange(30, dtype=float).reshape(3, 10)
    axes = plot_sequences(x, np.array([2, 0, 2]), n_classes=4)
    assert len(axes) == 4
    assert [len(ax.get_lines()) for ax in axes] == [1, 0, 1, 0]
    np.testing.assert_allclose(axes[0].get_lines()[0].get_ydata(), x[1])  # the first member of class 0
    assert axes[2].get_title() == "class 2"


def test_style_is_colour_blind_safe():
    mpl.rcdefaults()
    apply_style()
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == OKABE_ITO
    ax = plot_history(history())
    assert ax.get_lines()[0].get_color() == OKABE_ITO[0]

