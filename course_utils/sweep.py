"""Many configurations × seeds in one call, returned as a tidy table.

The caller hands over a list (or a labelled dict) of ``Config``, the data and
the replicates (``seeds``); how the runs are executed is this module's business.
With ``Draws`` (or any callable ``replicate -> Dataset``) as the data, replicate
r trains on the r-th data draw with initialization seed r, so a claim's
replicates vary the data as well as the seed. Runs that share an
architecture and a schedule, of every replicate, are trained together
(``batched.train_batched`` for networks made of the layers it has rules for,
the course's MLP among them; ``stacked.train_stacked`` for every other,
the course's CNN among them), which matches training each alone up to float
rounding and costs a fraction of the time; the rest run one by one.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import nn
from tqdm import tqdm

from .augment import WithAugmentation, can_transform
from .batched import LayeredMembers
from .config import Config
from .data import Dataset
from .models import build_model, model_sizes
from .members import SHARED_FIELDS, can_batch, train_members
from .stacked import StackedMembers
from .training import BAR_FORMAT, History, evaluate, fit, show_progress

if TYPE_CHECKING:   # pandas is imported when a sweep runs
    import pandas as pd

__all__ = ["SweepResult", "sweep"]


@dataclass
class SweepResult:
    """``table`` has one row per (configuration, seed); ``histories``/``models`` follow its rows."""

    table: pd.DataFrame
    histories: list[History]
    models: list[nn.Module]
    interrupted: bool = False

    def summary(self, by: str | Sequence[str] = "label", metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Mean and standard deviation of each metric over seeds, per configuration.

        ``metrics`` defaults to the accuracies and the gap that the table has.
        """
        if metrics is None:
            metrics = [m for m in ("train_acc", "val_acc", "test_acc", "gap") if m in self.table]
        for kind, names in (("column", [by] if isinstance(by, str) else by), ("metric", metrics)):
            for name in names:
                if name not in self.table:
                    raise ValueError(f"unknown {kind} {name!r}; the table has {', '.join(self.table.columns)}")
        return self.table.groupby(list([by] if isinstance(by, str) else by), sort=False)[list(metrics)].agg(["mean", "std"])

    def values(self, metric: str, **where: object) -> np.ndarray:
        """One metric's per-seed values for the rows matching ``where`` (e.g. ``label="L2"``), shape (seeds,)."""
        if metric not in self.table:
            raise ValueError(f"unknown metric {metric!r}; the table has {', '.join(self.table.columns)}")
        rows = self.table
        for column, value in where.items():
            if column not in rows:
                raise ValueError(f"unknown column {column!r}; the table has {', '.join(self.table.columns)}")
            rows = rows[rows[column] == value]
        if rows.empty:
            raise ValueError(f"no rows match {where}")
        return rows.sort_values("seed", kind="stable")[metric].to_numpy()

    def difference(self, metric: str, first: object, second: object, by: str = "label") -> np.ndarray:
        """Paired per-replicate differences ``first - second`` of ``metric``, matched on the seed column.

        ``first`` and ``second`` are values of the column ``by`` (labels, by default).
        Returns shape (replicates,), in seed order.
        """
        a, b = (self.table[self.table[by] == value].set_index("seed")[metric] if by in self.table else None
                for value in (first, second))
        if a is None:
            raise ValueError(f"unknown column {by!r}; the table has {', '.join(self.table.columns)}")
        for value, rows in ((first, a), (second, b)):
            if rows.empty:
                raise ValueError(f"no rows with {by} == {value!r}")
        if sorted(a.index) != sorted(b.index):
            raise ValueError(f"{first!r} and {second!r} were not run on the same replicates "
                             f"({sorted(a.index)} against {sorted(b.index)}): they cannot be paired")
        return (a - b.loc[a.index]).sort_index().to_numpy()


def _varying(configs: Sequence[Config]) -> list[str]:
    """The Config fields (other than the seed) whose value differs between configurations."""
    return [name for name in Config.field_names()
            if name != "seed" and len({getattr(c, name) for c in configs}) > 1]


def _labelled(configs) -> list[tuple[str, Config]]:
    if isinstance(configs, Config):
        configs = [configs]
    items = list(configs.items()) if isinstance(configs, Mapping) else [(None, c) for c in configs]
    if not items:
        raise ValueError("configs is empty: give at least one Config")
    for _, config in items:
        if not isinstance(config, Config):
            raise TypeError(f"every configuration must be a course_utils.Config; got {type(config).__name__}")
    first_of: dict[Config, int] = {}
    for i, (_, config) in enumerate(items):
        twin = first_of.setdefault(dataclasses.replace(config, seed=0), i)
        if twin != i:
            raise ValueError(f"configurations {twin} and {i} differ at most in their seed, and sweep sets every "
                             "run's seed from seeds=..., so they would train the same runs: drop one, or ask for "
                             "more seeds")
    varying = _varying([c for _, c in items])
    return [(label if label is not None else ", ".join(f"{n}={getattr(c, n)}" for n in varying) or "base", c)
            for label, c in items]


def sweep(configs: Config | Sequence[Config] | Mapping[str, Config], data: Dataset | Callable[[int], Dataset],
          seeds: Sequence[int] = (0, 1, 2, 3, 4), progress: bool | None = None,
          model_fn: Callable[[Config, int, int], nn.Module] = build_model,
          track_validation: bool = True, batched: bool = True) -> SweepResult:
    """Train every configuration on every replicate; return a table of final metrics.

    ``configs`` is one ``Config``, a list of them, or a dict ``label -> Config``.
    ``data`` is one fixed ``Dataset`` (replicates then differ only in their
    initialization seed) or a ``Draws`` / callable giving replicate r's data,
    which replicate r trains on with initialization seed r: configurations are
    paired on the same replicates, as ``SweepResult.difference`` compares them.

    ``model_fn(config, n_inputs, n_outputs)`` builds each run's network; the
    default builds the course's MLP/CNN from the config. Pass your own to sweep
    a network with a layer built in a notebook (seed it from ``config.seed``).
    ``track_validation=False`` skips the per-epoch validation pass (and so
    early stopping and per-epoch validation curves) when only the final
    metrics matter; the table still reports them. ``batched=False`` trains
    every run alone with ``fit`` (the reference the batched engine is tested
    against). Networks of a custom ``model_fn`` train batched when
    ``batched.can_train_batched`` says so, and otherwise stacked with
    ``torch.func``: their layers must then run under ``vmap`` (ordinary torch
    layers do); if yours cannot, pass ``batched=False``.

    Each row records the configuration's label, every field that varies, the
    seed, the final (or restored best) train/val/test metrics and
    ``gap = train_acc - val_acc`` (or ``test_acc`` when there is no validation set).
    """
    import pandas as pd
    if not isinstance(data, Dataset) and not callable(data):
        raise TypeError(f"data must be a course_utils.data.Dataset, or Draws (a callable replicate -> Dataset); "
                        f"got {type(data).__name__}")
    labelled, seeds = _labelled(configs), _checked_seeds(seeds)
    varying = _varying([c for _, c in labelled])
    if not track_validation and any(c.patience is not None for _, c in labelled):
        raise ValueError("early stopping (patience) needs track_validation=True")
    draws = {seed: _draw(data, seed) for seed in seeds}
    train_draws = draws if track_validation else {
        seed: dataclasses.replace(d, x_val=None, y_val=None) for seed, d in draws.items()}
    runs = [(label, dataclasses.replace(config, seed=seed)) for label, config in labelled for seed in seeds]
    bar = tqdm(total=sum(run.epochs for _, run in runs), desc=f"sweep of {len(runs)} runs", unit="epochs",
               bar_format=BAR_FORMAT, disable=not show_progress(progress), file=sys.stderr)
    bar_lock = threading.Lock()   # batched groups report from their worker threads

    def advance(epochs: int) -> None:
        with bar_lock:
            bar.update(epochs)

    trained: dict[int, tuple[History, nn.Module]] = {}
    interrupted = False
    try:
        # Runs of every replicate train together, each member on its own replicate's data, when every
        # replicate's arrays have the same sizes; otherwise each replicate's runs train apart.
        same_sizes = len({tuple(getattr(d, name).shape for name in ("x_train", "x_val") if getattr(d, name) is not None)
                          for d in train_draws.values()}) == 1
        for group in _groups([run for _, run in runs], batched, apart=not same_sizes):
            configs_of_group = [runs[i][1] for i in group]
            results = _train_group(configs_of_group, [train_draws[c.seed] for c in configs_of_group], model_fn,
                                   advance)
            # Runs cut short keep what they learned (their best weights, as fit keeps them); a run that
            # diverged at its first step is a result too (diverged=True). Only runs never started are left out.
            trained.update((i, result) for i, result in zip(group, results)
                           if result[0].epochs or result[0].diverged)
            if any(history.interrupted for history, _ in results):
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        interrupted = True
        partial = sum(history.interrupted for history, _ in trained.values())
        print(f"Sweep interrupted: {len(trained) - partial} finished run(s) and {partial} cut short are kept; "
              "the table's 'interrupted' column marks the ones cut short.")
    finally:
        bar.close()
    done = sorted(trained)
    table = pd.DataFrame([_row(*runs[i], varying, *trained[i], draws[runs[i][1].seed]) for i in done])
    if interrupted:
        table["interrupted"] = [trained[i][0].interrupted for i in done]
    return SweepResult(table, [trained[i][0] for i in done], [trained[i][1] for i in done], interrupted)


def _checked_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative integers; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat: a repeated seed trains the same replicate twice; got {seeds!r}")
    return [int(s) for s in seeds]


def _train_group(configs: list[Config], datasets: list[Dataset], model_fn: Callable,
                 advance: Callable[[int], None]) -> list[tuple[History, nn.Module]]:
    """One group's runs, each on its replicate's data: together by an engine, or a run alone by fit."""
    if len(configs) == 1:
        model = model_fn(configs[0], *model_sizes(datasets[0]))
        history = fit(model, datasets[0], configs[0], progress=False)
        advance(configs[0].epochs)
        return [(history, model)]
    augmented = isinstance(model_fn, WithAugmentation) and can_transform(model_fn.layer)
    try:   # each network by batched.py's layer rules if it can, else stacked under vmap
        return train_members([LayeredMembers, StackedMembers], configs, datasets, progress=advance,
                             augmentation=model_fn.layer if augmented else None,
                             model_fn=None if augmented else model_fn)
    except RuntimeError as error:   # most often a layer that vmap cannot run
        raise RuntimeError(f"the networks of this model_fn could not be trained together ({error}); "
                           "pass batched=False to train each alone with fit") from error


def _draw(data, seed: int) -> Dataset:
    """Replicate ``seed``'s data: the fixed dataset, or the callable's draw for that replicate."""
    if isinstance(data, Dataset):
        return data
    drawn = data(seed)
    if not isinstance(drawn, Dataset):
        raise TypeError(f"data({seed}) must return a course_utils.data.Dataset; got {type(drawn).__name__}")
    return drawn


def _groups(runs: Sequence[Config], batched: bool, apart: bool = False) -> list[list[int]]:
    """Indices of runs to train together: those sharing architecture and schedule (and, ``apart``, the
    replicate's data), or one by one."""
    if not batched:
        return [[i] for i in range(len(runs))]
    shared: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        key = tuple(repr(getattr(run, name)) for name in SHARED_FIELDS) + ((run.seed,) if apart else ())
        shared.setdefault(key, []).append(i)
    groups = []
    for members in shared.values():
        together = can_batch([runs[i] for i in members])[0]
        groups += [members] if together else [[i] for i in members]
    return groups


def _row(label, run: Config, varying, history: History, model, data: Dataset) -> dict:
    row = {"label": label, **{n: getattr(run, n) for n in varying}, "seed": run.seed,
           "epochs": history.epochs, "best_epoch": history.best_epoch, "diverged": history.diverged}
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x is not None:
            metrics = evaluate(model, x, y)
            row[f"{split}_loss"], row[f"{split}_acc"] = metrics["loss"], metrics["acc"]
    row["gap"] = row["train_acc"] - row.get("val_acc", row["test_acc"])
    return row
