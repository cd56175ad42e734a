"""Input checks shared by every public function.

Each check raises ``ValueError`` (or ``TypeError``) with a message that names
the argument, says what was wrong and what is allowed, so a learner can fix
the call without reading the source.
"""
from __future__ import annotations

from collections.abc import Iterable, Sized
from numbers import Real

import numpy as np
import numpy.typing as npt

__all__ = ["check_array", "check_labels", "check_same_length", "check_number", "check_rate", "check_nonnegative",
           "check_positive_int", "check_widths", "check_choice"]


def check_array(x: npt.ArrayLike, name: str, *, ndim: int | tuple[int, ...] | None = None,
                allow_empty: bool = False, dtype: npt.DTypeLike = float) -> np.ndarray:
    """Return ``x`` as a NumPy array, rejecting NaN/inf, empties and wrong ranks."""
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers; got {type(x).__name__} ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            wanted = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {wanted}; got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one sample")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); all values must be finite")
    return arr


def check_labels(y: npt.ArrayLike, name: str = "y") -> np.ndarray:
    """Return integer class labels ``0..k-1`` as an int64 array."""
    arr = check_array(y, name, ndim=1)
    if np.any(arr != np.round(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold class indices 0, 1, 2, ...; got values such as {arr[(arr != np.round(arr)) | (arr < 0)][:3]}")
    return arr.astype(np.int64)


def check_same_length(**arrays: Sized) -> int:
    """Check that all arrays have the same number of samples; return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have the same number of samples: {listed}")
    return next(iter(lengths.values()))


def check_number(value: object, name: str, *, low: float | None = None, high: float | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Check that ``value`` is a finite real number inside the given interval."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    too_low = low is not None and (value < low or (value == low and not low_inclusive))
    too_high = high is not None and (value > high or (value == high and not high_inclusive))
    if too_low or too_high:
        left = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
        right = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {left}, {right}; got {value!r}")
    return float(value)


def check_rate(value: object, name: str) -> float:
    """A probability-like rate such as dropout: allowed in [0, 1)."""
    return check_number(value, name, low=0.0, high=1.0, high_inclusive=False)


def check_nonnegative(value: object, name: str) -> float:
    """A penalty strength, noise level or similar: allowed in [0, inf)."""
    return check_number(value, name, low=0.0)


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """An integer count (epochs, batch size, samples) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_widths(value: object, name: str) -> tuple[int, ...]:
    """Layer widths (or channels) such as (100, 100): a sequence of positive integers, possibly empty."""
    def positive(width) -> bool:
        return not isinstance(width, bool) and isinstance(width, (int, np.integer)) and width > 0
    widths = tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else None
    if widths is None or not all(map(positive, widths)):
        raise ValueError(f"{name} must be a tuple of positive layer sizes such as (100, 100); got {value!r}")
    return tuple(int(width) for width in widths)


def check_choice(value: object, name: str, choices: Iterable[str]) -> str:
    """An option name that must be one of ``choices``; the message lists them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value
