"""Every notebook's exercises follow one form, on three levels, and the book's exercise index lists them all."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_exercise_index as index  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TAUGHT = [nb for nb in NOTEBOOKS if not nb.name.startswith("00_")]  # 00 only sets the course up
MINIMUM_EXERCISES = 40


def test_the_course_has_enough_exercises():
    assert len(index.all_exercises()) >= MINIMUM_EXERCISES


@pytest.mark.parametrize("notebook", TAUGHT, ids=[nb.stem for nb in TAUGHT])
def test_each_notebook_has_three_to_five_exercises_on_three_levels(notebook):
    found = index.exercises(notebook)
    assert 3 <= len(found) <= 5
    assert set(index.LEVELS) <= {ex["level"] for ex in found}
    number = int(notebook.name[:2])
    assert [ex["number"] for ex in found] == [f"{number}.{k}" for k in range(1, len(found) + 1)]
    for ex in found:
        assert 1 <= ex["hints"] <= 3, ex
        assert ex["trains"], f"{ex['number']} says nothing after *Trains:*"


@pytest.mark.parametrize("notebook", TAUGHT, ids=[nb.stem for nb in TAUGHT])
def test_each_exercise_has_a_solution_cell_and_a_check(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    starts = [i for i, cell in enumerate(cells) if cell.cell_type == "markdown" and index.HEADING.search(cell.source)]
    for start, end in zip(starts, [*starts[1:], len(cells)]):
        code = [cell.source for cell in cells[start + 1:end] if cell.cell_type == "code"]
        assert any("### BEGIN SOLUTION" in source for source in code), cells[start].source.splitlines()[0]
        assert any("check_" in source for source in code), cells[start].source.splitlines()[0]


def test_hints_open_one_at_a_time():
    """Each hint is its own collapsed block, so a learner can take the first without seeing the next."""
    for notebook in TAUGHT:
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown" and "<details>" in cell.source:
                assert Counter(cell.source.count(tag) for tag in ("<details>", "</details>", "<summary>")) \
                    .most_common(1)[0][1] == 3, notebook.name


def test_the_book_page_lists_every_exercise():
    assert index.PAGE.read_text() == index.page(index.all_exercises()), \
        "book/exercises.md is out of date: run python scripts/make_exercise_index.py"
