"""scikit-learn estimators that train the course's torch networks.

``NetClassifier`` and ``NetRegressor`` follow scikit-learn's conventions, so
``GridSearchCV``, ``cross_val_score``, ``validation_curve``, ``Pipeline`` and
``clone`` work on them unchanged:

* ``__init__`` only stores its arguments, unchanged; they are checked in ``fit``
  (by ``Config``), so ``set_params`` and ``clone`` never fail half-way;
* everything learned ends in ``_`` (``model_``, ``history_``, ``classes_``,
  ``n_features_in_``, ...), and using an unfitted estimator raises ``NotFittedError``;
* inputs pass through ``sklearn.utils.validation.validate_data``: the same
  errors as any scikit-learn model for NaN, sparse, 1-D or wrong-width inputs.

Training itself is ``course_utils.fit`` on a ``Config`` built from the parameters.
"""
from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import numpy.typing as npt
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .config import Config
from .data import Dataset
from .models import build_model
from .training import fit, predict
from .validation import check_number

__all__ = ["NetClassifier", "NetRegressor"]

_MAX_SEED = 2**31 - 1


class _NetEstimator(BaseEstimator):
    """Parameters and training shared by the classifier and the regressor."""

    def __init__(self, hidden: int | tuple[int, ...] = (100,), *, model: str = "mlp", activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, input_noise: float = 0.0, optimizer: str = "adam",
                 lr: float = 1e-3, batch_size: int = 100, epochs: int = 50, weight_decay: float = 0.0,
                 l1: float = 0.0, l2: float = 0.0, patience: int | None = None, validation_fraction: float = 0.1,
                 random_state: int | np.random.RandomState | None = 0):
        self.hidden = hidden
        self.model = model
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.input_noise = input_noise
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.l1 = l1
        self.l2 = l2
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _seed(self) -> int:
        """An int random_state is the seed itself; None or a RandomState draws one."""
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            if not 0 <= self.random_state <= _MAX_SEED:
                raise ValueError(f"random_state must be in [0, {_MAX_SEED}], None or a RandomState; "
                                 f"got {self.random_state!r}")
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(_MAX_SEED))

    def _config(self, **extra) -> Config:
        hidden = (self.hidden,) if isinstance(self.hidden, Integral) else tuple(self.hidden)
        return Config(model=self.model, hidden=hidden, activation=self.activation, dropout=float(self.dropout),
                      batch_norm=bool(self.batch_norm), input_noise=float(self.input_noise),
                      optimizer=self.optimizer, lr=float(self.lr), batch_size=self.batch_size, epochs=self.epochs,
                      weight_decay=float(self.weight_decay), l1=float(self.l1), l2=float(self.l2),
                      patience=self.patience, seed=self._seed(), **extra)

    def _train(self, x: np.ndarray, y: np.ndarray, n_outputs: int, config: Config) -> None:
        """Fit a fresh network on (x, y); with ``patience``, early-stop on a held-out part of them."""
        if config.patience is None:
            # fit never reads the test split; Dataset needs one, so the training data stand in for it
            data = Dataset(x, y, x[:1], y[:1])
        else:
            check_number(self.validation_fraction, "validation_fraction", low=0.0, high=1.0,
                         low_inclusive=False, high_inclusive=False)
            classes, counts = np.unique(y, return_counts=True) if y.dtype.kind == "i" else (None, None)
            stratify = y if counts is not None and counts.min() >= 2 else None
            try:
                kept, held = train_test_split(np.arange(len(y)), test_size=self.validation_fraction,
                                              random_state=config.seed, stratify=stratify)
            except ValueError as exc:
                raise ValueError(f"early stopping holds out validation_fraction={self.validation_fraction} "
                                 f"of the {len(y)} training samples, which fails: {exc}") from None
            data = Dataset(x[kept], y[kept], x[:1], y[:1], x_val=x[held], y_val=y[held])
        self.model_ = build_model(config, x.shape[1], n_outputs)
        self.history_ = fit(self.model_, data, config, progress=False)
        self.n_iter_ = self.history_.epochs
        if self.history_.diverged:
            warnings.warn(f"training diverged after {self.n_iter_} epoch(s) (the loss became NaN or infinite); "
                          f"lower lr (now {self.lr})", ConvergenceWarning, stacklevel=3)

    def _outputs(self, X: npt.ArrayLike) -> np.ndarray:
        """Network outputs (logits or standardized predictions) for validated X, in eval mode."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return predict(self.model_, X).astype(np.float64)


class NetClassifier(ClassifierMixin, _NetEstimator):
    """A course network (``Config.model``: MLP or 1-D CNN) as a scikit-learn classifier.

    Parameters
    ----------
    hidden : tuple of int, default=(100,)
        Width of each hidden layer (MLP) or channels of each conv layer (CNN).
    model : {"mlp", "cnn"}, default="mlp"
    activation : {"relu", "tanh", "gelu"}, default="relu"
    dropout : float, default=0.0
        Drop probability after each hidden activation.
    batch_norm : bool, default=False
    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs while training.
    optimizer : {"sgd", "adam", "adamw"}, default="adam"
    lr : float, default=1e-3
    batch_size : int, default=100
    epochs : int, default=50
        Passes over the training data (an upper bound with early stopping).
    weight_decay, l1, l2 : float, default=0.0
        The optimizer's weight decay and the L1 / L2 penalties of ``Config``.
    label_smoothing : float, default=0.0
    patience : int or None, default=None
        With an int, hold out ``validation_fraction`` of the training data and stop after ``patience``
        epochs without improvement of its loss, keeping the best weights.
    validation_fraction : float, default=0.1
        Only used with ``patience``.
    random_state : int, RandomState or None, default=0
        Seeds the weights, batch order, dropout and noise. An int makes ``fit`` reproducible.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``, in sorted order; the network's output ``k`` is ``classes_[k]``.
    model_ : torch.nn.Module
    history_ : course_utils.training.History
    n_iter_ : int
        Epochs trained.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """

    def __init__(self, hidden: int | tuple[int, ...] = (100,), *, model: str = "mlp", activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, input_noise: float = 0.0, optimizer: str = "adam",
                 lr: float = 1e-3, batch_size: int = 100, epochs: int = 50, weight_decay: float = 0.0,
                 l1: float = 0.0, l2: float = 0.0, label_smoothing: float = 0.0, patience: int | None = None,
                 validation_fraction: float = 0.1, random_state: int | np.random.RandomState | None = 0):
        super().__init__(hidden, model=model, activation=activation, dropout=dropout, batch_norm=batch_norm,
                         input_noise=input_noise, optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                         weight_decay=weight_decay, l1=l1, l2=l2, patience=patience,
                         validation_fraction=validation_fraction, random_state=random_state)
        self.label_smoothing = label_smoothing

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> NetClassifier:
        """Train on X (n_samples, n_features) and labels y of any type; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        config = self._config(label_smoothing=float(self.label_smoothing))
        self.classes_, indices = np.unique(y, return_inverse=True)
        self._train(X, indices.astype(np.int64), len(self.classes_), config)
        return self

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class probabilities (softmax of the network's outputs), columns in the order of ``classes_``."""
        return torch.softmax(torch.from_numpy(self._outputs(X)), dim=1).numpy()

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The most probable label of each row of X."""
        outputs = self._outputs(X)  # checks fitting first, so an unfitted model raises NotFittedError
        return self.classes_[np.argmax(outputs, axis=1)]


class NetRegressor(RegressorMixin, _NetEstimator):
    """A course network as a scikit-learn regressor (one target, squared-error loss).

    The target is standardized inside ``fit`` (mean ``y_mean_``, scale ``y_scale_``) and
    predictions are mapped back, so the default learning rate suits targets of any scale.
    Parameters are those of ``NetClassifier`` without ``label_smoothing``.

    Attributes
    ----------
    y_mean_, y_scale_ : float
    model_ : torch.nn.Module
    history_ : course_utils.training.History
    n_iter_ : int
    n_features_in_ : int
    """

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> NetRegressor:
        """Train on X (n_samples, n_features) and a numeric target y (n_samples,); returns self."""
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        config = self._config()
        self.y_mean_ = float(np.mean(y))
        scale = float(np.std(y))
        self.y_scale_ = scale if scale > 0 else 1.0
        self._train(X, ((y - self.y_mean_) / self.y_scale_).astype(np.float32), 1, config)
        return self

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predicted targets, shape (n_samples,)."""
        return self._outputs(X)[:, 0] * self.y_scale_ + self.y_mean_
