"""The public API is explicit: each module's ``__all__`` names every function and class it defines, and only
names that exist (a module may also export a constant, or a name it re-exports on purpose); every public function
and method has type hints; and the tests reach the package only through its public names."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import course_utils

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "scripts"))
import make_api_page as api  # noqa: E402

import course_utils.checks  # noqa: E402

MODULES = ([m.name for m in pkgutil.iter_modules(course_utils.__path__) if not m.ispkg] + ["checks"]
           + [f"checks.{m.name}" for m in pkgutil.iter_modules(course_utils.checks.__path__)])


@pytest.mark.parametrize("name", MODULES)
def test_every_module_lists_its_public_names(name):
    module = importlib.import_module(f"course_utils.{name}")
    defined = {attr for attr, obj in vars(module).items()
               if not attr.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
               and obj.__module__ == module.__name__}
    assert defined <= set(module.__all__)
    assert all(hasattr(module, attr) for attr in module.__all__)


def test_the_package_exports_resolve():
    assert all(hasattr(course_utils, name) for name in course_utils.__all__)


def test_every_public_function_and_method_has_type_hints():
    # missing_hints: one line "module.Name[.method]: unannotated parameters (and 'return')" per public function
    lacking = api.missing_hints()[1:]
    assert not lacking, "public names without a type hint on every parameter and the return:\n" + "\n".join(lacking)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(tree: ast.Module) -> list[str]:
    """Each private course_utils name a module reaches: imported, read as an attribute, or named as a string
    (``getattr(module, "_name")``, ``monkeypatch.setattr("course_utils.module._name", ...)``)."""
    bound: set[str] = set()   # local names bound to the package, its modules or their objects
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {alias.asname or alias.name.split(".")[0] for alias in node.names
                      if alias.name.split(".")[0] == "course_utils"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "course_utils":
            bound |= {alias.asname or alias.name for alias in node.names}
            found += [f"{node.module}.{alias.name}" for alias in node.names if _private(alias.name)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and node.args:
            first, second = node.args[0], node.args[1] if len(node.args) > 1 else None
            if isinstance(first, ast.Name) and first.id in bound and isinstance(second, ast.Constant) \
                    and isinstance(second.value, str) and _private(second.value):
                found.append(f"{first.id}.{second.value}")   # getattr(module, "_name"), monkeypatch.setattr(...)
            elif isinstance(first, ast.Constant) and isinstance(first.value, str) \
                    and re.fullmatch(r"course_utils(\.\w+)+", first.value) \
                    and any(_private(part) for part in first.value.split(".")):
                found.append(first.value)   # monkeypatch.setattr("course_utils.module._name", ...), mock.patch
    return found


def test_the_scan_sees_each_way_of_reaching_a_private_name():
    source = '''
import course_utils.batched as batched
from course_utils import claims as claims_module
from course_utils.claims import _judge, claim
batched._Batch(claims_module.LEDGER, claim.__name__)
monkeypatch.setattr(claims_module, "_EXPLORE", True)
monkeypatch.setattr("course_utils.claims._EXPLORE", True)
torch.nn.modules.dropout._DropoutNd
'''
    assert sorted(private_uses(ast.parse(source))) == sorted([
        "course_utils.claims._judge", "batched._Batch", "claims_module._EXPLORE", "course_utils.claims._EXPLORE"])


def test_no_test_reaches_a_private_name():
    reached = {path.relative_to(TESTS).as_posix(): uses for path in sorted(TESTS.rglob("*.py"))
               if (uses := private_uses(ast.parse(path.read_text())))}
    assert not reached, f"tests reach private names; test through the public ones instead: {reached}"
