"""Exercise checkers: a right answer passes, each common wrong answer gets a reason, nothing crashes."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import adam_step
from course_utils.checks import Verdict
from course_utils.checks.overfitting import check_diagnose, check_select_degree
from course_utils.checks.penalties import check_adam_step, check_soft_threshold


def judge(checker, answer, capsys):
    """Run a checker; return its verdict and what it printed."""
    verdict = checker(answer)
    assert isinstance(verdict, Verdict)
    printed = capsys.readouterr().out
    assert verdict.message in printed  # the learner sees the reason
    return verdict, printed


def not_started(*args):
    raise NotImplementedError()


def crashes(*args):
    return {}["missing"]


def assert_right(verdict, printed):
    assert verdict.passed is True and bool(verdict)
    assert printed.startswith("✅ Correct.")


def assert_wrong(verdict, printed, reason):
    assert verdict.passed is False and not bool(verdict)
    assert printed.startswith("❌ Not yet right.")
    assert reason in printed, printed


def assert_not_started(verdict, printed, name):
    assert verdict.passed is None and not bool(verdict)
    assert printed.startswith("⏳") and f"{name} is not yet solved" in printed


def test_verdict_shows_nothing_more_in_a_notebook(capsys):
    verdict = Verdict(True, "fine")
    assert capsys.readouterr().out == "fine\n"
    assert repr(verdict) == "Verdict(passed=True)"
    assert verdict._ipython_display_() is None


# ---------------------------------------------------------------- 01.1 diagnose

def diagnose(train_error, val_error, target_error, max_gap):
    if train_error > target_error:
        return "underfitting"
    if val_error - train_error > max_gap:
        return "overfitting"
    return "good fit"


def diagnose_gap_first(train_error, val_error, target_error, max_gap):
    if val_error - train_error > max_gap:
        return "overfitting"
    return "underfitting" if train_error > target_error else "good fit"


def diagnose_by_validation_error(train_error, val_error, target_error, max_gap):
    if train_error > target_error:
        return "underfitting"
    return "overfitting" if val_error > target_error else "good fit"


class TestDiagnose:
    def test_right(self, capsys):
        assert_right(*judge(check_diagnose, diagnose, capsys))

    @pytest.mark.parametrize("answer, reason", [
        (diagnose_gap_first, "underfitting comes first"),
        (diagnose_by_validation_error, "only the gap (0.03) decides overfitting"),
        (lambda *args: "good fit", "the model cannot even fit its training data"),
        (lambda t, v, g, m: "overfitting" if t <= g else "underfitting", "the gap (0.02) is within max_gap"),
        (lambda *args: "Underfitting", "returned 'Underfitting'; expected 'underfitting'"),
    ], ids=["gap-first", "val-vs-target", "always-good", "never-good", "capitalised"])
    def test_wrong(self, answer, reason, capsys):
        assert_wrong(*judge(check_diagnose, answer, capsys), reason)

    def test_not_started(self, capsys):
        assert_not_started(*judge(check_diagnose, not_started, capsys), "diagnose")

    def test_crash_is_feedback(self, capsys):
        verdict, printed = judge(check_diagnose, crashes, capsys)
        assert_wrong(verdict, printed, "raised KeyError: 'missing'")


# ---------------------------------------------------------------- 01.2 select_degree

def validation_errors(x_train, y_train, x_val, y_val, degrees, x_eval=None, y_eval=None):
    x_eval, y_eval = (x_val, y_val) if x_eval is None else (x_eval, y_eval)
    return [np.mean((np.polynomial.Polynomial.fit(x_train, y_train, d)(x_eval) - y_eval) ** 2) for d in degrees]


def select_degree(x_train, y_train, x_val, y_val, degrees):
    return degrees[int(np.argmin(validation_errors(x_train, y_train, x_val, y_val, degrees)))]


def select_by_training_error(x_train, y_train, x_val, y_val, degrees):
    errors = validation_errors(x_train, y_train, x_val, y_val, degrees, x_train, y_train)
    return degrees[int(np.argmin(errors))]


class TestSelectDegree:
    def test_right(self, capsys):
        assert_right(*judge(check_select_degree, select_degree, capsys))

    def test_selecting_by_training_error(self, capsys):
        verdict, printed = judge(check_select_degree, select_by_training_error, capsys)
        assert_wrong(verdict, printed, "lowest *training* error")
        assert "select on the validation set" in printed

    def test_a_poor_degree(self, capsys):
        verdict, printed = judge(check_select_degree, lambda *args: 1, capsys)
        assert_wrong(verdict, printed, "degree 1 has validation error 0.312, but degree")

    def test_the_position_instead_of_the_degree(self, capsys):
        def position(x_train, y_train, x_val, y_val, degrees):
            return int(np.argmin(validation_errors(x_train, y_train, x_val, y_val, degrees)))
        verdict, printed = judge(check_select_degree, position, capsys)
        assert_wrong(verdict, printed, "the position of the best degree in the list")

    def test_fitting_on_training_and_validation_data(self, capsys):
        def pooled(x_train, y_train, x_val, y_val, degrees):
            x_both, y_both = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
            return degrees[int(np.argmin(validation_errors(x_both, y_both, x_val, y_val, degrees)))]
        verdict, printed = judge(check_select_degree, pooled, capsys)
        assert_wrong(verdict, printed, "fitted on training + validation data")
        assert "lowest *training* error" not in printed

    @pytest.mark.parametrize("answer", [14, -1, None, "3", 3.5, np.array([3, 5]), True])
    def test_not_a_degree(self, answer, capsys):
        verdict, printed = judge(check_select_degree, lambda *args: answer, capsys)
        assert_wrong(verdict, printed, f"returned {answer!r}; it must return one of the degrees")

    def test_not_started(self, capsys):
        assert_not_started(*judge(check_select_degree, not_started, capsys), "select_degree")

    def test_crash_is_feedback(self, capsys):
        verdict, printed = judge(check_select_degree, lambda *args: np.linalg.inv(np.zeros((2, 2))), capsys)
        assert_wrong(verdict, printed, "select_degree raised LinAlgError")


# ---------------------------------------------------------------- 03.1 soft_threshold

def soft_threshold(z, threshold):
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


class TestSoftThreshold:
    def test_right(self, capsys):
        assert_right(*judge(check_soft_threshold, soft_threshold, capsys))

    def test_a_list_is_accepted(self, capsys):
        assert_right(*judge(check_soft_threshold, lambda z, t: soft_threshold(z, t).tolist(), capsys))

    @pytest.mark.parametrize("answer, reason", [
        (lambda z, t: np.where(np.abs(z) > t, z, 0.0), "this is the *hard* threshold"),
        (lambda z, t: np.maximum(z - t, 0.0), "negative values all became 0"),
        (lambda z, t: np.sign(z) * (np.abs(z) - t), "must become exactly 0, not cross over"),
        (lambda z, t: z - t, "must become exactly 0, not cross over"),
        (lambda z, t: z / (1 + t), "that is the L2 (ridge) shrinkage"),
        (lambda z, t: soft_threshold(z, max(t, 0.6)), "with threshold 0 the soft threshold must return z unchanged"),
        (lambda z, t: soft_threshold(z, t)[:3], "returned shape (3,) for z of shape (8,)"),
        (lambda z, t: "shrunk", "soft_threshold returned str; return a NumPy array like z"),
        (lambda z, t: soft_threshold(z, 2 * t), "for z = -3.0 and threshold 0.6 you return -1.8; expected -2.4"),
    ], ids=["hard", "relu", "no-clip", "shift", "ridge", "zero-threshold", "shape", "type", "other"])
    def test_wrong(self, answer, reason, capsys):
        assert_wrong(*judge(check_soft_threshold, answer, capsys), reason)

    def test_not_started(self, capsys):
        assert_not_started(*judge(check_soft_threshold, not_started, capsys), "soft_threshold")

    def test_crash_is_feedback(self, capsys):
        assert_wrong(*judge(check_soft_threshold, crashes, capsys), "raised KeyError")


# ---------------------------------------------------------------- 03.2 adam_step

def adam_step_forgetting_moments(w, grad, m, v, t, *args):
    # right on the first step, then restarts the moments every step
    return adam_step(w, grad, np.zeros_like(m), np.zeros_like(v), t, *args)


class TestAdamStep:
    def test_right(self, capsys):
        assert_right(*judge(check_adam_step, adam_step, capsys))

    @pytest.mark.parametrize("answer, reason", [
        (lambda *a: adam_step(*a, coupling_swapped=True), "your step is the *other* kind of decay"),
        (lambda *a: adam_step(*a, ignore_decay=True), "Adam (coupled L2): your step ignores weight_decay"),
        (lambda *a: adam_step(*a, bias_correction=False), "Did you forget the bias correction"),
        (adam_step_forgetting_moments, "Adam (coupled L2): at step 2 your w differs from PyTorch's"),
        (lambda *a: adam_step(*a)[0], "adam_step must return a tuple (w, m, v); got ndarray"),
        (lambda *a: adam_step(*a)[:2], "adam_step must return a tuple (w, m, v); got tuple"),
    ], ids=["swapped", "no-decay", "no-bias-correction", "moments-reset", "only-w", "two-values"])
    def test_wrong(self, answer, reason, capsys):
        assert_wrong(*judge(check_adam_step, answer, capsys), reason)

    def test_swapped_coupling_names_the_fix(self, capsys):
        _, printed = judge(check_adam_step, lambda *a: adam_step(*a, coupling_swapped=True), capsys)
        assert "with decoupled=False" in printed and "add weight_decay·w to the gradient" in printed

    def test_not_started(self, capsys):
        assert_not_started(*judge(check_adam_step, not_started, capsys), "adam_step")

    def test_crash_is_feedback(self, capsys):
        assert_wrong(*judge(check_adam_step, crashes, capsys), "raised or returned: KeyError")


# ---------------------------------------------------------------- every checker of the package

def all_checkers():
    import importlib
    import inspect
    import pkgutil

    import course_utils.checks as package
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += [pytest.param(fn, id=f"{info.name}.{name}") for name, fn in inspect.getmembers(module)
                  if name.startswith("check_") and inspect.isfunction(fn) and fn.__module__ == module.__name__]
    return found


def test_every_checker_is_found():
    names = {p.id for p in all_checkers()}
    assert {"overfitting.check_diagnose", "overfitting.check_select_degree", "penalties.check_soft_threshold",
            "penalties.check_adam_step"} <= names


@pytest.mark.parametrize("checker", all_checkers())
def test_every_checker_says_not_yet_solved(checker, capsys):
    verdict = checker(not_started)
    assert isinstance(verdict, Verdict) and verdict.passed is None
    assert "is not yet solved" in capsys.readouterr().out


@pytest.mark.parametrize("checker", all_checkers())
def test_every_checker_survives_a_crashing_answer(checker, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in the learner's code")

    verdict = checker(broken)
    assert isinstance(verdict, Verdict) and verdict.passed is False
    printed = capsys.readouterr().out
    assert printed.startswith("❌ Not yet right.") and "RuntimeError: boom in the learner's code" in printed


@pytest.mark.parametrize("junk", [None, "text", {}, np.zeros(3), object()],
                         ids=["None", "str", "dict", "array", "object"])
@pytest.mark.parametrize("checker", all_checkers())
def test_every_checker_rejects_a_junk_answer_without_crashing(checker, junk, capsys):
    verdict = checker(lambda *args, **kwargs: junk)
    assert isinstance(verdict, Verdict) and verdict.passed is False
    assert capsys.readouterr().out.startswith("❌ Not yet right.")
