"""Instructors can grade: nbgrader's autograde runs the course's own checkers on collected learner notebooks.

A real nbgrader course in a temporary folder, made by scripts/make_nbgrader_course.py from the notebook with
the cheapest exercises; nbgrader's own `generate_assignment` and `autograde` commands. One learner submits the
solutions, another a wrong answer to the first exercise and nothing else: the gradebook must give the first
every point and the second none for that exercise, with the checker's explanation in the graded notebook.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_nbgrader_course  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "04_elastic_net.ipynb"
ASSIGNMENT = NOTEBOOK.stem
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION\n?", re.S)
STUB = re.compile(r"# YOUR CODE HERE\n(\s*)raise NotImplementedError\(\)")


def nbgrader(course: Path, *args: str) -> None:
    # nbgrader starts alembic (its database migrations) by name: the environment's scripts come first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env={**os.environ, "PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr


def submit(course: Path, learner: str, answers: list[str | None]) -> None:
    """The released notebook with each answer cell filled in (None leaves it unanswered), as collected."""
    released = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK.name, as_version=4)
    cells = [cell for cell in released.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    for cell, answer in zip(cells, answers):
        if answer is not None:
            cell.source = STUB.sub(lambda m: answer.replace("\n", "\n" + m[1]).rstrip(), cell.source, count=1)
    folder = course / "submitted" / learner / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(released, folder / NOTEBOOK.name)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader_course")
    make_nbgrader_course.write_course(course, [NOTEBOOK])
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    solutions = [m[1] for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code"
                 for m in [SOLUTION.search(cell.source)] if m]
    submit(course, "alice", solutions)
    submit(course, "bob", ["return None\n"] + [None] * (len(solutions) - 1))
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    return course


def test_every_exercise_becomes_a_graded_check():
    notebook = make_nbgrader_course.graded(nbformat.read(NOTEBOOK, as_version=4))
    answers = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
    checks = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert answers and len(checks) >= len(answers)
    assert all(c.source.lstrip().startswith("assert check_") for c in checks)


def test_autograde_gives_the_checkers_verdicts(graded_course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_course / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission(ASSIGNMENT, "alice")
        bob = gradebook.find_submission(ASSIGNMENT, "bob")
        assert alice.max_score > 0 and alice.score == alice.max_score
        assert bob.score == 0
    graded = nbformat.read(graded_course / "autograded" / "bob" / ASSIGNMENT / NOTEBOOK.name, as_version=4)
    first_check = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade"))
    shown = "".join(output.get("text", "") for output in first_check.outputs)
    assert "❌ Not yet right" in shown
