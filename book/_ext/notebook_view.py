"""Show each notebook in the book as a reader should see it, without editing the notebook.

Runs on every notebook's JSON text at ``source-read``, before MyST-NB parses it:

* **Exercises.** A code cell with ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` is shown twice: first
  the learner's version (nbgrader's ``ClearSolutions``, as scripts/make_learner_notebooks.py makes it:
  the solution replaced by ``raise NotImplementedError()``), then the solution without its markers, hidden
  behind a "Show solution" toggle (MyST-NB's ``hide-input`` tag).
* **Test markers.** ``# NBVAL_...`` comment lines tell the tests what to compare; readers do not need them.
* **Alt text.** A figure (an image output) without alt text gets the first sentence of the Markdown cell
  after it, which by the course's convention says what the figure shows. An author overrides it with the
  cell metadata MyST-NB reads for image outputs: ``{"mystnb": {"image": {"alt": "..."}}}``.

Hints written as ``<details><summary>Hint 1</summary> ... </details>`` in Markdown need nothing here: the
browser shows them collapsed until clicked.
"""
import copy
import re

import nbformat
from nbgrader.preprocessors import ClearSolutions

TEST_MARKER_LINE = re.compile(r"^[ \t]*# NBVAL_\w+[ \t]*\n?", re.MULTILINE)
SOLUTION_MARKER_LINE = re.compile(r"^[ \t]*### (?:BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
SOLUTION_TOGGLE = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def sentence(markdown: str) -> str:
    """The first sentence of a Markdown cell's first paragraph of text, as plain text."""
    paragraph = next((block for block in re.split(r"\n\s*\n", markdown)
                      if block.strip() and not block.lstrip().startswith(("#", "<", "|", "```", ":::"))), "")
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", paragraph)  # links and images: their text
    text = re.sub(r"[*`$]|\\(?=[a-zA-Z])", "", text)               # emphasis, code, math delimiters
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z0-9(]|$)", text)
    return match.group(1) if match else text


def has_figure(cell) -> bool:
    return any(kind in output.get("data", {}) for output in cell.get("outputs", []) for kind in IMAGE_TYPES)


def add_alt_text(cells) -> None:
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or not has_figure(cell):
            continue
        image = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
        if image.get("alt"):
            continue  # the author's own
        reading = next((later.source for later in cells[index + 1:] if later.cell_type == "markdown"), "")
        alt = sentence(reading)
        if alt:
            image["alt"] = alt


def show_exercises(notebook) -> None:
    """Each solution cell preceded by its learner version; the solution itself behind a toggle."""
    learner, _ = ClearSolutions(enforce_metadata=False).preprocess(copy.deepcopy(notebook), {})
    cells = []
    for cell, stub in zip(notebook.cells, learner.cells):
        if cell.cell_type == "code" and SOLUTION_MARKER_LINE.search(cell.source):
            stub.outputs, stub.execution_count = [], None
            stub.metadata = {}
            stub.id = f"{cell.get('id', 'cell')}-learner"
            cells.append(stub)
            cell.source = SOLUTION_MARKER_LINE.sub("", cell.source).rstrip("\n")
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell.metadata.setdefault("mystnb", {}).update(SOLUTION_TOGGLE)
        cells.append(cell)
    notebook.cells = cells


def reader_view(text: str) -> str:
    """The notebook JSON as the book shows it."""
    notebook = nbformat.reads(text, as_version=4)
    show_exercises(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = TEST_MARKER_LINE.sub("", cell.source)
    add_alt_text(notebook.cells)
    return nbformat.writes(notebook)


def on_source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = reader_view(source[0])


def setup(app):
    app.connect("source-read", on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
