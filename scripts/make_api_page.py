"""Write the book's API page (book/api.md) from the package itself: every public name, grouped by role.

Usage (from the repository root):

    python scripts/make_api_page.py                  # write book/api.md
    python scripts/make_api_page.py --check          # exit 1 if the page is out of date
    python scripts/make_api_page.py --missing-hints  # list public functions without full type hints

A module's public names are its ``__all__``; ``course_utils.__all__`` is the short
list notebooks reach as ``cu.name``. For each name the page shows its signature with
type hints, the first paragraph of its docstring, the module it lives in, and the
notebook sections where a notebook first uses it (``cu.name`` or
``from course_utils.module import name``). Exercise checkers
(``course_utils.checks.*``) form one table, exercise by exercise. Nothing is kept by
hand except which role each module plays, so the page follows the code.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))   # make_exercise_index, beside this script
import course_utils  # noqa: E402
from generated_page import write_or_check  # noqa: E402
from make_exercise_index import HEADING as EXERCISE_HEADING  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
PAGE = ROOT / "book" / "api.md"
PACKAGE = "course_utils"
CHECKS = f"{PACKAGE}.checks"
WIDTH = 80  # a signature longer than this is laid out one parameter per line, as wide as the column

# (role, title, what the group is for), in page order.
GROUPS = [
    ("environment", "Setting up", "Make a notebook reproducible and check that the machine has what the course needs."),
    ("data", "Data", "Datasets as one `Dataset` record, the replicates' data draws, synthetic data with a known "
                     "truth, label noise, time series and augmentations."),
    ("models", "Models", "The networks the course trains, built from ordinary torch layers, and scikit-learn "
                         "estimators around them."),
    ("training", "Training", "One typed `Config` for a run, the training loop with restore-best early stopping, "
                             "the optimizers and the penalties."),
    ("sweeps", "Sweeps", "Many configurations × replicates in one call, returned as a tidy table; runs that "
                         "share an architecture train together as one stacked model."),
    ("claims", "Claims", "Every measurable sentence of the course is a claim, judged over replicates by a stated "
                         "rule ([how the course tests its claims](protocol.md))."),
    ("analysis", "Measuring trained models", "Bias and variance, calibration, ensembles and sharpness: what a "
                                             "lesson measures about the models it trained."),
    ("plots", "Plots", "One plot style, and the few figures the notebooks draw again and again."),
    ("checks", "Checks", "Input checks that every public function runs on its arguments, and the exercise "
                         "checkers, which print a clear pass or say what is wrong."),
]
# Which role each module plays; a module missing here lands in "Other" until it is given one.
ROLES = {
    PACKAGE: "environment", "environment": "environment",
    "data": "data", "timeseries": "data", "augment": "data",
    "models": "models", "estimators": "models",
    "config": "training", "training": "training", "penalties": "training", "constraints": "training",
    "sweep": "sweeps", "batched": "sweeps", "stacked": "sweeps", "members": "sweeps", "scheduling": "sweeps", "stacked_layers": "sweeps",
    "claims": "claims",
    "analysis": "analysis", "calibration": "analysis", "ensembles": "analysis", "sharpness": "analysis",
    "plots": "plots",
    "validation": "checks", "checks": "checks",
}
OTHER = ("other", "Other", "Modules not yet given a role in scripts/make_api_page.py.")


# ---------------------------------------------------------------- the package's public names

def modules() -> dict[str, object]:
    """Every module of the package, by dotted name: the package, its modules, and the checks package's."""
    found = {PACKAGE: course_utils}
    for package in (course_utils, importlib.import_module(CHECKS)):
        if package is not course_utils:
            found[package.__name__] = package
        for info in pkgutil.iter_modules(package.__path__):
            if not info.ispkg:
                name = f"{package.__name__}.{info.name}"
                found[name] = importlib.import_module(name)
    return found


def public_names(module) -> list[str]:
    """``__all__``; a module without it exposes the functions and classes it defines (as tests/test_api.py)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(name for name, obj in vars(module).items()
                  if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                  and obj.__module__ == module.__name__)


def role(module_name: str) -> str:
    if module_name.startswith(CHECKS):
        return "checks"
    return ROLES.get(module_name.removeprefix(f"{PACKAGE}."), OTHER[0])


@dataclasses.dataclass
class Entry:
    """One public object: where it is defined, and every module whose ``__all__`` also lists it."""

    name: str
    module: str
    obj: object
    aliases: list[str] = dataclasses.field(default_factory=list)   # other modules that export it

    @property
    def in_cu(self) -> bool:
        return self.module == PACKAGE or PACKAGE in self.aliases

    @property
    def in_checker_module(self) -> bool:
        return self.module.startswith(f"{CHECKS}.")

    @property
    def is_checker(self) -> bool:
        return self.in_checker_module and self.name.startswith("check_")


def entries() -> list[Entry]:
    """One entry per public object, at home in the module that defines it, in module then ``__all__`` order."""
    found = modules()
    exported = {module_name: public_names(module) for module_name, module in found.items()}
    by_key: dict[tuple[str, str], Entry] = {}
    for module_name, names in exported.items():
        for name in names:
            obj = getattr(found[module_name], name)
            home = getattr(obj, "__module__", None) if inspect.isfunction(obj) or inspect.isclass(obj) else None
            if home not in exported or name not in exported[home]:
                home = module_name   # constants, and objects their own module does not list
            by_key.setdefault((home, name), Entry(name, home, getattr(found[home], name)))
            if module_name != home:
                by_key[(home, name)].aliases.append(module_name)
    return list(by_key.values())


# ---------------------------------------------------------------- signatures and docstrings

class _Text(str):
    """A string that shows itself unquoted inside an ``inspect.Signature``."""

    def __repr__(self) -> str:
        return str(self)


def _annotation(annotation) -> object:
    if annotation is inspect.Parameter.empty:
        return annotation
    return _Text(annotation if isinstance(annotation, str) else inspect.formatannotation(annotation))


def _default(value) -> object:
    if value is inspect.Parameter.empty:
        return value
    text = repr(value)
    if text.startswith("<"):   # <class 'float'>, <function f at 0x...>: the name reads (and lexes) as Python
        text = getattr(value, "__name__", type(value).__name__)
    return _Text(text)


def signature(obj, name: str | None = None, width: int = WIDTH) -> str:
    """``name(params) -> return`` with the annotations as written in the source; long ones one per line.

    A method is shown as it is called, without ``self``.
    """
    name = name or obj.__name__
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    params = [p.replace(annotation=_annotation(p.annotation), default=_default(p.default))
              for p in sig.parameters.values()]
    if params and params[0].name in ("self", "cls") and not inspect.isclass(obj):
        params = params[1:]
    parts, kinds = [], [p.kind for p in params]
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and (i == 0 or kinds[i - 1] not in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)):
            parts.append("*")
        parts.append(str(p))
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or kinds[i + 1] is not p.POSITIONAL_ONLY):
            parts.append("/")
    returns = "" if inspect.isclass(obj) or sig.return_annotation is sig.empty \
        else f" -> {_annotation(sig.return_annotation)}"
    line = f"{name}({', '.join(parts)}){returns}"
    if len(line) <= width:
        return line
    return f"{name}(\n" + "".join(f"    {part},\n" for part in parts) + f"){returns}"


def docstring(obj) -> str:
    """The docstring's first paragraph on one line, or "" (a dataclass's generated signature is not one)."""
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj) and (doc.startswith(f"{obj.__name__}(") or obj.__doc__ is None):
        doc = ""   # dataclasses write their signature here; classes without one inherit a base's text
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return paragraph.replace("$", r"\$")   # the book renders $...$ as math


def first_sentence(text: str) -> str:
    """Up to the first full stop or semicolon that ends a sentence (not the one of "e.g. ``x``")."""
    match = re.match(r"(.+?[.;])(?=\s+[A-Z(]|$)", text)
    return match[1] if match else text


def methods(cls) -> list[tuple[str, object]]:
    """A class's public methods and properties, its own and those of the package's classes it builds on."""
    seen: dict[str, object] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith(PACKAGE):
            continue
        for name, obj in vars(klass).items():
            if not name.startswith("_") and name not in seen and (inspect.isfunction(obj) or isinstance(obj, property)):
                seen[name] = obj
    return list(seen.items())


def constant(obj) -> bool:
    return not (inspect.isfunction(obj) or inspect.isclass(obj))


# ---------------------------------------------------------------- where the notebooks use each name

def _parse(source: str) -> ast.Module | None:
    """A code cell as Python: IPython magics and shell lines become ``pass``; None if it still does not parse."""
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def section(heading: str | None, notebook: Path, title: str) -> str:
    """Link text such as ``05 §3 Title`` for a level-2 heading ``## 3. Title`` (the chapter title if none)."""
    number = notebook.name[:2]
    if heading is None:
        return f"{number} {title}"
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("[", "").replace("]", "")  # text of links
    match = re.match(r"(\d+)\.\s+(.+)", heading)
    return f"{number} §{match[1]} {match[2]}" if match else f"{number} {heading}"


def first_uses(notebook: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """(module, name) -> (cell number, link text of its section) where the notebook first uses it.

    A name counts as used where ``cu.name`` appears, or where a name imported
    from a ``course_utils`` module is first referred to after its import; a
    name imported and never referred to counts as used at its import.
    """
    title, heading = notebook.stem, None
    package_aliases: set[str] = set()
    imported: dict[str, tuple[str, str]] = {}   # local name -> (module, name)
    at_import: dict[tuple[str, str], tuple[int, str]] = {}
    used: dict[tuple[str, str], tuple[int, str]] = {}
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# ") and title == notebook.stem:
                    title = re.sub(r"^\d+\s*·\s*", "", line[2:].strip()).replace("[", "").replace("]", "")
                elif line.startswith("## "):
                    heading = line[3:].strip()
            continue
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        here = (index, section(heading, notebook, title))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                package_aliases |= {alias.asname or alias.name for alias in node.names if alias.name == PACKAGE}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
                for alias in node.names:
                    imported[alias.asname or alias.name] = (node.module, alias.name)
                    at_import.setdefault((node.module, alias.name), here)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in package_aliases:
                used.setdefault((PACKAGE, node.attr), here)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in imported:
                used.setdefault(imported[node.id], here)
    return {**at_import, **used}


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def backlinks(found: list[Entry]) -> dict[int, list[tuple[str, str]]]:
    """id(entry.obj) -> (link text, notebook path) of the first section using it in each notebook, in course order."""
    owner = {}
    for entry in found:
        for module_name in (entry.module, *entry.aliases):
            owner[(module_name, entry.name)] = entry
    links: dict[int, list[tuple[str, str]]] = {}
    for notebook in notebooks():
        first: dict[int, tuple[int, str]] = {}   # an object reached as cu.fit and as training.fit: the earlier
        for key, use in first_uses(notebook).items():
            if key in owner:
                ident = id(owner[key].obj)
                first[ident] = min(first.get(ident, use), use)
        for ident, (_, text) in first.items():
            links.setdefault(ident, []).append((text, f"notebooks/{notebook.name}"))
    return links


def exercise_checkers(folder: Path = NOTEBOOKS) -> list[tuple[str, str, Path, list[str]]]:
    """(number, title, notebook, names of the checkers its cells call) for every exercise, in course order.

    An exercise's cells run from its heading to the next heading of level 3 or above.
    """
    found = []
    for notebook in notebooks(folder):
        current = None
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    match = EXERCISE_HEADING.match(line)
                    if match:
                        current = (match["number"], match["title"].strip(), notebook, [])
                        found.append(current)
                    elif re.match(r"#{1,3} ", line):
                        current = None
                continue
            tree = _parse(cell.source) if current else None
            for node in ast.walk(tree) if tree else ():
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id.startswith("check_") and node.func.id not in current[3]:
                    current[3].append(node.func.id)
    return found


# ---------------------------------------------------------------- the page

def used_in(links: list[tuple[str, str]]) -> str:
    """The first notebook's section in full; the later notebooks' by number and section."""
    if not links:
        return ""
    (text, path), later = links[0], links[1:]
    line = f" *First used in* [{text}]({path})"
    if later:
        short = [(re.match(r"\d+( §\d+)?", text)[0], path) for text, path in later]
        line += "; *also used in* " + ", ".join(f"[{text}]({path})" for text, path in short)
    return line + "."


def entry_text(entry: Entry, links: list[tuple[str, str]]) -> list[str]:
    obj, lines = entry.obj, []
    heading = f"cu.{entry.name}" if entry.in_cu else entry.name
    lines += [f"### `{heading}`", ""]
    if constant(obj):
        lines += ["```python", f"{entry.name} = {_default(obj)}", "```", ""]
    else:
        lines += ["```python", signature(obj, entry.name), "```", ""]
        doc = docstring(obj)
        if doc:
            lines += [doc, ""]
    aliases = [f"`{alias}.{entry.name}`" for alias in entry.aliases if alias != PACKAGE]
    lines += [f"*In* `{entry.module}.{entry.name}`" + (f" (also {', '.join(aliases)})" if aliases else "") + "."
              + used_in(links), ""]
    if inspect.isclass(obj):
        members = methods(obj)
        for name, member in members:
            if isinstance(member, property):
                shown, doc = f"`{name}` (property)", docstring(member.fget)
            else:
                shown, doc = f"`{signature(member, name, width=sys.maxsize)}`", docstring(member)
            lines.append(f"- {shown}" + (f": {first_sentence(doc)}" if doc else ""))
        if members:
            lines.append("")
    return lines


def checker_table(found: list[Entry]) -> list[str]:
    """Exercise -> checker, in course order; then the checkers no notebook calls, and the reference answers."""
    checkers = {entry.name: entry for entry in found if entry.is_checker}
    short = {id(entry.obj): f"`{entry.module.removeprefix(CHECKS + '.')}.{entry.name}`" for entry in found}
    lines = ["### Exercise checkers", "",
             "Each exercise's check cell calls one checker from `course_utils.checks.<module>`. It prints a pass, "
             "the mistake it found, or \"not yet solved\" while the exercise is untouched "
             "(`help(checker)` says what it compares).", "",
             "| exercise | checker |", "|---|---|"]
    called = set()
    for number, title, notebook, names in exercise_checkers():
        for name in names:
            if name in checkers:
                called.add(name)
                lines.append(f"| [{number} {title}](notebooks/{notebook.name}) | {short[id(checkers[name].obj)]} |")
    uncalled = [short[id(entry.obj)] for name, entry in checkers.items() if name not in called]
    if uncalled:
        lines += ["", "No notebook calls these checkers yet: " + ", ".join(uncalled) + "."]
    references = [short[id(entry.obj)] for entry in found if entry.in_checker_module and not entry.is_checker]
    if references:
        lines += ["", "The checkers compare against these reference answers: " + ", ".join(references) + "."]
    return lines + [""]


def page() -> str:
    found = entries()
    links = backlinks(found)
    order = {module: rank for rank, module in enumerate(ROLES)}
    groups = {key: [] for key, _, _ in [*GROUPS, OTHER]}
    for entry in found:
        groups[role(entry.module)].append(entry)
    lines = ["# API reference", "",
             "Everything a notebook uses from `course_utils`, grouped by what it is for. The names headed "
             "`cu.name` are the short list a notebook reaches after `import course_utils as cu`; the others "
             "are imported from their module, as in `from course_utils.data import draw_rng`. Each entry "
             "shows the signature with its type hints, the first paragraph of the docstring (the full one: "
             "`help(name)`), and the notebook sections that first use it.", "",
             "Generated from the package by `scripts/make_api_page.py`.", ""]
    for key, title, purpose in [*GROUPS, OTHER]:
        # The cu. names first, as a learner meets them; then module by module in the order ROLES lists them.
        members = sorted(groups[key], key=lambda e: (not e.in_cu, order.get(e.module.removeprefix(f"{PACKAGE}."),
                                                                             len(order))))
        if not members:
            continue
        lines += [f"## {title}", "", purpose, ""]
        for entry in members:
            if not entry.in_checker_module:
                lines += entry_text(entry, links.get(id(entry.obj), []))
        if any(entry.in_checker_module for entry in members):
            lines += checker_table(members)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------- type hints

def missing_hints() -> list[str]:
    """Public functions and methods with a parameter or return value that has no annotation."""
    found = entries()
    functions = []
    for entry in found:
        if inspect.isfunction(entry.obj):
            functions.append((f"{entry.module}.{entry.name}", entry.obj))
        elif inspect.isclass(entry.obj):
            init = entry.obj.__dict__.get("__init__")
            if inspect.isfunction(init) and not dataclasses.is_dataclass(entry.obj):
                functions.append((f"{entry.module}.{entry.name}.__init__", init))
            functions += [(f"{entry.module}.{entry.name}.{name}", member.fget if isinstance(member, property)
                           else member) for name, member in methods(entry.obj) if name in vars(entry.obj)]
    lacking = []
    for name, function in functions:
        sig = inspect.signature(function)
        unannotated = [p.name for p in sig.parameters.values()
                       if p.annotation is p.empty and p.name not in ("self", "cls")]
        if sig.return_annotation is sig.empty and not name.endswith("__init__"):
            unannotated.append("return")
        if unannotated:
            lacking.append(f"{name}: {', '.join(unannotated)}")
    return [f"{len(lacking)} of {len(functions)} public functions and methods lack type hints", *lacking]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if book/api.md is out of date")
    parser.add_argument("--missing-hints", action="store_true",
                        help="list public functions and methods whose parameters or return lack annotations")
    args = parser.parse_args()
    if args.missing_hints:
        print("\n".join(missing_hints()))
        return
    write_or_check(PAGE, page(), args.check, ROOT)


if __name__ == "__main__":
    main()
