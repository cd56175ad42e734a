"""The thinnest claims: how close each claim's worst run is to its threshold, and how far runs move elsewhere.

Usage (from the repository root; `make margins` runs it after re-executing a copy of the notebooks with the
portability settings of `make test`, another thread count and CPU code path):

    python scripts/claim_margins.py notebooks build/margins [--top 20]

The first folder holds the reference outputs, each further folder the same notebooks executed elsewhere.
Training a network is chaotic: a change of rounding moves every run a little, and some runs a lot. A claim
whose runs moved by more than half its margin may fail on a learner's machine; give it a margin that says
what holds (and word the claim to match), or measure something less fragile. A move away from the threshold
counts as much as one toward it: on another machine the same run may move the other way. Exit status 1 if a
claim broke in one of the other folders.
"""

import argparse
import sys
from pathlib import Path

from course_utils.claims import stored_claims, worst_margin


def by_position(folder: Path) -> dict[tuple[str, int], dict]:
    """Claims keyed by (notebook, position in it): the same notebooks make the same claims in the same order."""
    keyed, seen = {}, {}
    for record in stored_claims(sorted(folder.glob("[0-9][0-9]_*.ipynb"))):
        position = seen.get(record["notebook"], 0)
        seen[record["notebook"]] = position + 1
        keyed[record["notebook"], position] = record
    return keyed


def largest_move(reference: dict, other: dict) -> float:
    """The largest change of one run's value between two executions of the same claim."""
    if other["statement"] != reference["statement"] or len(other["values"]) != len(reference["values"]):
        raise ValueError(f"{reference['notebook']}: claims differ between the folders "
                         f"({reference['statement'][:60]!r} against {other['statement'][:60]!r}); "
                         "execute the same notebooks in both")
    return max(abs(a - b) for a, b in zip(reference["values"], other["values"]))


def rows(reference: dict, others: list[dict]) -> list[dict]:
    """One row per reference claim: its worst margin, the largest move elsewhere and the worst margin there."""
    table = []
    for key, record in reference.items():
        matched = [other[key] for other in others if key in other]
        table.append({"notebook": record["notebook"], "statement": record["statement"],
                      "margin": worst_margin(record),
                      "moved": max((largest_move(record, m) for m in matched), default=0.0),
                      "margin elsewhere": min((worst_margin(m) for m in matched), default=worst_margin(record))})
    return sorted(table, key=lambda row: (row["margin elsewhere"] <= 0, row["moved"] / max(row["margin"], 1e-12)),
                  reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="folder of the reference executed notebooks")
    parser.add_argument("others", type=Path, nargs="*", help="folders of the same notebooks executed elsewhere")
    parser.add_argument("--top", type=int, default=20, help="how many of the thinnest claims to print")
    args = parser.parse_args()
    reference = by_position(args.reference)
    if not reference:
        parser.error(f"no claims in {args.reference}: give a folder of executed notebooks")
    table = rows(reference, [by_position(folder) for folder in args.others])
    print(f"{len(table)} claims; the thinnest first (moved: the largest change of one run between executions)")
    print(f"{'notebook':<28} {'margin':>9} {'moved':>9}  verdict  statement")
    for row in table[:args.top]:
        verdict = ("BROKE" if row["margin elsewhere"] <= 0 else "fragile" if row["moved"] > row["margin"] / 2
                   else "ok")
        print(f"{row['notebook']:<28} {row['margin']:>9.4g} {row['moved']:>9.4g}  {verdict:<7}  "
              f"{row['statement'][:70]}")
    return int(any(row["margin elsewhere"] <= 0 for row in table))


if __name__ == "__main__":
    sys.exit(main())
