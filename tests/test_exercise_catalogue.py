"""One harness for every exercise checker, driven by tests/exercise_catalogue."""
from __future__ import annotations

import inspect
import pkgutil

import numpy as np
import pytest
import torch

import course_utils.checks
from exercise_catalogue import all_exercises

EXERCISES = all_exercises()
MINIMUM_WRONG_ANSWERS = 4


def _ids(cases):
    return [case[-1] for case in cases]


RIGHT = [(ex, answer, f"{ex.name}: {answer.__name__}") for ex in EXERCISES for answer in ex.right]
WRONG = [(ex, wrong, f"{ex.name}: {name}") for ex in EXERCISES for name, wrong in ex.wrong.items()]


def _run(checker, answer, capsys):
    verdict = checker(answer)
    return verdict, capsys.readouterr().out


@pytest.mark.parametrize("exercise, answer, label", RIGHT, ids=_ids(RIGHT))
def test_right_answers_pass(exercise, answer, label, capsys):
    verdict, out = _run(exercise.checker, answer, capsys)
    assert verdict.passed is True, out
    assert out.startswith("✅")


@pytest.mark.parametrize("exercise, wrong, label", WRONG, ids=_ids(WRONG))
def test_wrong_answers_are_rejected_with_their_mistake_named(exercise, wrong, label, capsys):
    verdict, out = _run(exercise.checker, wrong.answer, capsys)
    assert verdict.passed is False, out
    assert wrong.says in out, out


@pytest.mark.parametrize("exercise", EXERCISES, ids=[ex.name for ex in EXERCISES])
def test_each_catalogue_has_the_usual_mistakes_and_a_wrong_type(exercise):
    assert len(exercise.wrong) >= MINIMUM_WRONG_ANSWERS
    assert any(wrong.kind == "type" for wrong in exercise.wrong.values())


@pytest.mark.parametrize("exercise", EXERCISES, ids=[ex.name for ex in EXERCISES])
def test_untouched_and_crashing_answers_are_reported_not_raised(exercise, capsys):
    def untouched(*args, **kwargs):
        raise NotImplementedError()

    def crashes(*args, **kwargs):
        raise RuntimeError("boom")

    verdict, out = _run(exercise.checker, untouched, capsys)
    assert verdict.passed is None and "not yet solved" in out, out
    verdict, out = _run(exercise.checker, crashes, capsys)
    assert verdict.passed is False and "RuntimeError: boom" in out, out


@pytest.mark.parametrize("exercise", EXERCISES, ids=[ex.name for ex in EXERCISES])
def test_checkers_leave_the_notebook_random_streams_alone(exercise, capsys):
    torch.manual_seed(5)
    np.random.seed(5)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(5)
    np.random.seed(5)
    exercise.checker(exercise.right[0])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])


@pytest.mark.parametrize("exercise", EXERCISES, ids=[ex.name for ex in EXERCISES])
def test_no_message_shows_the_solution(exercise, capsys):
    """No line of the reference answer's body appears in what the checker prints for any answer."""
    body = inspect.getsource(exercise.right[0]).splitlines()[1:]
    lines = {line.strip() for line in body if len(line.strip()) >= 20 and not line.strip().startswith("#")}
    for answer in [*exercise.right, *(wrong.answer for wrong in exercise.wrong.values())]:
        _, out = _run(exercise.checker, answer, capsys)
        assert not [line for line in lines if line in out]


def test_every_checker_has_a_catalogue():
    checkers = set()
    for module in pkgutil.iter_modules(course_utils.checks.__path__):
        mod = __import__(f"course_utils.checks.{module.name}", fromlist=["_"])
        checkers |= {obj for name, obj in vars(mod).items()
                     if name.startswith("check_") and inspect.isfunction(obj) and obj.__module__ == mod.__name__}
    catalogued = {ex.checker for ex in EXERCISES}
    assert not {f.__qualname__ for f in checkers - catalogued}
