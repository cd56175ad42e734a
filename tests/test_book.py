"""The HTML book: `make book` builds it, and headless Chromium shows its pages as a reader would see them.

The book is built once per run into a temporary folder with the very command
of `make book` (Jupyter Book 1.x, stored outputs, warnings as errors). Static
checks read every chapter's HTML; the browser checks open pages in Debian's
chromium (`--dump-dom` for the rendered DOM, `--screenshot` for a picture, kept
under the test's temporary folder). One chromium run measures every page at
once: a probe page frames each page of the book and a script (PROBE_SCRIPT)
records, after MathJax has typeset, what overflows the text column, the alt
text of every image, the launch and repository links, the state of every
toggle and any test-marker text, into the DOM that `--dump-dom` prints.
Without chromium the browser checks are skipped, except in CI, where .ci/run
installs it.
"""
from __future__ import annotations

import html as html_text
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

from course_utils.claims import ledger

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTER = ROOT / "notebooks" / "01_overfitting_underfitting.ipynb"
BOOK_TITLE = "Regularization in deep learning"
CHROMIUM = shutil.which("chromium")
WIDTH = 1280  # the default width: a laptop's browser window
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--window-size={WIDTH},1600"]
# What an error looks like in a page: a traceback, an error output, a docutils
# error message, or stderr that the book's configuration should have removed.
ERROR_SIGNS = re.compile(r"Traceback \(most recent call last\)|output_error|\boutput traceback\b|"
                         r"\bsystem-message\b|\boutput stderr\b")
# Text meant for nbgrader and nbval, never for a reader.
MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|NBVAL_")
# Prose may name a marker as an inline literal (notebook 00 explains `# NBVAL_IGNORE_OUTPUT`).
PROSE_LITERAL = re.compile(r'<code class="docutils literal[^"]*">.*?</code>', re.DOTALL)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


links = _script("make_links")
learner = _script("make_learner_notebooks")


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


def chromium(*arguments: str, tmp_path: Path, budget_ms: int = 5000) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run should have installed it")
        pytest.skip("chromium is not installed: apt-get install -y chromium chromium-driver")
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}",
                           f"--user-data-dir={profile}", *arguments], capture_output=True, text=True, timeout=180)


def screenshot(page: Path, tmp_path: Path, anchor: str = "") -> Path:
    """A picture of the top of a page (or of the section at ``#anchor``) as a reader first sees it."""
    picture = tmp_path / f"{page.stem}{'-' + anchor if anchor else ''}.png"
    target = page
    if anchor:  # headless chromium captures a page scrolled to an anchor blank; a frame scrolled there works
        target = tmp_path / f"frame-{page.stem}.html"
        target.write_text(f'<!DOCTYPE html><html><body style="margin:0;overflow:hidden"><iframe src="{page.as_uri()}#{anchor}" '
                          f'style="display:block;border:0;width:{WIDTH}px;height:1600px"></iframe></body></html>',
                          encoding="utf-8")
    for _ in range(2):  # on a busy machine a first capture can come out blank; one retry
        shot = chromium(f"--screenshot={picture}", target.as_uri(), tmp_path=tmp_path)
        assert shot.returncode == 0 and picture.exists(), f"no screenshot of {page}:\n{shot.stderr[-2000:]}"
        if picture.stat().st_size > 20_000:
            break
    assert picture.stat().st_size > 20_000, f"the screenshot of {page} is blank: {picture}"
    print(f"screenshot: {picture}")
    return picture


def rendered(page: Path, tmp_path: Path) -> tuple[Page, str, Path]:
    """(parsed DOM, DOM text, screenshot path) of a page as headless Chromium renders it."""
    dom = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0 and "<html" in dom.stdout, f"chromium could not render {page}:\n{dom.stderr[-2000:]}"
    return Page(dom.stdout), dom.stdout, screenshot(page, tmp_path)


def page_text(text: str) -> str:
    """The text of an HTML page without its markup, less inline literals in prose."""
    return html_text.unescape(re.sub(r"<[^>]+>", "", PROSE_LITERAL.sub("", text)))


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
    page_path = html / "notebooks" / f"{CHAPTER.stem}.html"
    page, dom, _ = rendered(page_path, tmp_path)
    assert clean(heading(CHAPTER)) in [clean(h) for h in page.h1]
    figures = [src for src in page.images if src.startswith("data:image/png")
               or (page_path.parent / src).is_file()]
    assert len(figures) >= stored_figures(CHAPTER) > 0, f"chapter 01 shows {len(figures)} figures"
    assert "mjx-container" in dom, "the formulas were not typeset: MathJax did not run offline"
    sign = ERROR_SIGNS.search(dom)
    assert sign is None, f"chapter 01 shows error output: {sign.group(0)!r}"


def solution_cells(notebook_path: Path) -> list:
    return [cell for cell in nbformat.read(notebook_path, as_version=4).cells
            if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source]


def book_pages(html: Path) -> list[str]:
    """The book's pages of text (not its index or search page, nor theme templates), as paths in the book."""
    return sorted(str(path.relative_to(html)) for path in html.rglob("*.html")
                  if path.name not in ("genindex.html", "search.html")
                  and 'class="bd-article"' in path.read_text(encoding="utf-8"))


def test_no_page_shows_solution_or_test_markers(html):
    for page_path in [html / page for page in book_pages(html)]:
        found = MARKERS.search(page_text(page_path.read_text(encoding="utf-8")))
        assert found is None, f"{page_path.relative_to(html)} shows {found.group(0)!r}"


def test_exercises_show_the_learner_version_and_hide_the_solution(html):
    for path in NOTEBOOKS:
        solutions = solution_cells(path)
        text = (html / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        shown = " ".join(page_text(text).split())
        stubs = [cell for cell in learner.learner_version(nbformat.read(path, as_version=4)).cells
                 if cell.cell_type == "code" and "raise NotImplementedError()" in cell.source]
        assert len(stubs) == len(solutions), f"{path.name}: {len(stubs)} learner stubs for {len(solutions)} solutions"
        for stub in stubs:
            assert " ".join(stub.source.split()) in shown, f"{path.name} does not show the learner's version:\n{stub.source}"
        toggles = re.findall(r'<details class="admonition hide above-input">\s*<summary[^>]*>\s*'
                             r'<p class="collapsed admonition-title">Show solution</p>', text)
        assert len(toggles) == len(solutions), (
            f"{path.name}: {len(toggles)} collapsed solution toggles for {len(solutions)} solution cells")


def test_every_figure_has_alt_text(html):
    for path in NOTEBOOKS:
        text = (html / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        figures = re.findall(r'<div class="cell_output.*?(?=<div class="cell[ "])', text, flags=re.DOTALL)
        images = [tag for block in figures for tag in re.findall(r"<img [^>]*>", block)]
        assert len(images) >= stored_figures(path), f"{path.name}: {len(images)} images in outputs"
        for tag in images:
            alt = re.search(r'alt="([^"]*)"', tag)
            assert alt and len(alt.group(1)) > 10 and not alt.group(1).endswith((".png", ".jpg", ".svg")), (
                f"{path.name}: a figure without alt text: {tag[:200]}")


# Records, after MathJax has typeset every framed page, what a reader meets on it. A reader may open every
# toggle: hints are recorded closed first, then every toggle is opened before widths are measured.
PROBE_SCRIPT = r"""
const MARKERS = /BEGIN SOLUTION|END SOLUTION|NBVAL_/;
function describe(el) {
  const cls = typeof el.className === "string" ? el.className.trim().split(/\s+/).slice(0, 3).join(".") : "";
  return el.tagName.toLowerCase() + (cls ? "." + cls : "");
}
function measure(doc) {
  const article = doc.querySelector("article.bd-article");
  const details = [...article.querySelectorAll("details")];
  const toggles = details.map(d => ({summary: d.querySelector("summary").innerText.trim(), open: d.open,
    solution: d.classList.contains("hide"),
    hidden: [...d.children].filter(c => c.tagName !== "SUMMARY").every(c => !c.checkVisibility())}));
  details.forEach(d => { d.open = true; });
  const column = article.getBoundingClientRect();
  const offenders = [];
  for (const el of article.querySelectorAll("*")) {
    if (offenders.some(o => o.el.contains(el))) continue;  // the outermost offender is enough
    if (el.closest("mjx-assistive-mml")) continue;  // MathJax's copy for screen readers, clipped from view
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const overflow = doc.defaultView.getComputedStyle(el).overflowX;
    const scrolls = ["auto", "scroll"].includes(overflow) && el.scrollWidth > el.clientWidth + 1;
    const outside = box.right > column.right + 1 || box.left < column.left - 1;
    if (scrolls || outside) offenders.push({el, text: `${describe(el)} ${Math.round(box.width)}px wide, content ` +
      `${el.scrollWidth}px, in a ${Math.round(column.width)}px column: ${el.textContent.trim().slice(0, 80)}`});
  }
  const root = doc.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) offenders.push({text: `the page is ${root.scrollWidth}px wide`});
  const prose = article.cloneNode(true);
  prose.querySelectorAll("code.literal").forEach(c => { if (!c.closest("div.cell")) c.remove(); });
  const marker = prose.textContent.match(MARKERS);
  return {
    offenders: offenders.map(o => o.text), marker: marker && marker[0], toggles,
    figures: [...article.querySelectorAll("div.cell_output img")].map(img => ({alt: img.alt, shown: img.naturalWidth > 0})),
    launch: [...doc.querySelectorAll(".dropdown-launch-buttons a")].map(a => a.getAttribute("href")),
    repository: [...doc.querySelectorAll("a.btn-source-repository-button")].map(a => a.getAttribute("href")),
    math: article.querySelectorAll("span.math, div.math").length, typeset: article.querySelectorAll("mjx-container").length,
  };
}
window.addEventListener("load", async () => {
  const frames = [...document.querySelectorAll("iframe")];
  await Promise.all(frames.map(f => (f.contentWindow.MathJax?.startup?.promise) || Promise.resolve()));
  const results = {};
  for (const frame of frames) {
    try { results[frame.getAttribute("src")] = measure(frame.contentDocument); }
    catch (error) { results[frame.getAttribute("src")] = {error: String(error)}; }
  }
  const out = document.createElement("pre");
  out.id = "probe-results";
  out.textContent = JSON.stringify(results);
  document.body.appendChild(out);
});
"""


@pytest.fixture(scope="module")
def probed(html, tmp_path_factory) -> dict:
    """{page path: what PROBE_SCRIPT found on it} for every page of the book, from one chromium run."""
    pages = {(html / page).as_uri(): page for page in book_pages(html)}
    frames = "".join(f'<iframe src="{uri}" style="width:{WIDTH}px;height:1600px;border:0"></iframe>' for uri in pages)
    probe = tmp_path_factory.mktemp("probe") / "probe.html"
    probe.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{frames}'
                     f"<script>{PROBE_SCRIPT}</script></body></html>", encoding="utf-8")
    # A file:// page may read the DOM of another only with this flag; the probe reads only the book's own pages.
    dom = chromium("--allow-file-access-from-files", "--dump-dom", probe.as_uri(), tmp_path=probe.parent,
                   budget_ms=30_000)
    found = re.search(r'<pre id="probe-results">(.*?)</pre>', dom.stdout, flags=re.DOTALL)
    assert found, f"the probe page recorded nothing:\n{dom.stderr[-2000:]}"
    results = {pages[uri]: result for uri, result in json.loads(html_text.unescape(found.group(1))).items()}
    assert sorted(results) == sorted(pages.values())
    errors = {page: result["error"] for page, result in results.items() if "error" in result}
    assert not errors, f"the probe could not read some pages: {errors}"
    return results


def test_no_element_is_wider_than_the_text_column_in_chromium(probed):
    offenders = {page: result["offenders"] for page, result in probed.items() if result["offenders"]}
    assert not offenders, "wider than the text column at the default width:\n" + json.dumps(offenders, indent=1)


def test_rendered_pages_show_no_markers_and_typeset_every_formula(probed):
    for page, result in probed.items():
        assert result["marker"] is None, f"{page} shows {result['marker']!r}"
        assert result["typeset"] >= result["math"], f"{page}: {result['math']} formulas, {result['typeset']} typeset"


def test_toggles_start_collapsed_in_chromium(probed):
    for page, result in probed.items():
        for toggle in result["toggles"]:
            assert not toggle["open"] and toggle["hidden"], f"{page}: {toggle['summary']!r} is open on arrival"
    for path in NOTEBOOKS:
        solutions = [t for t in probed[f"notebooks/{path.stem}.html"]["toggles"] if t["solution"]]
        assert [t["summary"] for t in solutions] == ["Show solution"] * len(solution_cells(path))


def test_every_figure_has_alt_text_in_chromium(probed):
    for path in NOTEBOOKS:
        figures = probed[f"notebooks/{path.stem}.html"]["figures"]
        assert len(figures) >= stored_figures(path)
        for figure in figures:
            assert figure["shown"] and len(figure["alt"]) > 10, f"{path.stem}: a figure without alt text: {figure}"


def test_every_chapter_launches_its_learner_copy_from_the_repository_url(probed):
    repository, hub = links.repository_url(), links.jupyterhub_url()
    owner_name = repository.removeprefix("https://github.com/")
    for page, result in probed.items():
        assert result["repository"] == [repository], f"{page}: repository link {result['repository']}"
    for path in NOTEBOOKS:
        notebook = f"{path.stem}.ipynb"
        expected = [
            f"{links.BINDERHUB}/v2/gh/{owner_name}/{links.BRANCH}?urlpath=lab/tree/learner/{notebook}",
            f"{hub}/hub/user-redirect/git-pull?repo={quote(repository, safe='/')}"
            f"&urlpath=lab/tree/{owner_name.split('/')[1]}/learner/{notebook}&branch={links.BRANCH}",
            links.colab_url(repository, notebook),
        ]
        assert probed[f"notebooks/{path.stem}.html"]["launch"] == expected


def test_a_chapter_with_an_exercise_looks_right_in_chromium(html, tmp_path):
    """A picture of an exercise as a reader meets it: the learner's stub, then the collapsed solution."""
    exercises = [path for path in NOTEBOOKS if solution_cells(path)]
    assert exercises, "no notebook has an exercise"
    text = (html / "notebooks" / f"{exercises[0].stem}.html").read_text(encoding="utf-8")
    anchor = re.search(r'<section id="(exercise[^"]*)">', text)
    assert anchor, f"{exercises[0].name} has no 'Exercise' heading"
    screenshot(html / "notebooks" / f"{exercises[0].stem}.html", tmp_path, anchor.group(1))


def _extension(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_book_view_of_a_notebook():
    """book/_ext/notebook_view.py: learner stub, then the solution behind a toggle; markers gone; alt text."""
    view = _extension("notebook_view")
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    cells = [nbformat.v4.new_markdown_cell("# 01 · Title"),
             nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
             nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nplot()", outputs=[figure]),
             nbformat.v4.new_code_cell("plot()", outputs=[figure],
                                       metadata={"mystnb": {"image": {"alt": "The author's own words."}}}),
             nbformat.v4.new_markdown_cell("## A heading\n\nBlue: the **fits**; orange, $f(x)$. Then more.")]
    shown = nbformat.reads(view.reader_view(nbformat.writes(nbformat.v4.new_notebook(cells=cells))), as_version=4)
    stub, solution, plot, own, _ = shown.cells[1:]
    assert "raise NotImplementedError()" in stub.source and "return 2 * x" not in stub.source and not stub.outputs
    assert solution.source == "def f(x):\n    return 2 * x"
    assert "hide-input" in solution.metadata.tags and solution.metadata.mystnb["code_prompt_show"] == "Show solution"
    assert plot.source == "plot()"
    assert plot.metadata.mystnb["image"]["alt"] == "Blue: the fits; orange, f(x)."
    assert own.metadata.mystnb["image"]["alt"] == "The author's own words."
    assert len({cell.id for cell in shown.cells}) == len(shown.cells)


def test_the_pages_workflow_publishes_what_make_book_builds():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert "make book" in runs, "the workflow builds the book with `make book`"
    default_output = re.search(r"^BOOK_OUTPUT \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    uploads = [step["with"]["path"] for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert uploads == [f"{default_output}/_build/html"]
    assert any("tests/test_book.py" in run for run in runs), "the workflow runs the book's tests before publishing"
    assert [s["uses"].split("@")[0] for s in workflow["jobs"]["deploy"]["steps"]] == ["actions/deploy-pages"]
