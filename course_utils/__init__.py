"""Shared code of the regularization course: data, models, training, sweeps, claims, plots, checks."""
from __future__ import annotations

import random

import numpy as np
import torch

from .claims import claim, ledger
from .config import Config
from .data import Dataset, load_mnist1d, split_validation, subsample
from .models import build_model
from .plots import apply_style
from .sweep import sweep
from .training import evaluate, fit, predict

__all__ = ["setup", "Config", "Dataset", "build_model", "claim", "evaluate", "fit", "ledger",
           "load_mnist1d", "predict", "split_validation", "subsample", "sweep"]


def setup(seed: int = 0) -> None:
    """Make a notebook reproducible: seed every RNG, one torch thread, deterministic kernels, one plot style.

    One thread is both reproducible (results depend on the thread count) and
    faster for the small models of this course.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    apply_style()
