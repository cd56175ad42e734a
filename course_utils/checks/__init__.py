"""Exercise checkers, one module per notebook: each prints a clear pass, what is wrong, or "not yet solved".

A checker never raises on a wrong or missing answer, so a learner's notebook
runs top to bottom. It prints its feedback and returns a ``Verdict`` whose
``passed`` is True (right), False (wrong) or None (not tried yet).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # torch is imported only by the checkers that need it
    import torch

__all__ = ["Verdict", "attempt", "call", "not_solved", "report", "wrong_tensor"]


class Verdict:
    """The outcome of a check. It shows nothing itself in a notebook: the checker already printed why."""

    def __init__(self, passed: bool | None, message: str):
        self.passed, self.message = passed, message
        print(message)

    def __bool__(self) -> bool:
        return self.passed is True

    def _ipython_display_(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed})"


def report(passed: bool, message: str) -> Verdict:
    return Verdict(passed, ("✅ Correct. " if passed else "❌ Not yet right. ") + message)


def not_solved(name: str) -> Verdict:
    return Verdict(None, f"⏳ {name} is not yet solved: replace `raise NotImplementedError()` with your code "
                         "and run the cell.")


def call(fn: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """Run the learner's function; (result, None), or (None, reason) when it cannot be judged.

    ``reason`` is "not solved" for an untouched exercise, else the error the code raised.
    """
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "not solved"
    except Exception as exc:  # the learner's code raised: show it as feedback, not a crash
        return None, f"{type(exc).__name__}: {exc}"


def attempt(fn: Callable[..., Any], *args: Any, name: str, shown: str | None = None) -> tuple[Any, Verdict | None]:
    """Run the learner's function: (result, None), or (None, verdict) when there is nothing to judge yet.

    The verdict says "not yet solved", or shows the error the code raised
    (introduced by ``shown``, the call as the learner would read it, or ``name``).
    """
    result, problem = call(fn, *args)
    if problem == "not solved":
        return None, not_solved(name)
    if problem:
        return None, report(False, f"{shown or name} raised {problem}")
    return result, None


def wrong_tensor(answer: object, like: torch.Tensor, name: str) -> Verdict | None:
    """A failing verdict unless ``answer`` is a torch tensor shaped like ``like``; None when it is."""
    import torch
    if isinstance(answer, torch.Tensor) and answer.shape == like.shape:
        return None
    return report(False, f"{name} must return a tensor of the input's shape {tuple(like.shape)}; got "
                         f"{type(answer).__name__} with shape {getattr(answer, 'shape', None)}.")
