"""The book's API page is generated from the package: it is current, names every public name, and links only to
notebooks that exist."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_api_page as api  # noqa: E402


@pytest.fixture(scope="module")
def text() -> str:
    return api.PAGE.read_text()


def test_the_page_is_up_to_date(text):
    assert text == api.page(), "book/api.md is out of date: run python scripts/make_api_page.py"


def test_every_public_name_of_every_module_is_on_the_page(text):
    missing = []
    for module_name, module in api.modules().items():
        for name in api.public_names(module):
            if module_name == api.PACKAGE:
                shown = f"### `cu.{name}`"
            elif module_name.startswith(f"{api.CHECKS}."):
                shown = f"`{module_name.removeprefix(api.CHECKS + '.')}.{name}`"
            else:
                shown = f"`{module_name}.{name}`"
            if shown not in text:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not on book/api.md: {missing}"


def test_every_module_has_a_role():
    assert not [name for name in api.modules() if api.role(name) == api.OTHER[0]], \
        "give the module a role in make_api_page.ROLES"


def test_every_backlink_points_to_an_existing_notebook(text):
    targets = re.findall(r"\]\((notebooks/[^)]*)\)", text)
    assert len(targets) > 50   # the course's notebooks use the package throughout
    assert not [t for t in targets if not t.endswith(".ipynb") or not (api.PAGE.parent / t).is_file()]


def _notebook(path: Path, cells: list) -> Path:
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(notebook, path)
    return path


def test_first_use_is_the_section_above_it_not_the_import(tmp_path):
    notebook = _notebook(tmp_path / "05_demo.ipynb", [
        nbformat.v4.new_markdown_cell("# 05 · Demo"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport course_utils as cu\n"
                                  "from course_utils.data import (draw_rng,\n    sine)"),
        nbformat.v4.new_markdown_cell("## 1. First"),
        nbformat.v4.new_code_cell("cu.setup(0)"),
        nbformat.v4.new_markdown_cell("## 2. Second\n\ntext"),
        nbformat.v4.new_code_cell("rng = draw_rng(0)\nmodel = cu.fit"),
    ])
    uses = api.first_uses(notebook)
    assert uses[("course_utils", "setup")] == (3, "05 §1 First")
    assert uses[("course_utils.data", "draw_rng")] == (5, "05 §2 Second")
    assert uses[("course_utils", "fit")] == (5, "05 §2 Second")
    assert uses[("course_utils.data", "sine")] == (1, "05 Demo")   # imported, never referred to: its import counts


def test_each_exercise_is_matched_with_the_checkers_its_cells_call(tmp_path):
    _notebook(tmp_path / "05_demo.ipynb", [
        nbformat.v4.new_markdown_cell("### Exercise 5.1 (core, 10 min): one\n\n*Trains:* a thing"),
        nbformat.v4.new_code_cell("check_one(answer)"),
        nbformat.v4.new_markdown_cell("### Exercise 5.2 (stretch, 10 min): two"),
        nbformat.v4.new_code_cell("check_two(answer)"),
        nbformat.v4.new_markdown_cell("## 2. Next section"),
        nbformat.v4.new_code_cell("check_three(answer)"),
    ])
    found = api.exercise_checkers(tmp_path)
    assert [(number, names) for number, _, _, names in found] == [("5.1", ["check_one"]), ("5.2", ["check_two"])]
