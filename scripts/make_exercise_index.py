"""Write the book's exercise index (book/exercises.md) from the exercise headings of the course notebooks.

Usage (from the repository root; `make book` runs it):

    python scripts/make_exercise_index.py            # write book/exercises.md
    python scripts/make_exercise_index.py --check    # exit 1 if the page is out of date

Every exercise starts with a markdown heading of one form,
``### Exercise 5.2 (core, 15 min): dropout backward in NumPy``, followed by a line
``*Trains:* ...`` that says what it builds, so the page needs no list kept by hand.
"""

import argparse
import re
from pathlib import Path

import nbformat

from generated_page import write_or_check

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PAGE = ROOT / "book" / "exercises.md"
LEVELS = ("warm-up", "core", "stretch")
HEADING = re.compile(r"^### Exercise (?P<number>\d+\.\d+) \((?P<level>[a-z-]+), (?P<minutes>\d+) min\): "
                     r"(?P<title>.+)$", re.M)
TRAINS = re.compile(r"^\*Trains:\*\s*(?P<what>.+)$", re.M)


def exercises(notebook: Path) -> list[dict]:
    """The exercises of one notebook, in order, with what each trains; a malformed heading is an error."""
    found = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("### Exercise") and not HEADING.match(line):
                raise ValueError(f"{notebook.name}: exercise heading not in the form "
                                 f"'### Exercise N.k (level, M min): title': {line!r}")
        for match in HEADING.finditer(cell.source):
            if match["level"] not in LEVELS:
                raise ValueError(f"{notebook.name}: exercise {match['number']} has level {match['level']!r}; "
                                 f"allowed: {', '.join(LEVELS)}")
            trains = TRAINS.search(cell.source, match.end())
            found.append({"notebook": notebook.name, "number": match["number"], "level": match["level"],
                          "minutes": int(match["minutes"]), "title": match["title"].strip(),
                          "trains": trains["what"].strip() if trains else "",
                          "hints": cell.source.count("<summary>Hint")})
    return found


def all_exercises(folder: Path = NOTEBOOKS) -> list[dict]:
    return [ex for notebook in sorted(folder.glob("[0-9][0-9]_*.ipynb")) for ex in exercises(notebook)]


def page(found: list[dict]) -> str:
    per_level = {level: sum(ex["level"] == level for ex in found) for level in LEVELS}
    minutes = sum(ex["minutes"] for ex in found)
    lines = ["# Exercises", "",
             f"The course has {len(found)} exercises: {per_level['warm-up']} warm-ups, {per_level['core']} core "
             f"and {per_level['stretch']} stretch exercises, about {minutes // 60} h {minutes % 60:02d} min of "
             "work in all. Each has hints that open one at a time and a checker that says at once whether the "
             "answer is right, and if not, which mistake it found. Warm-ups take a few minutes and use the "
             "section just read; core exercises build the chapter's mechanism; stretch exercises go further.",
             "", "Generated from the notebooks by `scripts/make_exercise_index.py`.", "",
             "| exercise | chapter | level | time | what it trains |", "|---|---|---|---|---|"]
    for ex in found:
        chapter = f"notebooks/{Path(ex['notebook']).stem}"
        lines.append(f"| {ex['number']} {ex['title']} | [{ex['notebook'][:2]}]({chapter}) | {ex['level']} | "
                     f"{ex['minutes']} min | {ex['trains']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if book/exercises.md is out of date")
    args = parser.parse_args()
    write_or_check(PAGE, page(all_exercises()), args.check, ROOT)


if __name__ == "__main__":
    main()
