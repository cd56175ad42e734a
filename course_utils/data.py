"""Datasets of the course: all offline, all seeded.

Real data comes from ``data/`` (MNIST-1D, checked against its SHA-256) or from
scikit-learn's bundled sets. Synthetic data is generated with a known ground
truth, so a lesson can compare what a model learned with what is really there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .validation import (check_array, check_labels, check_nonnegative, check_number,
                         check_positive_int, check_rate, check_same_length)

__all__ = ["data_draw", "draw_seed", "draw_rng", "Dataset", "load_mnist1d", "load_digits", "load_diabetes",
           "split_validation", "subsample", "Draws", "add_label_noise", "sine", "make_noisy_sine",
           "make_sparse_regression", "make_correlated_groups"]

def _data_dir() -> Path:
    """data/ of the repository, or its copy inside an installed package (pip install from a URL, Colab)."""
    package = Path(__file__).resolve().parent
    return next((d for d in (package.parent / "data", package / "datasets") if (d / "SHA256SUMS").is_file()),
                package.parent / "data")


DATA_DIR = _data_dir()
# Another draw of every seeded split, subsample, label noise and synthetic sample: `make margins` sets it to
# re-run the notebooks on fresh data. Unset (draw 0), the seeds are the ones the notebooks name.
DRAW_VARIABLE = "COURSE_DATA_DRAW"
DRAW_STRIDE = 100_003   # draw k shifts every data seed by k · DRAW_STRIDE, far from any seed a notebook names


def data_draw() -> int:
    """The data draw of this process: 0 unless the environment variable ``COURSE_DATA_DRAW`` names another."""
    text = os.environ.get(DRAW_VARIABLE, "0")
    if not text.isdigit():
        raise ValueError(f"{DRAW_VARIABLE} must be a non-negative integer; got {text!r}")
    return int(text)


def draw_seed(seed: int) -> int:
    """The seed a data draw actually uses: ``seed`` itself in draw 0, shifted in the others."""
    check_positive_int(seed, "seed", minimum=0)
    return int(seed) + DRAW_STRIDE * data_draw()


def draw_rng(seed: int) -> np.random.Generator:
    """A NumPy generator for a synthetic sample of a notebook, so that other data draws reach it too."""
    return np.random.default_rng(draw_seed(seed))


@dataclass(frozen=True)
class Dataset:
    """Arrays of one task. ``x_val``/``y_val`` exist once a validation split is made.

    Each ``x_*`` is (n, features) or (n, channels, length); each ``y_*`` is (n,), integer class labels or
    float targets (or (n, targets)).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if (x is None) != (y is None):
                raise ValueError(f"x_{part} and y_{part} must be given together")
            if x is not None:
                check_array(x, f"x_{part}", ndim=(2, 3))
                check_array(y, f"y_{part}", ndim=(1, 2))
                check_same_length(**{f"x_{part}": x, f"y_{part}": y})

    @property
    def is_classification(self) -> bool:
        return np.issubdtype(self.y_train.dtype, np.integer)

    @property
    def n_classes(self) -> int:
        if not self.is_classification:
            raise ValueError(f"{self.name or 'this dataset'} is a regression task: it has no classes")
        labels = [y for y in (self.y_train, self.y_val, self.y_test) if y is not None]
        return int(max(y.max() for y in labels)) + 1

    def __repr__(self) -> str:
        parts = [f"train {self.x_train.shape}"]
        if self.x_val is not None:
            parts.append(f"val {self.x_val.shape}")
        parts.append(f"test {self.x_test.shape}")
        task = f"{self.n_classes} classes" if self.is_classification else "regression"
        return f"Dataset({self.name!r}: {', '.join(parts)}, {task})"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_checksum(filename: str) -> str:
    for line in (DATA_DIR / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name.strip() == filename:
            return digest
    raise FileNotFoundError(f"data/SHA256SUMS has no entry for {filename}")


def load_mnist1d() -> Dataset:
    """MNIST-1D (Greydanus & Kobak 2024): 4,000 train / 1,000 test sequences of length 40, 10 classes.

    Read from the shipped ``data/mnist1d.npz`` after checking its SHA-256, so a
    corrupted or edited file fails loudly instead of changing every result.
    """
    path = DATA_DIR / "mnist1d.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `make data` to regenerate it offline")
    expected, actual = _expected_checksum(path.name), _sha256(path)
    if actual != expected:
        raise ValueError(f"{path} does not match its checksum (expected {expected[:12]}…, got {actual[:12]}…); "
                         "restore it with `git checkout data/` or regenerate it with `make data`")
    with np.load(path, allow_pickle=False) as arrays:
        return Dataset(arrays["x_train"].astype(np.float32), arrays["y_train"].astype(np.int64),
                       arrays["x_test"].astype(np.float32), arrays["y_test"].astype(np.int64),
                       name="MNIST-1D")


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8×8 digits (1,797 images), pixels scaled to [0, 1], flattened to 64 features."""
    from sklearn.datasets import load_digits as sk_load_digits
    bunch = sk_load_digits()
    return _split_arrays((bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64),
                         test_fraction, seed, name="digits")


def load_diabetes(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's diabetes regression set (442 patients, 10 standardized features)."""
    from sklearn.datasets import load_diabetes as sk_load_diabetes
    bunch = sk_load_diabetes()
    return _split_arrays(bunch.data.astype(np.float64), bunch.target.astype(np.float64),
                         test_fraction, seed, name="diabetes")


def _split_arrays(x, y, test_fraction, seed, name) -> Dataset:
    check_number(test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    train, test = _split_indices(y, test_fraction, seed)
    return Dataset(x[train], y[train], x[test], y[test], name=name)


def _split_indices(y: np.ndarray, held_out: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (kept, held-out) index arrays, stratified by class when ``y`` holds labels."""
    from sklearn.model_selection import train_test_split
    stratify = y if np.issubdtype(y.dtype, np.integer) else None
    try:
        return train_test_split(np.arange(len(y)), test_size=held_out, random_state=draw_seed(seed),
                                stratify=stratify)
    except ValueError as exc:
        raise ValueError(f"cannot hold out {held_out!r} of {len(y)} samples: {exc}") from None


def split_validation(data: Dataset, fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Carve a validation set out of the training set; the test set is never touched."""
    check_number(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    train, val = _split_indices(data.y_train, fraction, seed)
    return dataclasses.replace(data, x_train=data.x_train[train], y_train=data.y_train[train],
                               x_val=data.x_train[val], y_val=data.y_train[val])


def subsample(data: Dataset, n_train: int, seed: int = 0) -> Dataset:
    """Keep ``n_train`` training samples (class-stratified for labels); validation and test are unchanged."""
    check_positive_int(n_train, "n_train")
    available = len(data.y_train)
    if n_train > available:
        raise ValueError(f"n_train must be <= the {available} training samples available; got {n_train}")
    if n_train == available:
        return data
    if np.issubdtype(data.y_train.dtype, np.integer):
        # a stratified split keeps at least one sample of each class on either side
        n_classes = len(np.unique(data.y_train))
        if not n_classes <= n_train <= available - n_classes:
            raise ValueError(f"n_train must be between {n_classes} and {available - n_classes} (or all {available}) "
                             f"for a subsample stratified over {n_classes} classes; got {n_train}")
    _, kept = _split_indices(data.y_train, n_train, seed)
    return dataclasses.replace(data, x_train=data.x_train[kept], y_train=data.y_train[kept])


@dataclass(frozen=True)
class Draws:
    """Replicates of a dataset: replicate ``r`` is a fresh validation split and training subset drawn with seed r.

    A claim's replicates must vary the data as well as the initialization, or the
    one fixed draw's luck is in every run. ``sweep(configs, Draws(...), seeds=...)``
    trains replicate r on ``draws(r)`` with initialization seed r. The test set is
    the source's and stays fixed. Any callable ``replicate -> Dataset`` serves
    ``sweep`` too, for draws this class does not make (label noise, a subset of classes).
    """

    source: Dataset
    n_train: int | None = None        # training samples kept per draw; None keeps all
    val_fraction: float | None = 0.2  # share of the training pool held out for validation; None: no split

    def __post_init__(self):
        if not isinstance(self.source, Dataset):
            raise TypeError(f"source must be a course_utils.data.Dataset; got {type(self.source).__name__}")
        if self.val_fraction is not None:
            check_number(self.val_fraction, "val_fraction", low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False)
        if self.n_train is not None:
            check_positive_int(self.n_train, "n_train")

    def __call__(self, replicate: int) -> Dataset:
        check_positive_int(replicate, "replicate", minimum=0)
        data = self.source
        if self.val_fraction is not None:
            data = split_validation(data, self.val_fraction, seed=replicate)
        return data if self.n_train is None else subsample(data, self.n_train, seed=replicate)


def add_label_noise(y: npt.ArrayLike, fraction: float, seed: int = 0, n_classes: int | None = None,
                    always_wrong: bool = False) -> np.ndarray:
    """Return a copy of ``y`` where exactly ``fraction`` of the labels are redrawn uniformly over the classes.

    ``fraction=1.0`` gives the random-label experiment of Zhang et al. (2017): every label is random, so
    about 1/k of them are right by chance. ``always_wrong=True`` moves each redrawn label to another class
    instead; such labels still carry information (the true class is the one never given).
    ``y`` holds class indices, shape (n_samples,); so does the result.
    """
    y = check_labels(y)
    check_number(fraction, "fraction", low=0.0, high=1.0)
    n_classes = check_positive_int(int(y.max()) + 1 if n_classes is None else n_classes, "n_classes", minimum=2)
    if y.max() >= n_classes:
        raise ValueError(f"n_classes must be larger than the largest label {y.max()}; got {n_classes}")
    if not isinstance(always_wrong, bool):
        raise TypeError(f"always_wrong must be True or False; got {always_wrong!r}")
    rng = draw_rng(seed)
    noisy = y.copy()
    flipped = rng.permutation(len(y))[: int(round(fraction * len(y)))]
    if always_wrong:   # an offset in 1..k-1 moves each chosen label to a different class, uniformly
        noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=len(flipped))) % n_classes
    else:
        noisy[flipped] = rng.integers(0, n_classes, size=len(flipped))
    return noisy


def sine(x: npt.ArrayLike) -> np.ndarray:
    """The ground-truth function of the polynomial lessons: sin(2πx) on [0, 1], elementwise."""
    return np.sin(2 * np.pi * np.asarray(x, dtype=float))


def make_noisy_sine(n_samples: int, noise: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` points x ~ U[0, 1] with y = sin(2πx) + N(0, noise²).

    Returns
    -------
    x, y : arrays of shape (n_samples,), x in increasing order.
    """
    check_positive_int(n_samples, "n_samples")
    check_nonnegative(noise, "noise")
    rng = draw_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n_samples))
    return x, sine(x) + noise * rng.standard_normal(n_samples)


def make_sparse_regression(n_samples: int, n_features: int, n_informative: int, noise: float = 1.0,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear data whose true weights are zero except on ``n_informative`` random features.

    Returns
    -------
    x : array of shape (n_samples, n_features), standard normal.
    y : array of shape (n_samples,): ``x @ w`` plus N(0, noise²).
    w : array of shape (n_features,), the true weights.
    """
    check_positive_int(n_samples, "n_samples")
    check_positive_int(n_features, "n_features")
    check_positive_int(n_informative, "n_informative")
    if n_informative > n_features:
        raise ValueError(f"n_informative must be <= n_features ({n_features}); got {n_informative}")
    check_nonnegative(noise, "noise")
    rng = draw_rng(seed)
    w = np.zeros(n_features)
    support = rng.choice(n_features, n_informative, replace=False)
    w[support] = rng.choice([-1.0, 1.0], n_informative) * rng.uniform(1.0, 3.0, n_informative)
    x = rng.standard_normal((n_samples, n_features))
    return x, x @ w + noise * rng.standard_normal(n_samples), w


def make_correlated_groups(n_samples: int, n_groups: int = 3, group_size: int = 3, correlation: float = 0.95,
                           n_noise_features: int = 10, noise: float = 1.0,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features in groups that share one latent factor; every member of a group carries signal.

    Within a group the pairwise correlation of features is ``correlation``.

    Returns
    -------
    x : array of shape (n_samples, n_features), n_features = n_groups · group_size + n_noise_features.
    y : array of shape (n_samples,): ``x @ w`` plus N(0, noise²).
    w : array of shape (n_features,), the true weights: 1 in every group, 0 on noise features.
    groups : int array of shape (n_features,), the group of each feature, -1 for noise.
    """
    check_positive_int(n_samples, "n_samples")
    check_positive_int(n_groups, "n_groups")
    check_positive_int(group_size, "group_size")
    check_rate(correlation, "correlation")
    check_positive_int(n_noise_features, "n_noise_features", minimum=0)
    check_nonnegative(noise, "noise")
    rng = draw_rng(seed)
    latent = rng.standard_normal((n_samples, n_groups))
    own = rng.standard_normal((n_samples, n_groups * group_size))
    grouped = np.sqrt(correlation) * np.repeat(latent, group_size, axis=1) + np.sqrt(1 - correlation) * own
    x = np.hstack([grouped, rng.standard_normal((n_samples, n_noise_features))])
    groups = np.concatenate([np.repeat(np.arange(n_groups), group_size), -np.ones(n_noise_features, dtype=int)])
    w = np.where(groups >= 0, 1.0, 0.0)
    return x, x @ w + noise * rng.standard_normal(n_samples), w, groups
