"""The learner notebooks in learner/: in step with the course, free of solutions, and runnable as handed out.

learner/NN_name.ipynb is notebooks/NN_name.ipynb with nbgrader's ClearSolutions
and ClearOutput applied (scripts/make_learner_notebooks.py, `make learner`).

A learner notebook runs here as a learner runs it: from learner/ (its working
directory), in a fresh kernel of this interpreter, top to bottom, with every
exercise unanswered. Each must finish without an error, and the check cell
after each exercise must say "not yet solved". One test per notebook, marked
learner_run: `make test` runs them in a step of their own, spread over the
xdist workers.
"""
from __future__ import annotations

import importlib.util
from itertools import zip_longest
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]
LEARNER_DIR = ROOT / "learner"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
NOT_SOLVED = "not yet solved"
CELL_TIMEOUT_SECONDS = 600


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_script("make_learner_notebooks")
COURSE = generator.course_notebooks()


def summary(cell) -> tuple:
    return cell.cell_type, cell.source, cell.get("outputs", []), cell.get("execution_count")


def test_learner_notebooks_are_in_sync():
    """Each learner notebook is exactly what the generator makes of its course notebook now."""
    expected = {name: nbformat.reads(text, as_version=4) for name, text in generator.build().items()}
    for name, fresh in expected.items():
        path = LEARNER_DIR / name
        assert path.exists(), f"learner/{name} is missing: run make learner"
        stored = nbformat.read(path, as_version=4)
        for index, (old, new) in enumerate(zip_longest(stored.cells, fresh.cells)):
            if old is None or new is None:
                pytest.fail(f"learner/{name} has {len(stored.cells)} cells, the course notebook makes "
                            f"{len(fresh.cells)}: run make learner")
            assert summary(old) == summary(new), (
                f"learner/{name}, cell {index}, differs from notebooks/{name} without solutions and outputs "
                f"(a solution changed, or the learner copy was edited or saved with outputs): run make learner")
    extra = sorted({p.name for p in LEARNER_DIR.glob(generator.PATTERN)} - expected.keys())
    assert not extra, f"learner/ has notebooks with no course notebook: {extra}: run make learner"


def test_no_solution_leaks_into_learner_notebooks():
    for path in sorted(LEARNER_DIR.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        for marker in SOLUTION_MARKERS:
            assert marker not in text, f"{path.relative_to(ROOT)} contains {marker!r}: a solution leaks"


def test_learner_notebooks_carry_no_widget_state():
    """Widget state belongs to outputs that are cleared, and its random ids would churn the files."""
    for path in sorted(LEARNER_DIR.glob("*.ipynb")):
        assert "widgets" not in nbformat.read(path, as_version=4).metadata, f"{path.name}: run make learner"


def check_cells(source: nbformat.NotebookNode) -> list[int]:
    """Indices of the check cells: the first code cell after each exercise's solution cell(s)."""
    def is_solution(cell):
        return cell.cell_type == "code" and SOLUTION_MARKERS[0] in cell.source

    checks = []
    for index, cell in enumerate(source.cells):
        if not is_solution(cell):
            continue
        following = (j for j in range(index + 1, len(source.cells))
                     if source.cells[j].cell_type == "code" and not is_solution(source.cells[j]))
        check = next(following, None)
        if check is not None and check not in checks:
            checks.append(check)
    return checks


def stdout_of(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


@pytest.mark.learner_run
@pytest.mark.parametrize("course_path", COURSE, ids=[p.stem for p in COURSE])
def test_learner_notebook_runs_with_every_exercise_unanswered(course_path):
    path = LEARNER_DIR / course_path.name
    assert path.exists(), f"learner/{course_path.name} is missing: run make learner"
    source = nbformat.read(course_path, as_version=4)
    notebook = nbformat.read(path, as_version=4)
    assert len(notebook.cells) == len(source.cells), f"learner/{path.name} is out of date: run make learner"

    kernels = load_script("execute_notebooks")  # its kernel manager: "python3" is this very interpreter
    client = NotebookClient(notebook, kernel_name=kernels.KERNEL_NAME, timeout=CELL_TIMEOUT_SECONDS,
                            kernel_manager_class=kernels.CurrentInterpreterKernelManager,
                            resources={"metadata": {"path": str(LEARNER_DIR)}})
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as error:
        pytest.fail(f"learner/{path.name} stops with an error when run top to bottom with the exercises "
                    f"unanswered; an unanswered exercise must only make its check say '{NOT_SOLVED}'.\n{error}")

    for index in check_cells(source):
        printed = stdout_of(notebook.cells[index])
        assert NOT_SOLVED in printed, (
            f"learner/{path.name}, cell {index} checks an unanswered exercise but printed {printed!r} "
            f"instead of '{NOT_SOLVED}':\n{notebook.cells[index].source}")


def test_learner_notebooks_are_in_explore_mode():
    for path in sorted(LEARNER_DIR.glob(generator.PATTERN)):
        calls = [cell.source for cell in nbformat.read(path, as_version=4).cells
                 if cell.cell_type == "code" and "cu.setup(" in cell.source]
        assert len(calls) == 1 and "explore=True)" in calls[0], f"learner/{path.name}: run make learner"


def test_explore_mode_needs_exactly_one_setup_call():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="calls cu.setup\\(...\\) exactly once"):
        generator.explore_mode(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell("import course_utils as cu\ncu.setup(seed=0)"))
    assert generator.explore_mode(notebook).cells[1].source.endswith("cu.setup(seed=0, explore=True)")


@pytest.mark.learner_run
def test_a_claim_that_fails_does_not_stop_a_learner_notebook():
    """A learner who changes settings sees ✘ and the notebook runs on (explore mode)."""
    path = LEARNER_DIR / COURSE[0].name
    notebook = nbformat.read(path, as_version=4)
    setup = next(i for i, cell in enumerate(notebook.cells) if "cu.setup(" in cell.source)
    notebook.cells.insert(setup + 1, nbformat.v4.new_code_cell(
        'cu.claim("a claim forced to fail", [0.0, 0.1, 0.0, 0.1, 0.0], above=1.0)'))
    kernels = load_script("execute_notebooks")
    client = NotebookClient(notebook, kernel_name=kernels.KERNEL_NAME, timeout=CELL_TIMEOUT_SECONDS,
                            kernel_manager_class=kernels.CurrentInterpreterKernelManager,
                            resources={"metadata": {"path": str(LEARNER_DIR)}})
    client.execute()   # an error here fails the test: the notebook must run on
    shown = "".join(output.get("data", {}).get("text/plain", "") for output in notebook.cells[setup + 1].outputs)
    assert "Claim ✘ FAILS: a claim forced to fail" in shown and "does not hold with your settings" in shown
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")
