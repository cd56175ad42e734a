"""claim: the three rules, their statistics against scipy, their error rates, the ledger and explore mode."""
from __future__ import annotations

import json
import math

import IPython
import IPython.display
import numpy as np
import pytest
from scipy import stats

from course_utils import claim, ledger, set_explore
from course_utils import claims as claims_module
from course_utils.claims import MIN_REPLICATES, ClaimFailed, distance, interval

GAINS = [0.05, 0.07, 0.06, 0.08, 0.04, 0.06]   # six replicates' paired differences


@pytest.fixture(autouse=True)
def empty_ledger(monkeypatch):
    """Each test starts with an empty session ledger, outside explore mode, and leaves explore mode off."""
    monkeypatch.setattr(claims_module, "LEDGER", [])
    set_explore(False)
    yield claims_module.LEDGER
    set_explore(False)


def holds(values, **thresholds) -> bool:
    """The verdict of an interval claim, as a notebook meets it: a claim that does not hold raises."""
    try:
        claim("the measured effect", values, **thresholds)
    except ClaimFailed:
        return False
    return True


def exploring() -> bool:
    """Explore mode as a learner sees it: a claim that does not hold prints its verdict instead of raising."""
    return holds(GAINS, above=1.0)


# ------------------------------------------------------------------ statistics

@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("seed", range(3))
def test_interval_matches_scipy(confidence, seed):
    values = np.random.default_rng(seed).normal(0.3, 0.05, size=5 + 3 * seed)
    mean, se, low, high = interval(values, confidence)
    expected = stats.t.interval(confidence, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean())
    assert se == pytest.approx(stats.sem(values))
    assert (low, high) == pytest.approx(expected, rel=1e-12)


def test_directional_rule_is_the_one_sided_t_test():
    # the one-sided 95 % bound lies above the threshold exactly when scipy's one-sided t-test rejects at 5 %
    rng = np.random.default_rng(1)
    for _ in range(200):
        values = rng.normal(0.02, 0.03, size=6)
        p = stats.ttest_1samp(values, 0.0, alternative="greater").pvalue
        assert holds(values, above=0.0) == (p < 0.05)


def test_equivalence_rule_is_two_one_sided_tests():
    rng = np.random.default_rng(2)
    for _ in range(200):
        values, margin = rng.normal(0.0, 0.02, size=8), 0.02
        p_low = stats.ttest_1samp(values, -margin, alternative="greater").pvalue
        p_high = stats.ttest_1samp(values, margin, alternative="less").pvalue
        assert holds(values, within=margin) == (max(p_low, p_high) < 0.05)


def repeated(true_mean, n, repetitions=4000, seed=0, **thresholds):
    """The share of simulated experiments in which the claim holds."""
    draws = np.random.default_rng(seed).normal(true_mean, 1.0, size=(repetitions, n))
    return np.mean([holds(v, **thresholds) for v in draws])


@pytest.mark.parametrize("n", [5, 8, 20])
def test_a_claim_without_a_real_effect_holds_in_about_5_percent_of_experiments(n):
    # true effect exactly at the threshold: the worst case for a false "holds"
    assert repeated(0.0, n, above=0.0) == pytest.approx(0.05, abs=0.012)
    assert repeated(0.0, n, below=0.0) == pytest.approx(0.05, abs=0.012)
    assert repeated(-0.5, n, above=0.0) < 0.01   # a real effect the other way almost never passes


@pytest.mark.parametrize("n", [5, 8, 20])
def test_an_equivalence_claim_rarely_holds_when_the_difference_exceeds_its_margin(n):
    # a true difference of 1.5 margins (sd 1, margin 1): "about the same" must not hold
    assert repeated(1.5, n, within=1.0) < 0.05
    # exactly at the margin the test is at its 5 % size at most
    assert repeated(1.0, n, within=1.0) <= 0.06


def test_a_real_effect_well_beyond_the_threshold_holds():
    assert repeated(1.5, 8, above=0.0) > 0.95


# ------------------------------------------------------------------ verdicts and printing

def test_a_directional_claim_that_holds(capsys, empty_ledger):
    assert claim("L2 narrows the gap", GAINS, above=0.03, quantity="gap reduction") is None
    lines = capsys.readouterr().out.splitlines()
    mean, se, low, _ = interval(GAINS)
    assert lines == [
        "Claim ✔ holds: L2 narrows the gap",
        f"  gap reduction: mean {mean:.3f} ± {se:.3f} (s.e.), one-sided 95 % CI [{low:.3f}, ∞) over 6 replicates; "
        "holds if the interval lies > 0.03",
    ]
    record = empty_ledger[-1]
    assert record["holds"] is True and record["rule"] == "interval" and record["replicates"] == 6
    assert record["low"] == pytest.approx(low) and record["se"] == pytest.approx(se)
    assert record["above"] == 0.03 and record["below"] is None and record["within"] is None
    assert record["values"] == GAINS


def test_the_mean_beyond_the_threshold_is_not_enough(capsys):
    # mean 0.06 > 0.05, but the interval reaches below it: not shown with six replicates
    with pytest.raises(ClaimFailed, match=r"needed > 0.05 by rule 'interval'"):
        claim("L2 narrows the gap by 5 points", GAINS, above=0.05)
    assert "Claim ✘ FAILS" in capsys.readouterr().out


def test_below_and_both_sides(capsys):
    claim("the loss drops", [-x for x in GAINS], below=0.0)
    assert "one-sided 95 % CI (-∞, " in capsys.readouterr().out
    claim("the ratio is near one", [0.98, 1.0, 1.02, 1.0, 0.99], above=0.9, below=1.1, digits=2)
    assert "90 % CI [0.98, 1.01] over 5 replicates; holds if the interval lies > 0.9 and < 1.1" \
        in capsys.readouterr().out


def test_equivalence(capsys, empty_ledger):
    claim("dropout and L2 are about the same", [0.01, -0.01, 0.0, 0.005, -0.005], within=0.03)
    out = capsys.readouterr().out
    assert "90 % CI [" in out and "holds if the interval lies inside ±0.03 (two one-sided tests at 5 %)" in out
    with pytest.raises(ClaimFailed):   # a tiny margin cannot be shown with these replicates
        claim("exactly the same", [0.01, -0.01, 0.0, 0.005, -0.005], within=0.005)


def test_every_replicate_rule(capsys):
    claim("every run diverges", [5.0, 7.0, 6.0, 9.0, 8.0], above=4.0, rule="every")
    assert "range [5.000, 9.000] over 5 replicates (every one must be > 4)" in capsys.readouterr().out
    with pytest.raises(ClaimFailed):
        claim("every run diverges", [5.0, 7.0, 6.0, 9.0, 3.9], above=4.0, rule="every")


def test_exact_rule(capsys):
    claim("the article's lasso keeps all ten features", 10, above=9, rule="exact", quantity="non-zero")
    assert "  non-zero: 10 (exact; must be > 9)" in capsys.readouterr().out
    with pytest.raises(ClaimFailed):
        claim("exact and strict", 9, above=9, rule="exact")


def test_claim_failed_is_an_assertion_error():
    assert issubclass(ClaimFailed, AssertionError)


def test_explore_mode_prints_the_failure_and_runs_on(capsys, empty_ledger):
    set_explore(True)
    claim("L2 narrows the gap by 5 points", GAINS, above=0.05)   # no exception
    out = capsys.readouterr().out
    assert "Claim ✘ FAILS" in out and "does not hold with your settings" in out
    assert empty_ledger[-1]["holds"] is False
    set_explore(False)
    with pytest.raises(ClaimFailed):
        claim("L2 narrows the gap by 5 points", GAINS, above=0.05)
    with pytest.raises(TypeError, match="explore must be True or False"):
        set_explore("yes")


def test_setup_sets_explore_mode(monkeypatch):
    import course_utils as cu
    cu.setup(explore=True)
    assert exploring()
    cu.setup()
    assert not exploring()
    monkeypatch.setenv("COURSE_EXPLORE", "1")   # make margins records every verdict this way
    cu.setup()
    assert exploring()
    cu.setup(explore=False)                      # an explicit setting wins
    assert not exploring()


@pytest.mark.parametrize("kwargs, message", [
    (dict(values=[0.9, 0.95, 0.97, 0.9], above=0.5),
     rf"rule='interval' needs at least {MIN_REPLICATES} replicates \(data draw and seed\); got 4"),
    (dict(values=[0.9] * 4, above=0.5, rule="every"), "rule='every' needs at least 5 replicates"),
    (dict(values=[0.9, 0.9], above=0.5, rule="exact"), "rule='exact' is for one value"),
    (dict(values=GAINS), r"give a threshold: above=..., below=..., both, or within=margin"),
    (dict(values=GAINS, above=0.0, within=0.1), "within=margin is an equivalence claim"),
    (dict(values=GAINS, within=0.1, rule="every"), "within=margin is an equivalence claim"),
    (dict(values=GAINS, within=-0.1), "within must be"),
    (dict(values=GAINS, above=0.0, rule="mean"), "rule must be one of"),
    (dict(values=[0.9, np.nan, 0.97, 1, 1], above=0.5), "values contains 1 NaN or infinite value"),
    (dict(values=[[0.9, 0.95, 0.97]], above=0.5), "values must be 0-D or 1-D"),
    (dict(values=[], above=0.5), "values is empty"),
])
def test_claims_that_cannot_be_judged(kwargs, message, empty_ledger):
    with pytest.raises(ValueError, match=message):
        claim("a statement", **kwargs)
    assert empty_ledger == []


@pytest.mark.parametrize("statement", ["", "   ", None, 3])
def test_statement_must_be_a_sentence(statement):
    with pytest.raises(ValueError, match="statement must be the sentence being claimed"):
        claim(statement, GAINS, above=0)


# ------------------------------------------------------------------ distance and ledger

def test_distance_is_in_widths_of_the_95_percent_interval():
    claim("gain", GAINS, above=0.0)
    record = claims_module.LEDGER[-1]
    width = 2 * stats.t.ppf(0.975, 5) * stats.sem(GAINS)
    assert record["distance"] == pytest.approx((record["low"] - 0.0) / width)
    with pytest.raises(ClaimFailed):
        claim("gain of 7 points", GAINS, above=0.07)
    assert claims_module.LEDGER[-1]["distance"] < 0
    claim("ten", 10, above=9, rule="exact")
    assert claims_module.LEDGER[-1]["distance"] is None   # stored as JSON, which has no infinity
    claim("all replicates agree", [0.5] * 5, above=0.1)
    assert claims_module.LEDGER[-1]["distance"] is None
    assert distance({**claims_module.LEDGER[-1], "distance": None}) == math.inf


def test_session_ledger(capsys):
    claim("first", GAINS, above=0)
    with pytest.raises(ClaimFailed):
        claim("second", GAINS, below=0.05)
    table = ledger()
    assert table["statement"].tolist() == ["first", "second"]
    assert table["holds"].tolist() == [True, False]
    assert list(table.columns) == ["statement", "quantity", "rule", "replicates", "mean", "se", "low", "high",
                                   "above", "below", "within", "distance", "holds"]


def test_in_a_notebook_the_record_goes_into_the_output_metadata(monkeypatch, capsys, empty_ledger):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw, metadata: shown.append((data, raw, metadata)))
    claim("noise helps", GAINS, above=0.0)
    assert capsys.readouterr().out == ""  # displayed, not printed
    (data, raw, metadata), = shown
    assert raw is True
    assert data["text/plain"].startswith("Claim ✔ holds: noise helps\n  measured: mean 0.060 ± 0.006 (s.e.)")
    assert metadata == {"course_claim": empty_ledger[-1]}
    json.dumps(metadata, allow_nan=False)   # stored in the notebook: must be strict JSON


def write_notebook(path, records):
    """A minimal executed notebook whose outputs carry the given claim records."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Title"},
             {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": 1}]
    for record in records:
        cells.append({"cell_type": "code", "metadata": {}, "source": "claim(...)", "execution_count": 2,
                      "outputs": [
                          {"output_type": "stream", "name": "stdout", "text": "other output\n"},
                          {"output_type": "display_data", "data": {"text/plain": "Claim ✔ holds"},
                           "metadata": {"course_claim": record}},
                      ]})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def record(statement, holds=True, mean=0.5):
    return {"statement": statement, "quantity": "q", "rule": "interval", "holds": holds, "above": 0.1,
            "below": None, "within": None, "replicates": 5, "mean": mean, "se": 0.01, "low": mean - 0.02,
            "high": mean + 0.02, "distance": 3.0, "values": [mean] * 5}


def test_ledger_of_notebooks(tmp_path):
    second = write_notebook(tmp_path / "02_weight_decay.ipynb", [record("decay shrinks weights", mean=0.3)])
    first = write_notebook(tmp_path / "01_overfitting.ipynb",
                           [record("more data helps"), record("small nets underfit", holds=False)])
    write_notebook(tmp_path / "03_empty.ipynb", [])
    table = ledger(notebooks=[str(second), first, tmp_path / "03_empty.ipynb"])
    assert table["notebook"].tolist() == ["01_overfitting", "01_overfitting", "02_weight_decay"]
    assert table["statement"].tolist() == ["more data helps", "small nets underfit", "decay shrinks weights"]
    assert table["holds"].tolist() == [True, False, True]
    assert table["mean"].tolist() == [0.5, 0.5, 0.3]
    assert table.columns[0] == "notebook" and "distance" in table.columns


def test_ledger_of_notebooks_without_claims(tmp_path):
    table = ledger(notebooks=[write_notebook(tmp_path / "a.ipynb", [])])
    assert len(table) == 0 and "statement" in table.columns
