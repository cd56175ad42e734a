"""Claims: a sentence of the course, measured over replicates and judged by a stated rule.

A replicate is one data draw (training subset, validation split, synthetic
sample) together with one initialization seed, so a claim's spread includes
the luck of the draw. ``claim`` judges the replicates' values by one of three
rules and prints the verdict with the mean, its standard error and the
interval the rule used:

``"interval"`` (the default, at least ``MIN_REPLICATES`` values)
    Directional: holds when the one-sided 95 % t-interval of the mean lies
    beyond the threshold (``above`` or ``below``; with both, each side's
    one-sided bound must). Equivalence (``within=margin``): holds when the
    90 % interval lies inside ±margin, which is two one-sided tests at 5 %.
    Pass paired differences (one per replicate) to compare configurations.
``"every"``
    Every replicate beyond the threshold: for sentences about every run.
``"exact"``
    One value that is exact by construction (a fixed dataset, a closed form).

A claim that does not hold raises ``ClaimFailed`` (explore mode prints the
verdict instead, so a learner's changed notebook runs on). Each verdict is
stored in the output's metadata; ``ledger`` collects them from notebooks.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import stats

from .validation import check_array, check_choice, check_number

if TYPE_CHECKING:   # pandas is imported only when a ledger is made
    import pandas as pd

__all__ = ["MIN_REPLICATES", "ClaimFailed", "claim", "distance", "interval", "ledger", "set_explore", "stored_claims"]

MIN_REPLICATES = 5   # the fewest replicates for a claim judged by an interval
LEVEL = 0.95         # confidence of each one-sided bound
LEDGER: list[dict] = []  # the claims made in this Python session, in order
_EXPLORE = False


class ClaimFailed(AssertionError):
    """A measured claim did not hold: the text of the course is wrong for this run."""


def set_explore(on: bool) -> None:
    """Explore mode: a claim that fails prints ✘ and the notebook runs on, instead of raising."""
    global _EXPLORE
    if not isinstance(on, bool):
        raise TypeError(f"explore must be True or False; got {on!r}")
    _EXPLORE = on


def interval(values: npt.ArrayLike, confidence: float = 0.90) -> tuple[float, float, float, float]:
    """Mean, standard error and the two-sided t-interval of the mean at ``confidence``.

    The 90 % interval's ends are the one-sided 95 % bounds, which the claim rules use.
    ``values`` has shape (replicates,), at least 2; returns ``(mean, se, low, high)``.
    """
    values = check_array(values, "values", ndim=1)
    check_number(confidence, "confidence", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if len(values) < 2:
        raise ValueError(f"an interval needs at least 2 values; got {len(values)}")
    mean, se = float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * se
    return mean, se, mean - half, mean + half


def _bounds_text(above, below, within) -> str:
    if within is not None:
        return f"inside ±{within:g}"
    return " and ".join(b for b in ((f"> {above:g}" if above is not None else ""),
                                    (f"< {below:g}" if below is not None else "")) if b)


def _judge(values: np.ndarray, rule: str, above, below, within, digits: int) -> tuple[bool, dict, str]:
    """The verdict, the ledger fields and the printed evidence line of one claim."""
    fmt = lambda v: f"{v:.{digits}g}" if rule == "exact" else f"{v:.{digits}f}"  # noqa: E731
    bounds = _bounds_text(above, below, within)
    if rule == "exact":
        value = float(values[0])
        holds = (above is None or value > above) and (below is None or value < below)
        return holds, {"mean": value, "se": 0.0, "low": value, "high": value}, f"{fmt(value)} (exact; must be {bounds})"
    if rule == "every":
        low, high = float(values.min()), float(values.max())
        holds = (above is None or low > above) and (below is None or high < below)
        return holds, {"mean": float(values.mean()), "se": float(values.std(ddof=1) / math.sqrt(len(values))),
                       "low": low, "high": high}, \
            f"range [{fmt(low)}, {fmt(high)}] over {len(values)} replicates (every one must be {bounds})"
    mean, se, low, high = interval(values, 2 * LEVEL - 1)
    if within is not None:
        holds, shown, rule_text = -within < low and high < within, f"90 % CI [{fmt(low)}, {fmt(high)}]", \
            f"the interval lies {bounds} (two one-sided tests at 5 %)"
    else:
        holds = (above is None or low > above) and (below is None or high < below)
        ends = (f"[{fmt(low)}" if above is not None else "(-∞", f"{fmt(high)}]" if below is not None else "∞)")
        shown = f"{'one-sided 95' if (above is None) != (below is None) else '90'} % CI {ends[0]}, {ends[1]}"
        rule_text = f"the interval lies {bounds}"
    return holds, {"mean": mean, "se": se, "low": low, "high": high}, \
        f"mean {fmt(mean)} ± {fmt(se)} (s.e.), {shown} over {len(values)} replicates; holds if {rule_text}"


def distance(record: dict) -> float:
    """How far the deciding bound lies beyond the threshold, in widths of the 95 % interval (< 0: fails).

    For ``every``, the closest replicate's distance; infinite when the replicates do not vary.
    """
    gaps = []
    if record.get("within") is not None:
        gaps += [record["within"] - record["high"], record["low"] + record["within"]]
    if record.get("above") is not None:
        gaps.append(record["low"] - record["above"])
    if record.get("below") is not None:
        gaps.append(record["below"] - record["high"])
    n = record["replicates"]
    width = 2 * float(stats.t.ppf(0.975, n - 1)) * record["se"] if n > 1 else 0.0
    gap = min(gaps)
    return gap / width if width > 0 else math.copysign(math.inf, gap) if gap else 0.0


def claim(statement: str, values: npt.ArrayLike, *, above: float | None = None, below: float | None = None,
          within: float | None = None, rule: str = "interval", quantity: str = "measured",
          digits: int = 3) -> None:
    """Judge ``values`` (one per replicate) by ``rule`` against the threshold; print and record the verdict.

    Parameters
    ----------
    statement : the sentence of the course being claimed.
    values : array of shape (replicates,), or one number for ``rule="exact"``; a
        difference between two configurations is their paired per-replicate difference.
    above, below : the directional threshold(s): the effect size that matters for the lesson.
    within : the equivalence margin for an "about the same" claim (``rule="interval"`` only).
    rule : ``"interval"``, ``"every"`` or ``"exact"`` (see the module docstring).

    Nothing is returned, so a claim cell shows only its verdict. A claim that
    does not hold raises ``ClaimFailed`` unless explore mode is on.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be the sentence being claimed, as a non-empty string")
    rule = check_choice(rule, "rule", ("interval", "every", "exact"))
    values = check_array(values, "values", ndim=(0, 1)).reshape(-1)
    if within is not None:
        if above is not None or below is not None or rule != "interval":
            raise ValueError("within=margin is an equivalence claim judged by an interval: "
                             "give it alone, with rule='interval'")
        check_number(within, "within", low=0.0, low_inclusive=False)
    elif above is None and below is None:
        raise ValueError("give a threshold: above=..., below=..., both, or within=margin")
    needed = {"exact": 1, "every": MIN_REPLICATES, "interval": MIN_REPLICATES}[rule]
    if rule == "exact" and len(values) != 1:
        raise ValueError(f"rule='exact' is for one value that is exact by construction; got {len(values)}")
    if len(values) < needed:
        raise ValueError(f"rule={rule!r} needs at least {needed} replicates (data draw and seed); got {len(values)}")
    holds, numbers, evidence = _judge(values, rule, above, below, within, digits)
    text = f"Claim {'✔ holds' if holds else '✘ FAILS'}: {statement}\n  {quantity}: {evidence}"
    record = {"statement": statement, "quantity": quantity, "rule": rule, "holds": bool(holds),
              "above": above, "below": below, "within": within, "replicates": len(values), **numbers,
              "values": [float(v) for v in values]}
    gap = distance(record)
    record["distance"] = gap if math.isfinite(gap) else None   # None: no spread to measure it in (JSON has no inf)
    LEDGER.append(record)
    if not holds and _EXPLORE:
        text += "\n  ✘ does not hold with your settings; the stored notebook's verdict is the course's"
    _show(text, record)
    if not holds and not _EXPLORE:
        raise ClaimFailed(f"{statement}: {quantity} = {np.round(values, digits).tolist()}; "
                          f"needed {_bounds_text(above, below, within)} by rule {rule!r}")


def _show(text: str, record: dict) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({"text/plain": text}, raw=True, metadata={"course_claim": record})
    else:
        print(text)


def stored_claims(notebooks: Iterable[str | os.PathLike]) -> list[dict]:
    """Every claim record stored in the given executed notebooks, in order, each with its notebook's name."""
    rows = []
    for path in sorted(Path(p) for p in notebooks):
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            for output in cell.get("outputs", []):
                record = output.get("metadata", {}).get("course_claim")
                if record:
                    rows.append({"notebook": path.stem, **record})
    return rows


COLUMNS = ["statement", "quantity", "rule", "replicates", "mean", "se", "low", "high",
           "above", "below", "within", "distance", "holds"]


def ledger(notebooks: Iterable[str | os.PathLike] | None = None) -> pd.DataFrame:
    """A table of claims, one row each: this session's, or those stored in the given executed notebooks."""
    import pandas as pd
    if notebooks is None:
        return pd.DataFrame(LEDGER, columns=COLUMNS)
    return pd.DataFrame(stored_claims(notebooks), columns=["notebook", *COLUMNS])
