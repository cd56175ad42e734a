"""Every exercise checker with the answers it must accept and the typical wrong answers it must reject.

One module per notebook (``nb05_dropout.py``, ...) defines ``EXERCISES``, a list
of ``Exercise``. tests/test_exercise_catalogue.py runs the same checks on every
entry: each right answer passes, each wrong answer fails with a message naming
its mistake, an untouched exercise reads "not yet solved", an error in the
learner's code is shown rather than raised, and the notebook's random streams
are left alone.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Wrong:
    """A typical wrong answer, and the words the checker's message must contain for it."""

    answer: Callable
    says: str
    kind: str = "mistake"  # "mistake", "type" (returns the wrong type) or "in-place" (mutates its input)


@dataclass(frozen=True)
class Exercise:
    """One exercise: its checker, the answers that must pass and the catalogue of wrong ones."""

    name: str                      # "05.1 inverted dropout": notebook number, exercise number, title
    checker: Callable
    right: tuple[Callable, ...]    # the reference first, then other valid answers (NumPy/torch, other methods)
    wrong: dict[str, Wrong] = field(default_factory=dict)


def all_exercises() -> list[Exercise]:
    """Every ``EXERCISES`` entry of the modules in this package, in notebook order."""
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        found += importlib.import_module(f"{__name__}.{module}").EXERCISES
    return found
