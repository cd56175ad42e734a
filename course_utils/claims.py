"""Claims: a sentence of the course, measured over seeds and asserted with a margin.

``claim`` prints a one-line verdict and the mean ± spread, and raises
``ClaimFailed`` when any run misses the threshold, so a notebook (and nbval)
fails the day the claim stops holding. Each verdict is also stored in the
output's metadata; ``ledger`` collects them from executed notebooks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .validation import check_array, check_positive_int

LEDGER: list[dict] = []  # the claims made in this Python session, in order


class ClaimFailed(AssertionError):
    """A measured claim did not hold: the text of the course is wrong for this run."""


def claim(statement: str, values, *, above: float | None = None, below: float | None = None,
          quantity: str = "measured", min_runs: int = 3, digits: int = 3) -> None:
    """Assert that every value in ``values`` (one per seed) is > ``above`` and/or < ``below``.

    The thresholds are the margin: choose them so that seed-to-seed noise
    cannot cross them while the claim is true. ``min_runs=1`` is only for
    quantities that are exact by construction (a fixed dataset, a closed form).
    The verdict is recorded in ``LEDGER``; nothing is returned, so a claim cell
    shows only its verdict.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be the sentence being claimed, as a non-empty string")
    values = check_array(values, "values", ndim=(0, 1)).reshape(-1)
    check_positive_int(min_runs, "min_runs")
    if len(values) < min_runs:
        raise ValueError(f"a claim needs at least {min_runs} runs (seeds) to show its spread; got {len(values)}")
    if above is None and below is None:
        raise ValueError("give a threshold: above=..., below=... or both")
    holds = bool((above is None or np.all(values > above)) and (below is None or np.all(values < below)))
    bounds = " and ".join(b for b in ((f"> {above:g}" if above is not None else ""),
                                      (f"< {below:g}" if below is not None else "")) if b)
    if len(values) == 1:
        measured = f"{values[0]:.{digits}g} (must be {bounds})"
    else:
        measured = (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f} over {len(values)} runs "
                    f"(each must be {bounds})")
    verdict = "✔ holds" if holds else "✘ FAILS"
    text = f"Claim {verdict}: {statement}\n  {quantity}: {measured}"
    record = {"statement": statement, "quantity": quantity, "holds": holds, "above": above, "below": below,
              "mean": float(values.mean()), "spread": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
              "runs": len(values), "values": [float(v) for v in values]}
    LEDGER.append(record)
    _show(text, record)
    if not holds:
        raise ClaimFailed(f"{statement}: {quantity} = {np.round(values, digits).tolist()}, needed {bounds}")


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


def stored_claims(notebooks) -> list[dict]:
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


def ledger(notebooks=None):
    """A table of claims: this session's, or those stored in the given executed notebooks."""
    import pandas as pd
    columns = ["statement", "quantity", "mean", "spread", "runs", "above", "below", "holds"]
    if notebooks is None:
        return pd.DataFrame(LEDGER, columns=columns)
    return pd.DataFrame(stored_claims(notebooks), columns=["notebook", *columns])


def worst_margin(record: dict) -> float:
    """How far the claim's closest run is from its threshold (negative: a run misses it)."""
    values = np.asarray(record["values"], dtype=float)
    margins = []
    if record["above"] is not None:
        margins.append(float((values - record["above"]).min()))
    if record["below"] is not None:
        margins.append(float((record["below"] - values).min()))
    return min(margins)
