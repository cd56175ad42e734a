"""Write the learner notebooks: the course notebooks without solutions and outputs.

Usage (from the repository root; `make learner` runs it):

    python scripts/make_learner_notebooks.py            # write learner/NN_name.ipynb
    python scripts/make_learner_notebooks.py --check    # exit 1 if learner/ is out of date

Every notebooks/NN_*.ipynb becomes learner/NN_*.ipynb through two of nbgrader's
own preprocessors, run standalone on the nbformat notebook (no nbgrader course
or database):

* ``ClearSolutions(enforce_metadata=False)`` turns each
  ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block into
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()``; the markers need no
  nbgrader cell metadata;
* ``ClearOutput`` removes outputs and execution counts, so a learner sees
  nothing the solutions produced.

The setup call becomes ``cu.setup(..., explore=True)``: a learner changes
numbers to see what happens, and a claim that then fails prints ✘ and the
notebook runs on, where the reference notebooks stop.

The saved state of interactive widgets goes too: it belongs to outputs that
are gone, and its random ids would change the file at every execution.

learner/ sits beside notebooks/, at the same depth, so a path that climbs to
the repository (``../data/...``) or goes through ``course_utils`` works from
both. A learner notebook whose exercise is unanswered still runs top to
bottom: its check cell prints "not yet solved" (tests/test_learner_notebooks.py).
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearOutput, ClearSolutions

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "notebooks"
LEARNER_DIR = ROOT / "learner"
PATTERN = "[0-9][0-9]_*.ipynb"  # the numbered course notebooks, whatever exists
SETUP_CALL = re.compile(r"\bcu\.setup\(([^)]*)\)")


def course_notebooks(source_dir=SOURCE_DIR):
    """The numbered course notebooks, in course order."""
    return sorted(Path(source_dir).glob(PATTERN))


def learner_version(notebook):
    """A learner copy of an nbformat notebook: solutions stubbed out, outputs cleared."""
    notebook = nbformat.from_dict(notebook)  # a deep copy: the caller's notebook is left alone
    resources = {}
    notebook, resources = ClearSolutions(enforce_metadata=False).preprocess(notebook, resources)
    notebook, resources = ClearOutput().preprocess(notebook, resources)
    notebook.metadata.pop("widgets", None)
    return explore_mode(notebook)


def explore_mode(notebook):
    """Turn on explore mode in the notebook's one ``cu.setup(...)`` call."""
    calls = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source, n = SETUP_CALL.subn(
                lambda m: f"cu.setup({m.group(1).strip() + ', ' if m.group(1).strip() else ''}explore=True)",
                cell.source)
            calls += n
    if calls != 1:
        raise ValueError(f"a course notebook calls cu.setup(...) exactly once, in its setup cell; found {calls}")
    return notebook


def render(notebook):
    """The exact text nbformat writes for a notebook, for writing and for comparing."""
    return nbformat.writes(notebook) + "\n"


def build(source_dir=SOURCE_DIR):
    """{learner file name: notebook text} for every course notebook."""
    return {path.name: render(learner_version(nbformat.read(path, as_version=4)))
            for path in course_notebooks(source_dir)}


def stale(learner_dir=LEARNER_DIR, source_dir=SOURCE_DIR):
    """Names of learner notebooks that are missing, out of date, or left over from a removed notebook."""
    expected = build(source_dir)
    present = {path.name for path in Path(learner_dir).glob(PATTERN)}
    problems = [name for name, text in expected.items()
                if name not in present or (Path(learner_dir) / name).read_text(encoding="utf-8") != text]
    return problems + sorted(present - expected.keys())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if learner/ differs from what would be written")
    args = parser.parse_args(argv)

    if args.check:
        problems = stale()
        for name in problems:
            print(f"learner/{name} is out of date: run make learner", file=sys.stderr)
        return 1 if problems else 0

    LEARNER_DIR.mkdir(exist_ok=True)
    expected = build()
    for name, text in expected.items():
        (LEARNER_DIR / name).write_text(text, encoding="utf-8")
        print(f"learner/{name}")
    for path in sorted(LEARNER_DIR.glob(PATTERN)):
        if path.name not in expected:  # its course notebook was removed or renamed
            path.unlink()
            print(f"removed learner/{path.name}")
    if not expected:
        print("No course notebooks under notebooks/: nothing to write.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
