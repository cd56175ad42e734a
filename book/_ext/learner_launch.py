"""Point every chapter's launch buttons at its learner copy, learner/NN_name.ipynb.

sphinx-book-theme builds the Binder, JupyterHub (nbgitpuller) and Colab links of a page from the page's own
source, book/notebooks/NN_name.ipynb: the notebook with its solutions and outputs. A reader who launches a
chapter should get what a learner gets, the copy without solutions that scripts/make_learner_notebooks.py
writes, so this handler runs right after the theme's and swaps that path in each link. A chapter without a
learner copy keeps the theme's link, with a warning (an error under ``-W``).
"""
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
LEARNER_DIR = "learner"


def learner_links(app, pagename, templatename, context, doctree):
    groups = [b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"]
    if not groups:
        return
    path_to_docs = app.config.html_theme_options.get("path_to_docs", "").strip("/")
    source = "/".join(part for part in (path_to_docs, f"{pagename}.ipynb") if part)  # as the theme writes it
    name = Path(pagename).name + ".ipynb"
    if not (Path(app.srcdir).parent / LEARNER_DIR / name).exists():
        LOGGER.warning("%s has no learner copy (%s/%s): its launch buttons open the solutions",
                       pagename, LEARNER_DIR, name)
        return
    for button in groups[0]["buttons"]:
        if "url" in button:
            if source not in button["url"]:
                LOGGER.warning("launch link of %s does not name %s: %s", pagename, source, button["url"])
                continue
            button["url"] = button["url"].replace(source, f"{LEARNER_DIR}/{name}")


def setup(app):
    app.connect("html-page-context", learner_links, priority=502)  # the theme adds its buttons at 501
    return {"parallel_read_safe": True, "parallel_write_safe": True}
