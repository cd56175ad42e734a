"""The public API is explicit: each module's ``__all__`` names every function and class it defines, and only
names that exist (a module may also export a constant, or a name it re-exports on purpose)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import course_utils

MODULES = [m.name for m in pkgutil.iter_modules(course_utils.__path__) if not m.ispkg]


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
