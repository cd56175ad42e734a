"""The training engine: ``fit`` a model on in-memory tensors and return its history.

Batches are slices of tensors already in memory (a ``DataLoader`` costs several
times more per step for models this small). Every epoch both splits are
evaluated in eval mode, so the recorded train/validation gap is the model's,
not an average over a changing, dropout-perturbed model.
"""
from __future__ import annotations

import copy
import math
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from .config import Config
from .constraints import max_norm_
from .data import Dataset
from .penalties import elastic_net_penalty, parameter_groups, penalized_parameters
from .validation import check_array, check_nonnegative, check_same_length

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BAR_FORMAT", "show_progress", "progress", "History", "EarlyStopping", "as_tensors", "predict", "evaluate",
           "make_optimizer", "train_epoch", "check_run", "restore_best", "fit"]

BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} |{bar:20}|"
PROGRESS_VARIABLE = "COURSE_PROGRESS"   # "0": no progress bars (stored and tested notebook runs set it)


def show_progress(progress: bool | None) -> bool:
    """``progress`` itself when given; by default on, unless the environment variable COURSE_PROGRESS is 0.

    A learner sees a bar on every long run; executions that store or compare outputs set COURSE_PROGRESS=0,
    so no bar snapshot is stored or compared.
    """
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (the default); got {progress!r}")
    return progress if progress is not None else os.environ.get(PROGRESS_VARIABLE, "1") != "0"


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it") -> tqdm:
    """A progress bar for a notebook's own loop, shown exactly when ``fit``'s and ``sweep``'s bars are.

    Wrap an iterable (``for x in cu.progress(xs, desc="widths")``) or give ``total`` and call ``update``.
    """
    return tqdm(iterable, total=total, desc=desc, unit=unit, bar_format=BAR_FORMAT, file=sys.stderr,
                disable=not show_progress(None))


EVAL_CHUNK = 8192


@dataclass
class History:
    """Per-epoch metrics of one run, plus how it ended and its best weights."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    best_epoch: int | None = None          # epoch (1-based) with the lowest validation loss
    best_state: dict | None = None         # a copy of the weights at best_epoch
    stopped_early: bool = False
    diverged: bool = False                 # the training loss became NaN or infinite
    interrupted: bool = False              # stopped by Ctrl-C; everything up to then is kept

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def epochs_to_reach(self, target: float, metric: str = "val_acc") -> int:
        """First epoch (1-based) at which ``metric`` reaches ``target``.

        A run that never reaches it counts as one epoch more than it trained:
        a lower bound, which can only understate how long it would have needed.
        """
        if metric not in ("train_acc", "val_acc"):
            raise ValueError(f"metric must be 'train_acc' or 'val_acc'; got {metric!r}")
        reached = np.flatnonzero(np.asarray(getattr(self, metric)) >= target)
        return int(reached[0]) + 1 if len(reached) else self.epochs + 1

    def to_frame(self) -> pd.DataFrame:
        """The history as a pandas DataFrame indexed by epoch."""
        import pandas as pd
        columns = {"train_loss": self.train_loss, "val_loss": self.val_loss,
                   "train_acc": self.train_acc, "val_acc": self.val_acc}
        frame = pd.DataFrame({k: v for k, v in columns.items() if len(v) == self.epochs})
        frame.index = pd.RangeIndex(1, self.epochs + 1, name="epoch")
        return frame

    def __repr__(self) -> str:
        ending = ("interrupted" if self.interrupted else "diverged" if self.diverged
                  else "stopped early" if self.stopped_early else "ran all epochs")
        return f"History({self.epochs} epochs, {ending}, best epoch {self.best_epoch})"


class EarlyStopping:
    """Watches validation loss: an improvement must beat the best by more than ``min_delta``.

    ``should_stop`` turns true after ``patience`` epochs without improvement;
    with ``patience=None`` it only tracks the best epoch.
    """

    def __init__(self, patience: int | None = None, min_delta: float = 0.0):
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be a positive integer or None; got {patience!r}")
        self.patience = patience
        self.min_delta = check_nonnegative(min_delta, "min_delta")
        self.best = math.inf
        self.best_epoch: int | None = None
        self.waited = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record this epoch's value; return True when it is a new best."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            return True
        self.waited += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.waited >= self.patience


def as_tensors(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 inputs; int64 class labels or float32 regression targets."""
    x = check_array(x, "x", ndim=(2, 3))
    y = np.asarray(y)
    check_same_length(x=x, y=y)
    check_array(y, "y", ndim=(1, 2))
    target = torch.as_tensor(y, dtype=torch.int64 if np.issubdtype(y.dtype, np.integer) else torch.float32)
    return torch.as_tensor(x, dtype=torch.float32), target


def _loss_function(classification: bool, label_smoothing: float = 0.0):
    if classification:
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    return lambda output, target: nn.functional.mse_loss(output.reshape(target.shape), target)


@torch.no_grad()
def predict(model: nn.Module, x: npt.ArrayLike) -> np.ndarray:
    """Model outputs (logits for classifiers) in eval mode, as a NumPy array."""
    x = torch.as_tensor(check_array(x, "x", ndim=(2, 3)), dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)]).numpy()
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, x: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, float]:
    """Loss and (for classification) accuracy in eval mode."""
    xt, yt = as_tensors(x, y)
    outputs = torch.as_tensor(predict(model, xt))
    classification = yt.dtype == torch.int64
    loss = float(_loss_function(classification)(outputs, yt))
    acc = float((outputs.argmax(1) == yt).float().mean()) if classification else math.nan
    return {"loss": loss, "acc": acc}


def make_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW; weight decay only on the parameters the penalties touch."""
    groups = parameter_groups(model, config.weight_decay, config.penalize_biases)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    optimizer_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer_class(groups, lr=config.lr)


def _has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                penalty: Callable[[], torch.Tensor | float], batch_size: int, generator: torch.Generator, max_norm: float | None = None) -> float:
    """One pass over shuffled in-memory data; returns the mean batch loss (NaN if it diverged).

    With ``max_norm``, every step ends by projecting each unit's incoming weights back to norm ≤ max_norm,
    on the weight matrices and kernels the penalties touch (never biases or normalization parameters).
    """
    model.train()
    constrained = penalized_parameters(model) if max_norm is not None else []
    order = torch.randperm(len(x), generator=generator)
    skip_singletons = _has_batch_norm(model)  # batch statistics of one sample are undefined
    total, steps = 0.0, 0
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        if skip_singletons and len(batch) < 2:
            continue
        loss = loss_fn(model(x[batch]), y[batch]) + penalty()
        if not torch.isfinite(loss):
            return math.nan
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for weight in constrained:
            max_norm_(weight, max_norm)
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


def check_run(config: Config, data: Dataset) -> None:
    """The checks every training run shares, in fit and in the batched engine: one message for one mistake."""
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a course_utils.data.Dataset; got {type(data).__name__}")
    if not isinstance(config, Config):
        raise TypeError(f"config must be a course_utils.Config; got {type(config).__name__}")
    if config.patience is not None and data.x_val is None:
        raise ValueError("early stopping (patience) needs a validation set: use cu.split_validation(data) first")
    if config.label_smoothing and not np.issubdtype(np.asarray(data.y_train).dtype, np.integer):
        raise ValueError("label_smoothing applies to classification only; this dataset is a regression task")


def restore_best(model: nn.Module, history: History, config: Config) -> bool:
    """The rule every run ends by: back to the best epoch's weights with early stopping (or after Ctrl-C),
    if ``config.restore_best`` asks for it and a best epoch was recorded. Returns whether it restored."""
    restore = history.best_state is not None and config.restore_best and (
        config.patience is not None or history.interrupted)
    if restore:
        model.load_state_dict(history.best_state)
    return restore


def fit(model: nn.Module, data: Dataset, config: Config = Config(), progress: bool | None = None) -> History:
    """Train ``model`` on ``data.x_train`` with the optimizer, penalties and early stopping of ``config``.

    Validation metrics are recorded when ``data`` has a validation split, and
    early stopping needs one. The test set is never looked at. Ctrl-C ends
    training cleanly: the history so far and the best weights are kept.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_run(config, data)
    has_val = data.x_val is not None
    x_train, y_train = as_tensors(data.x_train, data.y_train)
    classification = y_train.dtype == torch.int64
    loss_fn = _loss_function(classification, config.label_smoothing)

    torch.manual_seed(config.seed)  # dropout masks and noise
    generator = torch.Generator().manual_seed(config.seed)  # batch order
    optimizer = make_optimizer(model, config)
    penalized = penalized_parameters(model, config.penalize_biases)
    penalty = ((lambda: elastic_net_penalty(penalized, config.l1, config.l2))
               if (config.l1 or config.l2) else (lambda: 0.0))
    stopper = EarlyStopping(config.patience, config.min_delta)
    history = History()
    bar = tqdm(total=config.epochs, desc="fit", unit="epochs", bar_format=BAR_FORMAT, disable=not show_progress(progress),
               file=sys.stderr)
    try:
        for epoch in range(1, config.epochs + 1):
            if math.isnan(train_epoch(model, optimizer, x_train, y_train, loss_fn, penalty,
                                      config.batch_size, generator, config.max_norm)):
                history.diverged = True
                break
            train_metrics = evaluate(model, x_train, y_train)
            if not math.isfinite(train_metrics["loss"]):  # the epoch's last step overflowed
                history.diverged = True
                break
            _record(history, "train", train_metrics)
            if has_val:
                _record(history, "val", evaluate(model, data.x_val, data.y_val))
                if stopper.update(history.val_loss[-1], epoch):
                    history.best_epoch = epoch
                    history.best_state = copy.deepcopy(model.state_dict())
            bar.update()
            if stopper.should_stop:
                history.stopped_early = True
                break
    except KeyboardInterrupt:
        history.interrupted = True
    finally:
        bar.close()
    restore = restore_best(model, history, config)
    if history.interrupted:
        kept = f"; weights restored to the best epoch ({history.best_epoch})" if restore else ""
        print(f"Training interrupted after {history.epochs} epoch(s): the history is kept{kept}.")
    return history


def _record(history: History, split: str, metrics: dict[str, float]) -> None:
    getattr(history, f"{split}_loss").append(metrics["loss"])
    getattr(history, f"{split}_acc").append(metrics["acc"])
