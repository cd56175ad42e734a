"""scripts/make_links.py: every badge and install cell follows pyproject.toml's repository URL."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_links", ROOT / "scripts" / "make_links.py")
links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(links)
REPOSITORY = "https://github.com/someone/course"


def test_nothing_disagrees_with_the_repository_url(capsys):
    assert links.main(["--check"]) == 0, capsys.readouterr().out


def test_every_notebook_starts_with_its_badge_and_install_cell():
    repository = links.repository_url()
    for path in sorted(links.NOTEBOOKS.glob(links.PATTERN)):
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].source.startswith("# "), f"{path.name}: the title comes first"
        assert cells[1].metadata.tags == [links.LAUNCH_TAG] and links.colab_url(repository, path.name) in cells[1].source
        assert cells[2].metadata.tags == [links.INSTALL_TAG] and f"git+{repository}" in cells[2].source


def test_cells_are_added_once_and_updated_in_place():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · Title"),
                                               nbformat.v4.new_code_cell("import course_utils as cu")])
    once = links.with_links(notebook, REPOSITORY, "01_title.ipynb")
    once.cells[2].outputs = [nbformat.v4.new_output("stream", text="stored")]
    twice = links.with_links(once, "https://github.com/other/course", "01_title.ipynb")
    assert [c.source[:9] for c in twice.cells] == ["# 01 · Ti", "[![Open i", "# On Cola", "import co"]
    assert "github/other/course/blob/main/learner/01_title.ipynb" in twice.cells[1].source
    assert "git+https://github.com/other/course" in twice.cells[2].source
    assert twice.cells[2].outputs[0].text == "stored"


def test_readme_rows_get_one_badge_each():
    text = ("| # | Notebook |\n|---|---|\n| 00 | [Start](notebooks/00_start.ipynb) |\n| 99 | none |\n\n"
            "| notebook | seconds |\n|---|---|\n| 00 | 13.0 |\n")
    once = links.readme_with_badges(text, REPOSITORY, ["00_start.ipynb"])
    assert links.readme_with_badges(once, REPOSITORY, ["00_start.ipynb"]) == once
    assert "| 00 [![Open in Colab](" in once and "learner/00_start.ipynb) | [Start]" in once and "| 99 | none |" in once
    assert once.endswith("| 00 | 13.0 |\n"), "only course-map rows (a link to the notebook) get a badge"


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a"])
def test_the_repository_must_be_a_github_address(tmp_path, url):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[project]\nname = "x"\n[project.urls]\nRepository = "{url}"\n')
    with pytest.raises(SystemExit, match="must be https://github.com/OWNER/NAME"):
        links.repository_url(pyproject)
