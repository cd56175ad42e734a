"""Does every claim hold elsewhere? Each claim's verdict and distance in the reference and in other executions.

Usage (from the repository root; `make margins` runs it after executing copies of the notebooks on another
thread count and CPU code path, and on other data draws, all in explore mode so that every verdict is recorded):

    python scripts/claim_margins.py notebooks build/margins/portable build/margins/draw-1 build/margins/draw-2

The first folder holds the reference outputs, each further folder the same notebooks executed elsewhere. A
claim's distance is how far its deciding interval bound lies beyond the threshold, in widths of its 95 %
interval (``course_utils.claims.distance``): below 0 the claim fails, near 0 it is at the edge. A claim that
fails in any folder must have its sentence scoped to what holds. Exit status 1 if a claim fails anywhere.
"""

import argparse
import math
import sys
from pathlib import Path

from course_utils.claims import stored_claims


def by_position(folder: Path) -> dict[tuple[str, int], dict]:
    """Claims keyed by (notebook, position in it): the same notebooks make the same claims in the same order."""
    keyed, seen = {}, {}
    for record in stored_claims(sorted(folder.glob("[0-9][0-9]_*.ipynb"))):
        position = seen.get(record["notebook"], 0)
        seen[record["notebook"]] = position + 1
        keyed[record["notebook"], position] = record
    return keyed


def gap(record: dict) -> float:
    """A claim's distance; one with no spread (exact, or replicates that all agree) is infinitely far."""
    return math.inf if record["distance"] is None else record["distance"]


def rows(reference: dict, others: dict[str, dict]) -> list[dict]:
    """One row per reference claim: its distance here, its smallest distance elsewhere and where it failed."""
    table = []
    for key, record in reference.items():
        failed = [] if record["holds"] else ["reference"]
        distances = []
        for name, other in others.items():
            match = other.get(key)
            if match is None:
                failed.append(f"{name} (not run)")
                continue
            if match["statement"] != record["statement"]:
                raise ValueError(f"{key[0]}: claims differ between the folders ({record['statement'][:60]!r} "
                                 f"against {match['statement'][:60]!r}); execute the same notebooks in both")
            distances.append(gap(match))
            failed += [] if match["holds"] else [name]
        table.append({"notebook": record["notebook"], "statement": record["statement"], "rule": record["rule"],
                      "distance": gap(record), "elsewhere": min(distances, default=gap(record)),
                      "failed": failed})
    return sorted(table, key=lambda row: (not row["failed"], min(row["distance"], row["elsewhere"])))


def shown(value: float) -> str:
    return "exact" if math.isinf(value) else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="folder of the reference executed notebooks")
    parser.add_argument("others", type=Path, nargs="*", help="folders of the same notebooks executed elsewhere")
    parser.add_argument("--top", type=int, default=25, help="how many claims to print, failures and thinnest first")
    args = parser.parse_args()
    reference = by_position(args.reference)
    if not reference:
        parser.error(f"no claims in {args.reference}: give a folder of executed notebooks")
    table = rows(reference, {folder.name: by_position(folder) for folder in args.others})
    failures = [row for row in table if row["failed"]]
    print(f"{len(table)} claims in {args.reference} checked against {len(args.others)} other execution(s): "
          f"{len(table) - len(failures)} hold everywhere, {len(failures)} fail somewhere.")
    print("distance: the deciding bound's distance beyond the threshold, in 95 %-interval widths (< 0: fails)")
    print(f"{'notebook':<28} {'here':>6} {'elsewhere':>9}  {'failed in':<22} statement")
    for row in table[:args.top]:
        print(f"{row['notebook']:<28} {shown(row['distance']):>6} {shown(row['elsewhere']):>9}  "
              f"{', '.join(row['failed']) or '-':<22} {row['statement'][:70]}")
    return int(bool(failures))


if __name__ == "__main__":
    sys.exit(main())
