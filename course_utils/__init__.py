"""Shared code of the regularization course: data, models, training, sweeps, claims, plots, checks."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from .claims import claim, ledger, set_explore
from .config import Config
from .constraints import max_norm_
from .data import Dataset, Draws, load_mnist1d, split_validation, subsample
from .models import build_model
from .plots import apply_style
from .sweep import sweep
from .training import evaluate, fit, predict, progress

__all__ = ["setup", "Config", "Dataset", "Draws", "build_model", "claim", "evaluate", "fit", "ledger",
           "load_mnist1d", "max_norm_", "predict", "progress", "split_validation", "subsample", "sweep"]


def setup(seed: int = 0, explore: bool | None = None) -> None:
    """Make a notebook reproducible: seed every RNG, one torch thread, deterministic kernels, one plot style.

    One thread is both reproducible (results depend on the thread count) and
    faster for the small models of this course. ``explore=True`` (the learner
    notebooks' setting) lets a claim that fails with changed settings print ✘
    and the notebook run on; the reference notebooks raise, so tests catch it.
    ``None`` takes it from the environment variable ``COURSE_EXPLORE`` (``1``:
    on), which ``make margins`` sets to record every verdict on other data draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    set_explore(os.environ.get("COURSE_EXPLORE", "0") == "1" if explore is None else explore)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    apply_style()
