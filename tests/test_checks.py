"""What every exercise checker shares: a verdict that shows nothing more, and no crash on a junk answer.

Each checker's right and wrong answers are tested by tests/test_exercise_catalogue.py.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import course_utils.checks as package
from course_utils.checks import Verdict


def test_verdict_shows_nothing_more_in_a_notebook(capsys):
    verdict = Verdict(True, "fine")
    assert capsys.readouterr().out == "fine\n"
    assert repr(verdict) == "Verdict(passed=True)"
    assert verdict._ipython_display_() is None


def all_checkers():
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += [pytest.param(fn, id=f"{info.name}.{name}") for name, fn in inspect.getmembers(module)
                  if name.startswith("check_") and inspect.isfunction(fn) and fn.__module__ == module.__name__]
    return found


@pytest.mark.parametrize("junk", [None, "text", {}, np.zeros(3), object()],
                         ids=["None", "str", "dict", "array", "object"])
@pytest.mark.parametrize("checker", all_checkers())
def test_every_checker_rejects_a_junk_answer_without_crashing(checker, junk, capsys):
    verdict = checker(lambda *args, **kwargs: junk)
    assert isinstance(verdict, Verdict) and verdict.passed is False
    assert capsys.readouterr().out.startswith("❌ Not yet right.")
