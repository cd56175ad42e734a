"""scripts/make_links.py: every badge, install cell and book launch button follows pyproject.toml's repository URL."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
import yaml

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


def test_the_book_config_block_follows_the_repository_and_hub():
    text = ("title: x\n" + links.BOOK_BLOCK_START + "repository:\n  url: old\n" + links.BOOK_BLOCK_END + "sphinx: {}\n")
    once = links.config_with_links(text, REPOSITORY, "https://hub.school.edu/")
    assert links.config_with_links(once, REPOSITORY, "https://hub.school.edu/") == once
    assert once.startswith("title: x\n") and once.endswith("sphinx: {}\n")
    config = yaml.safe_load(once)
    assert config["repository"] == {"url": REPOSITORY, "path_to_book": "book", "branch": links.BRANCH}
    assert config["launch_buttons"]["binderhub_url"] == links.BINDERHUB
    assert config["launch_buttons"]["colab_url"] == links.COLAB
    assert config["launch_buttons"]["jupyterhub_url"] == "https://hub.school.edu/"
    with pytest.raises(SystemExit, match="needs exactly one block"):
        links.config_with_links("title: x\n", REPOSITORY, links.HUB_PLACEHOLDER)


def test_the_hub_address_is_optional(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[project.urls]\nRepository = "https://github.com/a/b"\n')
    assert links.jupyterhub_url(pyproject) == links.HUB_PLACEHOLDER
    pyproject.write_text(pyproject.read_text() + 'JupyterHub = "https://hub.school.edu/"\n')
    assert links.jupyterhub_url(pyproject) == "https://hub.school.edu"
