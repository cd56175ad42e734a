"""Write every link to the course's public home from the one place it is set: pyproject.toml's [project.urls].

Usage (from the repository root; `make links` runs it):

    python scripts/make_links.py            # rewrite the generated cells and badges
    python scripts/make_links.py --check    # exit 1, naming what disagrees, if anything is stale

It writes, from ``Repository`` in ``[project.urls]``:

* in each notebook, right after its title, a launch cell (an "Open in Colab" badge for the learner copy)
  and an install cell, which does nothing where the course is installed and installs it from the
  repository on Colab or any hosted Jupyter;
* in README.md's course map, the same badge beside each notebook's number;
* in book/_config.yml, between its two ``make links`` comment lines, the book's repository link and its
  launch buttons (Binder, Colab, and a JupyterHub through nbgitpuller); the book's extension
  book/_ext/learner_launch.py points them at the learner copy of each chapter.

The repository's address is the one setting a publisher makes; until it is set, the placeholder
``PUBLISHER`` stands in the address and the badges lead nowhere. A class with its own JupyterHub adds its
address as ``JupyterHub`` in ``[project.urls]``; without it the hub button leads to a placeholder too.
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
BOOK_CONFIG = ROOT / "book" / "_config.yml"
PATTERN = "[0-9][0-9]_*.ipynb"
LAUNCH_TAG, INSTALL_TAG = "course-launch", "course-install"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BRANCH = "main"
BINDERHUB, COLAB = "https://mybinder.org", "https://colab.research.google.com"
HUB_PLACEHOLDER = "https://hub.PUBLISHER.example"
BOOK_BLOCK_START = "# Written by `make links` from pyproject.toml's [project.urls]: edit the addresses there.\n"
BOOK_BLOCK_END = "# End of what `make links` writes.\n"


def project_urls(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["urls"]


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    url = project_urls(pyproject)["Repository"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[^/]+/[^/]+", url):
        raise SystemExit(f"[project.urls] Repository must be https://github.com/OWNER/NAME; got {url!r}")
    return url


def jupyterhub_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    url = project_urls(pyproject).get("JupyterHub", HUB_PLACEHOLDER).rstrip("/")
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
        raise SystemExit(f"[project.urls] JupyterHub must be the hub's http(s) address; got {url!r}")
    return url


def colab_url(repository: str, notebook: str) -> str:
    """Colab opens the learner copy (no solutions, no outputs): the reader works on it in their own Drive."""
    return f"https://colab.research.google.com/github/{repository.removeprefix('https://github.com/')}" \
           f"/blob/{BRANCH}/learner/{notebook}"


def badge(repository: str, notebook: str) -> str:
    return f"[![Open in Colab]({BADGE})]({colab_url(repository, notebook)})"


def launch_source(repository: str, notebook: str) -> str:
    return (f"{badge(repository, notebook)} — or run it on your own machine: see the "
            f"[README]({repository}#readme).")


def install_source(repository: str) -> str:
    return ("# On Colab or another hosted Jupyter this installs the course; elsewhere it does nothing.\n"
            "import importlib.util\n"
            "if importlib.util.find_spec(\"course_utils\") is None:\n"
            f"    %pip install --quiet \"regularization-course @ git+{repository}\"")


def with_links(notebook, repository: str, name: str):
    """The notebook with its launch and install cells (tagged) right after the title, new or updated."""
    cells = [c for c in notebook.cells if not {LAUNCH_TAG, INSTALL_TAG} & set(c.metadata.get("tags", []))]
    launch = nbformat.v4.new_markdown_cell(launch_source(repository, name), id="course-launch")
    install = nbformat.v4.new_code_cell(install_source(repository), id="course-install")
    launch.metadata["tags"], install.metadata["tags"] = [LAUNCH_TAG], [INSTALL_TAG]
    old = {c.metadata["tags"][0]: c for c in notebook.cells if {LAUNCH_TAG, INSTALL_TAG} & set(c.metadata.get("tags", []))}
    if INSTALL_TAG in old:   # keep what executing it stored
        install.outputs, install.execution_count = old[INSTALL_TAG].outputs, old[INSTALL_TAG].execution_count
    notebook.cells = cells[:1] + [launch, install] + cells[1:]
    return notebook


# A course-map row: its number (with the badge once written), then a link to the notebook.
COURSE_MAP_ROW = re.compile(r"^\| (\d\d)(?: \[!\[Open in Colab\]\([^)]*\)\]\([^)]*\))? \|(?= \[[^]]*\]\(notebooks/)",
                            re.MULTILINE)


def readme_with_badges(text: str, repository: str, notebooks: list[str]) -> str:
    by_number = {name[:2]: name for name in notebooks}
    return COURSE_MAP_ROW.sub(lambda m: f"| {m[1]} {badge(repository, by_number[m[1]])} |"
                              if m[1] in by_number else m[0], text)


def book_block(repository: str, hub: str) -> str:
    """The book configuration's repository and launch-button settings (Jupyter Book 1.x keys)."""
    return (f"{BOOK_BLOCK_START}"
            f"repository:\n  url: {repository}\n  path_to_book: book\n  branch: {BRANCH}\n"
            f"launch_buttons:\n  notebook_interface: jupyterlab\n  binderhub_url: {BINDERHUB}\n"
            f"  colab_url: {COLAB}\n  jupyterhub_url: {hub}\n  thebe: false\n"
            f"{BOOK_BLOCK_END}")


def config_with_links(text: str, repository: str, hub: str) -> str:
    """The book's _config.yml text with its generated block rewritten."""
    block = re.compile(re.escape(BOOK_BLOCK_START) + r".*?" + re.escape(BOOK_BLOCK_END), re.DOTALL)
    if len(block.findall(text)) != 1:
        raise SystemExit(f"{BOOK_CONFIG.relative_to(ROOT)} needs exactly one block from the line "
                         f"{BOOK_BLOCK_START.strip()!r} to {BOOK_BLOCK_END.strip()!r}")
    return block.sub(lambda _: book_block(repository, hub), text)


def planned(repository: str, hub: str) -> dict[Path, str]:
    """{file: the text it should have}."""
    files = {}
    paths = sorted(NOTEBOOKS.glob(PATTERN))
    for path in paths:
        notebook = with_links(nbformat.read(path, as_version=4), repository, path.name)
        files[path] = nbformat.writes(notebook) + "\n"
    files[README] = readme_with_badges(README.read_text(encoding="utf-8"), repository, [p.name for p in paths])
    files[BOOK_CONFIG] = config_with_links(BOOK_CONFIG.read_text(encoding="utf-8"), repository, hub)
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing them")
    args = parser.parse_args(argv)
    plan = planned(repository_url(), jupyterhub_url())
    stale = [path for path, text in plan.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} disagrees with [project.urls] Repository: run make links")
        return int(bool(stale))
    for path, text in plan.items():
        if path in stale:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
