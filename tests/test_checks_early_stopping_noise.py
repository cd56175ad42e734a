"""The exercise checkers of notebooks 08 and 09 accept right answers and explain the usual wrong ones."""
from __future__ import annotations

import numpy as np
import torch

from course_utils.checks.early_stopping import check_make_windows, check_shrinkage
from course_utils.checks.noise import check_gaussian_dropout, check_noise_to_ridge


def unsolved(*args):
    raise NotImplementedError()


def verdict_of(checker, answer, capsys):
    verdict = checker(answer)
    return verdict.passed, capsys.readouterr().out


class TestShrinkage:
    def test_right(self, capsys):
        passed, _ = verdict_of(check_shrinkage, lambda s, lr, t, lam: (1 - (1 - lr * s) ** t, s / (s + lam)), capsys)
        assert passed is True

    def test_unsolved_and_crashing(self, capsys):
        assert verdict_of(check_shrinkage, unsolved, capsys)[0] is None
        passed, out = verdict_of(check_shrinkage, lambda *a: 1 / 0, capsys)
        assert passed is False and "ZeroDivisionError" in out

    def test_usual_mistakes(self, capsys):
        cases = [(lambda s, lr, t, lam: ((1 - lr * s) ** t, s / (s + lam)), "not yet"),
                 (lambda s, lr, t, lam: (1 - (1 - lr * s) ** (t + 1), s / (s + lam)), "off by one"),
                 (lambda s, lr, t, lam: (1 - np.exp(-lr * s * t), s / (s + lam)), "continuous-time"),
                 (lambda s, lr, t, lam: (1 - (1 - lr * s) ** t, lam / (s + lam)), "removes"),
                 (lambda s, lr, t, lam: 0.5, "pair")]
        for answer, hint in cases:
            passed, out = verdict_of(check_shrinkage, answer, capsys)
            assert passed is False and hint in out, out


class TestMakeWindows:
    def right(self, series, window):
        series = np.asarray(series)
        return np.array([series[i:i + window] for i in range(len(series) - window)]), series[window:]

    def test_right(self, capsys):
        assert verdict_of(check_make_windows, self.right, capsys)[0] is True

    def test_unsolved(self, capsys):
        assert verdict_of(check_make_windows, unsolved, capsys)[0] is None

    def test_usual_mistakes(self, capsys):
        def shuffled(series, window):
            x, y = self.right(series, window)
            order = np.random.default_rng(0).permutation(len(y))
            return x[order], y[order]

        def leaking(series, window):  # target is the last input
            x, _ = self.right(series, window)
            return x, x[:, -1]

        def one_too_many(series, window):
            series = np.asarray(series)
            return (np.array([series[i:i + window] for i in range(len(series) - window + 1)]),
                    np.append(series[window:], 0.0))

        def target_inside(series, window):
            series = np.asarray(series)
            return np.array([series[i:i + window + 1] for i in range(len(series) - window)]), series[window:]

        for answer, hint in [(shuffled, "time order"), (leaking, "leaks"), (one_too_many, "no value after it"),
                             (target_inside, "not part of it")]:
            passed, out = verdict_of(check_make_windows, answer, capsys)
            assert passed is False and hint in out, out


class TestNoiseToRidge:
    def test_right(self, capsys):
        right = lambda s, n, c: n * s ** 2 if c == "sklearn" else 2 * s ** 2  # noqa: E731
        assert verdict_of(check_noise_to_ridge, right, capsys)[0] is True

    def test_unsolved(self, capsys):
        assert verdict_of(check_noise_to_ridge, unsolved, capsys)[0] is None

    def test_usual_mistakes(self, capsys):
        cases = [(lambda s, n, c: s ** 2, "n times larger"),
                 (lambda s, n, c: n * s ** 2, "cu.fit uses the mean loss"),
                 (lambda s, n, c: n * s if c == "sklearn" else 2 * s ** 2, "variance"),
                 (lambda s, n, c: n * s ** 2 if c == "sklearn" else s ** 2 / 2, "not σ²/2"),
                 (lambda s, n, c: "big", "must return a number")]
        for answer, hint in cases:
            passed, out = verdict_of(check_noise_to_ridge, answer, capsys)
            assert passed is False and hint in out, out


class TestGaussianDropout:
    def test_right(self, capsys):
        def right(h, p, training):
            return h * (1 + (p / (1 - p)) ** 0.5 * torch.randn_like(h)) if training else h
        assert verdict_of(check_gaussian_dropout, right, capsys)[0] is True

    def test_unsolved(self, capsys):
        assert verdict_of(check_gaussian_dropout, unsolved, capsys)[0] is None

    def test_usual_mistakes(self, capsys):
        cases = [
            (lambda h, p, t: h * (1 + p / (1 - p) * torch.randn_like(h)) if t else h, "standard deviation"),
            (lambda h, p, t: h * (1 + p ** 0.5 * torch.randn_like(h)) if t else h, "not p"),
            (lambda h, p, t: h * (p / (1 - p)) ** 0.5 * torch.randn_like(h) if t else h, "not by √α·ε alone"),
            (lambda h, p, t: torch.nn.functional.dropout(h, p, training=t), "Bernoulli"),
            (lambda h, p, t: h * (1 + torch.randn_like(h)), "eval mode"),
            (lambda h, p, t: h, "no noise"),
        ]
        for answer, hint in cases:
            passed, out = verdict_of(check_gaussian_dropout, answer, capsys)
            assert passed is False and hint in out, out
