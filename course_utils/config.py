"""One typed record of everything that defines a training run.

A sweep is a list of these, e.g. ``[replace(base, dropout=p) for p in rates]``;
``sweep`` and ``fit`` read them, nothing reads notebook globals.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .validation import (check_choice, check_nonnegative, check_number, check_positive_int, check_rate,
                         check_widths)

__all__ = ["Config"]

MODELS = ("mlp", "cnn")
ACTIVATIONS = ("relu", "tanh", "gelu")
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass(frozen=True)
class Config:
    # --- model ---
    model: str = "mlp"                   # "mlp" or "cnn" (the small 1-D CNN for MNIST-1D)
    hidden: tuple[int, ...] = (100, 100) # MLP: width of each hidden layer; CNN: channels of each conv layer
    activation: str = "relu"             # "relu", "tanh" or "gelu"
    dropout: float = 0.0                 # drop probability after each hidden activation, in [0, 1)
    input_dropout: float = 0.0           # drop probability on the input features, in [0, 1)
    batch_norm: bool = False             # BatchNorm after each hidden linear/conv layer, before the activation
    input_noise: float = 0.0             # std of Gaussian noise added to the inputs while training
    # --- optimisation ---
    optimizer: str = "adam"              # "sgd", "adam" or "adamw"
    lr: float = 1e-3                     # learning rate
    momentum: float = 0.0                # SGD momentum (ignored by Adam/AdamW)
    batch_size: int = 100                # samples per step
    epochs: int = 20                     # passes over the training set (upper bound with early stopping)
    # --- explicit regularization ---
    weight_decay: float = 0.0            # the optimizer's decay: coupled for SGD/Adam, decoupled for AdamW
    l1: float = 0.0                      # loss += l1 * sum|w| over the penalized weights
    l2: float = 0.0                      # loss += l2/2 * sum w^2 (so its gradient is l2 * w, like SGD decay)
    penalize_biases: bool = False        # also penalize/decay biases and norm parameters (usually not)
    label_smoothing: float = 0.0         # cross-entropy label smoothing, in [0, 1)
    max_norm: float | None = None        # after each step, rescale any unit's incoming weights (a row of a
                                         # weight matrix or kernel) longer than this to this norm; None: off
    # --- early stopping (on validation loss) ---
    patience: int | None = None          # stop after this many epochs without improvement; None: never stop early
    min_delta: float = 0.0               # an improvement must beat the best validation loss by more than this
    restore_best: bool = True            # with early stopping, end on the weights of the best epoch
    # --- reproducibility ---
    seed: int = 0                        # seeds weight init, batch order, dropout and noise

    def __post_init__(self):
        check_choice(self.model, "model", MODELS)
        object.__setattr__(self, "hidden", check_widths(self.hidden, "hidden"))
        if self.model == "cnn" and not self.hidden:
            raise ValueError("a CNN needs at least one conv layer: hidden must be non-empty, e.g. (25, 25, 25)")
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_rate(self.dropout, "dropout")
        check_rate(self.input_dropout, "input_dropout")
        check_nonnegative(self.input_noise, "input_noise")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_number(self.lr, "lr", low=0.0, low_inclusive=False)
        check_number(self.momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs")
        check_nonnegative(self.weight_decay, "weight_decay")
        check_nonnegative(self.l1, "l1")
        check_nonnegative(self.l2, "l2")
        check_rate(self.label_smoothing, "label_smoothing")
        if self.max_norm is not None:
            check_number(self.max_norm, "max_norm (the largest norm a unit's incoming weights may keep, "
                         "or None for no constraint)", low=0.0, low_inclusive=False)
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        check_nonnegative(self.min_delta, "min_delta")
        check_positive_int(self.seed, "seed", minimum=0)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
