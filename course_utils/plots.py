"""Plotting helpers: learning curves, the train/validation gap, sweeps with spread bands.

Each returns its Axes so a notebook can add a title or a reference line; none
calls ``plt.show()`` (the notebook does, which also keeps Line2D reprs out of
the stored outputs).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:   # for the annotations only: pandas and the training module are not needed to plot
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.typing import ColorType

    from .training import History

__all__ = ["apply_style", "plot_history", "plot_gap", "plot_band", "plot_sweep", "plot_sequences"]

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def apply_style() -> None:
    """One compact, colour-blind-safe style for every figure of the course."""
    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
        "figure.figsize": (6.4, 3.6), "figure.dpi": 90, "savefig.dpi": 90,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
        "legend.frameon": False, "font.size": 10, "lines.linewidth": 1.8,
        "svg.hashsalt": "course",  # SVGs are avoided, but keep them stable if one is made
    })


def _axes(ax):
    return ax if ax is not None else plt.subplots()[1]


def plot_history(history: History, metric: str = "acc", ax: Axes | None = None, label: str = "",
                 color: ColorType | None = None) -> Axes:
    """Train (solid) and validation (dashed) ``metric`` ("acc" or "loss") against epoch."""
    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss'; got {metric!r}")
    ax = _axes(ax)
    epochs = np.arange(1, history.epochs + 1)
    prefix = f"{label} " if label else ""
    line, = ax.plot(epochs, getattr(history, f"train_{metric}"), color=color, label=f"{prefix}train")
    if len(history.val_loss) == history.epochs and history.epochs:
        ax.plot(epochs, getattr(history, f"val_{metric}"), color=line.get_color(), linestyle="--",
                label=f"{prefix}validation")
    if history.best_epoch is not None and history.stopped_early:
        ax.axvline(history.best_epoch, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "loss")
    ax.legend()
    return ax


def plot_gap(history: History, ax: Axes | None = None) -> Axes:
    """Train and validation accuracy with the gap between them shaded."""
    ax = plot_history(history, "acc", ax=ax)
    epochs = np.arange(1, history.epochs + 1)
    ax.fill_between(epochs, history.val_acc, history.train_acc, alpha=0.2, label="generalization gap")
    ax.legend()
    return ax


def plot_band(x: npt.ArrayLike, values: npt.ArrayLike, ax: Axes | None = None, label: str = "",
              color: ColorType | None = None, logx: bool = False) -> Axes:
    """Mean over runs with a ±1 standard-deviation band; ``values`` is (len(x), runs)."""
    ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or len(values) != len(x):
        raise ValueError(f"values must have shape (len(x), runs) = ({len(x)}, runs); got {values.shape}")
    mean, std = values.mean(1), values.std(1, ddof=1) if values.shape[1] > 1 else np.zeros(len(x))
    line, = ax.plot(x, mean, marker="o", markersize=3, color=color, label=label or None)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if logx:
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(x, [f"{v:g}" for v in x])
    return ax


def plot_sweep(table: pd.DataFrame, x: str, y: str | Sequence[str], ax: Axes | None = None,
               logx: bool = False) -> Axes:
    """Sweep curves: mean ± std over seeds of each metric in ``y`` against the column ``x``."""
    ax = _axes(ax)
    for metric in [y] if isinstance(y, str) else y:
        for column in (x, metric):
            if column not in table:
                raise ValueError(f"unknown column {column!r}; the table has {', '.join(table.columns)}")
        grouped = table.groupby(x, sort=True)[metric]
        xs = np.array(list(grouped.groups))
        runs = [grouped.get_group(v).to_numpy() for v in xs]
        n = min(len(r) for r in runs)
        plot_band(xs, np.array([r[:n] for r in runs]), ax=ax, label=metric.replace("_", " "), logx=logx)
    ax.set_xlabel(x.replace("_", " "))
    ax.legend()
    return ax


def plot_sequences(x: npt.ArrayLike, y: npt.ArrayLike, n_classes: int = 10,
                   axes: Axes | Sequence[Axes] | np.ndarray | None = None) -> np.ndarray:
    """One example sequence per class, e.g. of MNIST-1D: each panel is a 1-D "digit".

    ``x`` is (samples, length) and ``y`` its class labels (samples,); returns the panels' Axes, flattened.
    """
    x, y = np.asarray(x), np.asarray(y)
    if axes is None:
        fig, axes = plt.subplots(2, (n_classes + 1) // 2, figsize=(9, 3.2), sharex=True, sharey=True)
    axes = np.ravel(axes)
    for label, ax in zip(range(n_classes), axes):
        members = np.flatnonzero(y == label)
        if len(members):
            ax.plot(x[members[0]], color=OKABE_ITO[0])
        ax.set_title(f"class {label}", fontsize=9)
        ax.grid(False)
    return axes
