"""Render a link to a course notebook that has not been published yet as plain text.

The course grows one numbered notebook at a time, and a notebook may point
ahead ("notebook 09 shows ...") before 09 exists. Such a link would be a broken
cross-reference, which the book build treats as an error. This post-transform
runs just before MyST resolves its links and replaces only links to a
numbered notebook (``NN_name.ipynb``) whose number NN has no notebook yet with
their text and a short note. Every other broken link still fails the build,
including a link to NN_wrong_name.ipynb when an NN notebook exists.
"""
import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
NUMBERED_NOTEBOOK = re.compile(r"(?:[\w.-]+/)*\d\d_[\w-]+\.ipynb")


class PendingNotebookLinks(SphinxPostTransform):
    default_priority = 8  # before MyST's reference resolver (9), which would warn

    def run(self, **kwargs):
        for node in list(self.document.findall(addnodes.pending_xref)):
            target = node.get("reftarget", "")
            if node.get("reftype") != "myst" or not NUMBERED_NOTEBOOK.fullmatch(target):
                continue
            source = Path(self.env.doc2path(node.get("refdoc", self.env.docname)))
            linked = source.parent / target
            if linked.exists() or any(linked.parent.glob(linked.name[:3] + "*.ipynb")):
                continue  # it resolves, or it is a wrong name for a notebook that exists: MyST decides
            LOGGER.info("link to %s, which is not published yet, rendered as text", target)
            text = nodes.inline("", "", *[child.deepcopy() for child in node.children],
                                nodes.emphasis(text=" (notebook not yet published)"),
                                classes=["pending-notebook"])
            node.replace_self(text)


def setup(app):
    app.add_post_transform(PendingNotebookLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
