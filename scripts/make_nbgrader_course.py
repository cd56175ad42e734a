"""Turn course notebooks into an nbgrader course, so that an instructor can grade with nbgrader's autograde.

Usage (from the repository root):

    python scripts/make_nbgrader_course.py COURSE_DIR [notebooks/05_dropout.ipynb ...]

Each notebook becomes the assignment ``NN_name`` in ``COURSE_DIR/source/NN_name/``, with the cell metadata
nbgrader needs: every cell holding ``### BEGIN SOLUTION`` is an answer cell, and every check cell after it
(``check_...(answer)``) becomes a graded test cell worth one point, ``assert check_...(answer)``. The checkers
are the ones learners run, so autograde gives the same verdicts; a checker that says "not yet right" or "not
yet solved" fails the assertion. Then, in COURSE_DIR, nbgrader's own commands take over:

    nbgrader generate_assignment 05_dropout     # release/: what learners get (solutions stubbed)
    nbgrader collect 05_dropout                 # or put submissions in submitted/<learner>/05_dropout/
    nbgrader autograde 05_dropout               # runs each submission; scores in gradebook.db
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

CHECK_CALL = re.compile(r"^(?P<call>check_\w+\(.*\))\s*$", re.MULTILINE)
CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
# Learners' notebooks train small models; give each notebook time on a slow machine.
c.ExecutePreprocessor.timeout = 600
'''


def graded(notebook):
    """A copy of an nbformat notebook with nbgrader's metadata on its answer and check cells."""
    notebook = nbformat.from_dict(notebook)
    answers = 0
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if "### BEGIN SOLUTION" in cell.source:
            answers += 1
            cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                         "grade_id": f"answer-{answers}", "schema_version": 3}
        elif answers and CHECK_CALL.search(cell.source):
            cell.source = CHECK_CALL.sub(lambda m: f"assert {m['call']}", cell.source)
            cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                         "grade_id": f"check-{i}", "schema_version": 3}
    if not answers:
        raise ValueError("this notebook has no exercise (no cell with ### BEGIN SOLUTION)")
    return notebook


def write_course(root: Path, notebooks: list[Path]) -> list[str]:
    """Write COURSE_DIR/nbgrader_config.py and one source assignment per notebook; return the assignments."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root.resolve())))
    assignments = []
    for path in notebooks:
        folder = root / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(graded(nbformat.read(path, as_version=4)), folder / path.name)
        assignments.append(path.stem)
    return assignments


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course_dir", type=Path)
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    notebooks = args.notebooks or [path for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                                   if "### BEGIN SOLUTION" in path.read_text(encoding="utf-8")]
    for name in write_course(args.course_dir, notebooks):
        print(f"{args.course_dir / 'source' / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
