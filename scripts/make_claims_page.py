"""Write the book's claims ledger, book/claims.md, from the notebooks' stored outputs.

Usage (from the repository root; `make book` runs it before building):

    python scripts/make_claims_page.py [--output book/claims.md]

Every claim cell stores its verdict in its output's metadata when the notebook
is executed (`make execute`). ``course_utils.claims.ledger`` collects them from
notebooks/NN_*.ipynb; this script lays them out as one Markdown table, in
course order. Nothing is executed, so the page shows exactly the stored runs.
"""

import argparse
import math
import sys
from pathlib import Path

from course_utils.claims import ledger

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATTERN = "[0-9][0-9]_*.ipynb"

HEADER = """\
# Claims ledger

Every sentence of the course that states a measurable fact is an experiment: a claim cell measures it over
replicates, each a fresh draw of the data with its own initialization seed, and judges it by a stated rule
([how the course tests its claims](protocol.md)). This page collects the verdicts stored in the notebooks, as the
book shows them. *Interval* is the one the rule used: a one-sided 95 % interval for a directional claim, the
90 % interval for an equivalence or two-sided claim (two one-sided tests at 5 %), the range of the replicates
for a claim about every run. *Distance* is how far the deciding bound lies beyond the threshold, in widths of
the 95 % interval: the smaller, the closer the claim came to failing.

"""


def cell(text):
    """Text safe inside a Markdown table cell: no column breaks, no line breaks, no math."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("$", "\\$")


def number(value):
    """Three decimals like the notebooks' verdicts; three significant digits for very small or large values."""
    return f"{value:.3f}" if value == 0 or 1e-2 <= abs(value) < 1e4 else f"{value:.3g}"


def _given(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def threshold(row):
    if _given(row["within"]):
        return f"inside ±{row['within']:g}"
    parts = [f"> {row['above']:g}" if _given(row["above"]) else "", f"< {row['below']:g}" if _given(row["below"]) else ""]
    return " and ".join(part for part in parts if part)


def measured(row):
    """Mean ± standard error, and the interval the rule judged."""
    if row["rule"] == "exact":
        return f"{number(row['mean'])} (exact)", "-"
    mean = f"{number(row['mean'])} ± {number(row['se'])}"
    low = number(row["low"]) if row["rule"] != "interval" or _given(row["above"]) or _given(row["within"]) else "-∞"
    high = number(row["high"]) if row["rule"] != "interval" or _given(row["below"]) or _given(row["within"]) else "∞"
    return mean, f"[{low}, {high}]"


def page(notebooks):
    """The Markdown text of the claims page for these notebook paths."""
    table = ledger(notebooks=notebooks)
    lines = [HEADER]
    if table.empty:
        lines.append("No claims are stored in the notebooks yet.\n")
        return "".join(lines)
    held = int(table["holds"].sum())
    lines.append(f"{held} of {len(table)} claims in {table['notebook'].nunique()} notebooks hold.\n\n")
    # The table directive gives the table its class (book/_static/course.css fits it to the text's width).
    lines.append(":::{table} Every claim of the course, in course order\n:class: claims-ledger\n:widths: auto\n\n")
    lines.append("| notebook | claim (*what is measured*) | rule, replicates | mean ± s.e. | interval | threshold "
                 "| distance | verdict |\n")
    lines.append("|---|---|---|---|---|---|---|---|\n")
    for _, row in table.iterrows():
        verdict = "✔ holds" if row["holds"] else "✘ fails"
        number_label = row["notebook"].split("_", 1)[0]  # "01" of "01_overfitting_underfitting"
        mean, interval = measured(row)
        distance = "-" if not _given(row["distance"]) else f"{row['distance']:.2f}"   # no spread: no distance
        lines.append(f"| [{number_label}](notebooks/{row['notebook']}.ipynb) | {cell(row['statement'])} "
                     f"(*{cell(row['quantity'])}*) | {row['rule']}, {row['replicates']} | {cell(mean)} "
                     f"| {cell(interval)} | {cell(threshold(row))} | {distance} | {verdict} |\n")
    lines.append(":::\n")
    return "".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "book" / "claims.md")
    args = parser.parse_args(argv)
    notebooks = sorted(NOTEBOOKS.glob(PATTERN))
    args.output.write_text(page(notebooks), encoding="utf-8")
    print(f"{args.output}: claims of {len(notebooks)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
