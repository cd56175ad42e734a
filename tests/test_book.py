"""The HTML book: `make book` builds it, and headless Chromium shows its pages as a reader would see them.

The book is built once per run into a temporary folder with the very command
of `make book` (Jupyter Book 1.x, stored outputs, warnings as errors). Static
checks read every chapter's HTML; the browser checks open the landing page
and chapter 01 in Debian's chromium (`--dump-dom` for the rendered DOM,
`--screenshot` for a picture, kept under the test's temporary folder). Without
chromium the browser checks are skipped, except in CI, where .ci/run installs it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_utils.claims import ledger

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTER = ROOT / "notebooks" / "01_overfitting_underfitting.ipynb"
BOOK_TITLE = "Regularization in deep learning"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1600", "--virtual-time-budget=5000"]
# What an error looks like in a page: a traceback, an error output, a docutils
# error message, or stderr that the book's configuration should have removed.
ERROR_SIGNS = re.compile(r"Traceback \(most recent call last\)|output_error|\boutput traceback\b|"
                         r"\bsystem-message\b|\boutput stderr\b")


class Page(HTMLParser):
    """The parts of an HTML page these tests look at: title, h1 headings, image sources, links, classes."""

    def __init__(self, text: str):
        super().__init__()
        self.title, self.h1, self.images, self.links, self.classes = "", [], [], [], set()
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.update((attrs.get("class") or "").split())
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("title", "h1"):
            self._in = tag
            if tag == "h1":
                self.h1.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1[-1] += data


def heading(notebook_path: Path) -> str:
    """The notebook's title, its first-level Markdown heading."""
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        match = re.search(r"^# (.+)$", cell.source, flags=re.MULTILINE) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1).strip()
    raise AssertionError(f"{notebook_path.name} has no '# ' title")


def stored_figures(notebook_path: Path) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in nbformat.read(notebook_path, as_version=4).cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def clean(text: str) -> str:
    return " ".join(text.replace("\u00b6", "").replace("#", "").split())


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The book built with `make book` into a temporary folder; its HTML directory."""
    if not NOTEBOOKS:
        pytest.skip("no notebooks yet")
    output = tmp_path_factory.mktemp("book")
    # -o: the environment is already installed (this is its interpreter); BIN: use it.
    command = ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", "book",
               f"BOOK_OUTPUT={output}", f"BIN={Path(sys.executable).parent}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # without terminal colours
    lines = log.splitlines()
    causes = [f"{line} {lines[i + 1]}" for i, line in enumerate(lines[:-1]) if "treated as error" in line]
    assert result.returncode == 0, "make book failed: " + ("\n".join(causes) or log[-4000:])
    return output / "_build" / "html"


def chromium(*arguments: str, tmp_path: Path) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run should have installed it")
        pytest.skip("chromium is not installed: apt-get install -y chromium chromium-driver")
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=120)


def rendered(page: Path, tmp_path: Path) -> tuple[Page, str, Path]:
    """(parsed DOM, DOM text, screenshot path) of a page as headless Chromium renders it."""
    dom = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0 and "<html" in dom.stdout, f"chromium could not render {page}:\n{dom.stderr[-2000:]}"
    screenshot = tmp_path / f"{page.stem}.png"
    for _ in range(2):  # on a busy machine a first capture can come out blank; one retry
        shot = chromium(f"--screenshot={screenshot}", page.as_uri(), tmp_path=tmp_path)
        assert shot.returncode == 0 and screenshot.exists(), f"no screenshot of {page}:\n{shot.stderr[-2000:]}"
        if screenshot.stat().st_size > 20_000:
            break
    assert screenshot.stat().st_size > 20_000, f"the screenshot of {page} is blank: {screenshot}"
    print(f"screenshot: {screenshot}")
    return Page(dom.stdout), dom.stdout, screenshot


def test_every_notebook_is_a_chapter_in_course_order(html):
    intro = Page((html / "intro.html").read_text(encoding="utf-8"))
    chapters = [link.split("#")[0] for link in intro.links if link.startswith("notebooks/")]
    expected = [f"notebooks/{path.stem}.html" for path in NOTEBOOKS]
    in_order = list(dict.fromkeys(chapters))
    assert in_order[:len(expected)] == expected, f"the book's chapters are {in_order}, expected {expected}"
    assert "claims.html" in intro.links


def test_chapters_show_their_stored_figures_and_no_errors(html):
    for path in NOTEBOOKS:
        page_path = html / "notebooks" / f"{path.stem}.html"
        text = page_path.read_text(encoding="utf-8")
        page = Page(text)
        assert clean(heading(path)) in [clean(h) for h in page.h1], f"{page_path.name} lacks its title"
        figures = [src for src in page.images if src.startswith("data:image/png")
                   or (not src.startswith(("http:", "https:")) and (page_path.parent / src).is_file())]
        assert len(figures) >= stored_figures(path), (
            f"{page_path.name} shows {len(figures)} figures; the notebook stores {stored_figures(path)}")
        sign = ERROR_SIGNS.search(text)
        assert sign is None, f"{page_path.name} shows error output: {sign.group(0)!r}"


def test_claims_page_lists_every_stored_claim(html):
    text = (html / "claims.html").read_text(encoding="utf-8")
    assert "Claims ledger" in Page(text).title
    rows = max(text.count("<tr") - 1, 0)  # less the header row
    claims = ledger(notebooks=NOTEBOOKS)
    assert rows == len(claims), f"the claims page has {rows} rows; the notebooks store {len(claims)} claims"
    assert "protocol.html" in Page(text).links, "the claims page does not link to how claims are tested"


def test_protocol_page_states_the_rules(html):
    page = Page((html / "protocol.html").read_text(encoding="utf-8"))
    assert "How the course tests its claims" in page.title
    text = (html / "protocol.html").read_text(encoding="utf-8")
    for rule in ("interval", "every", "exact", "COURSE_DATA_DRAW"):
        assert rule in text, f"the protocol page does not explain {rule!r}"


def test_landing_page_renders_in_chromium(html, tmp_path):
    index = (html / "index.html").read_text(encoding="utf-8")
    assert "intro.html" in index, "index.html does not lead to the introduction"
    page, dom, _ = rendered(html / "intro.html", tmp_path)
    assert BOOK_TITLE in page.title and any(BOOK_TITLE in h for h in page.h1)
    for path in NOTEBOOKS:  # the navigation lists every chapter by its title
        assert clean(heading(path)) in clean(dom.replace("&nbsp;", " ")), f"the landing page lacks {path.stem}"
    assert ERROR_SIGNS.search(dom) is None


def test_chapter_01_renders_with_its_figures_in_chromium(html, tmp_path):
    if not CHAPTER.exists():
        pytest.skip("notebook 01 does not exist")
    page_path = html / "notebooks" / f"{CHAPTER.stem}.html"
    page, dom, _ = rendered(page_path, tmp_path)
    assert clean(heading(CHAPTER)) in [clean(h) for h in page.h1]
    figures = [src for src in page.images if src.startswith("data:image/png")
               or (page_path.parent / src).is_file()]
    assert len(figures) >= stored_figures(CHAPTER) > 0, f"chapter 01 shows {len(figures)} figures"
    assert "mjx-container" in dom, "the formulas were not typeset: MathJax did not run offline"
    sign = ERROR_SIGNS.search(dom)
    assert sign is None, f"chapter 01 shows error output: {sign.group(0)!r}"
