"""claim: verdicts, the printed line, the ledger, and errors for claims that cannot be judged."""
from __future__ import annotations

import json

import IPython
import IPython.display
import numpy as np
import pytest

from course_utils import claim, ledger
from course_utils import claims as claims_module
from course_utils.claims import ClaimFailed


@pytest.fixture(autouse=True)
def empty_ledger(monkeypatch):
    """Each test starts with an empty session ledger."""
    monkeypatch.setattr(claims_module, "LEDGER", [])
    return claims_module.LEDGER


def test_a_claim_that_holds(capsys, empty_ledger):
    # nothing is returned, so a claim cell shows only its verdict
    assert claim("dropout narrows the gap", [0.9, 0.92, 0.94], above=0.8, quantity="gap reduction") is None
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Claim ✔ holds: dropout narrows the gap",
        "  gap reduction: 0.920 ± 0.020 over 3 runs (each must be > 0.8)",
    ]
    record = empty_ledger[-1]
    assert record["statement"] == "dropout narrows the gap" and record["holds"] is True
    assert record["mean"] == pytest.approx(0.92) and record["spread"] == pytest.approx(0.02)
    assert record["runs"] == 3 and record["values"] == [0.9, 0.92, 0.94]
    assert record["above"] == 0.8 and record["below"] is None


def test_both_bounds_and_digits(capsys):
    claim("the ratio is near one", np.array([0.98, 1.0, 1.02, 1.0]), above=0.9, below=1.1, digits=2)
    assert "1.00 ± 0.02 over 4 runs (each must be > 0.9 and < 1.1)" in capsys.readouterr().out


def test_a_claim_that_fails(capsys, empty_ledger):
    with pytest.raises(ClaimFailed, match=r"L1 zeroes features: measured = \[3.0, 0.0, 4.0\], needed < 1"):
        claim("L1 zeroes features", [3, 0, 4], below=1)
    assert "Claim ✘ FAILS: L1 zeroes features" in capsys.readouterr().out
    assert empty_ledger[-1]["holds"] is False  # failures are recorded too


def test_claim_failed_is_an_assertion_error():
    assert issubclass(ClaimFailed, AssertionError)
    with pytest.raises(AssertionError):
        claim("x", [1.0, 2.0, 3.0], above=1.5)


def test_thresholds_are_strict():
    # one run exactly on the threshold is not beyond it
    with pytest.raises(ClaimFailed):
        claim("all above 0.5", [0.5, 0.6, 0.7], above=0.5)
    with pytest.raises(ClaimFailed):
        claim("all below 0.7", [0.5, 0.6, 0.7], below=0.7)


def test_every_run_must_hold_not_just_the_mean():
    with pytest.raises(ClaimFailed):
        claim("above zero", [5.0, 5.0, -0.1], above=0.0)


def test_single_exact_value(capsys):
    claim("the article's lasso keeps all ten features", [10], above=9, min_runs=1, quantity="non-zero")
    assert "  non-zero: 10 (must be > 9)" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, message", [
    (dict(values=[0.9, 0.95], above=0.5), r"a claim needs at least 3 runs \(seeds\) to show its spread; got 2"),
    (dict(values=[0.9], above=0.5, min_runs=2), "needs at least 2 runs"),
    (dict(values=[0.9, 0.95, 0.97]), r"give a threshold: above=..., below=... or both"),
    (dict(values=[0.9, np.nan, 0.97], above=0.5), "values contains 1 NaN or infinite value"),
    (dict(values=[[0.9, 0.95, 0.97]], above=0.5), "values must be 0-D or 1-D"),
    (dict(values=[], above=0.5), "values is empty"),
    (dict(values=[1, 2, 3], above=0.5, min_runs=0), "min_runs must be an integer >= 1"),
])
def test_claims_that_cannot_be_judged(kwargs, message, empty_ledger):
    with pytest.raises(ValueError, match=message):
        claim("a statement", **kwargs)
    assert empty_ledger == []


@pytest.mark.parametrize("statement", ["", "   ", None, 3])
def test_statement_must_be_a_sentence(statement):
    with pytest.raises(ValueError, match="statement must be the sentence being claimed"):
        claim(statement, [1, 2, 3], above=0)


def test_session_ledger(capsys):
    claim("first", [1, 2, 3], above=0)
    with pytest.raises(ClaimFailed):
        claim("second", [1, 2, 3], below=2)
    table = ledger()
    assert table["statement"].tolist() == ["first", "second"]
    assert table["holds"].tolist() == [True, False]
    assert list(table.columns) == ["statement", "quantity", "mean", "spread", "runs", "above", "below", "holds"]


def test_in_a_notebook_the_record_goes_into_the_output_metadata(monkeypatch, capsys, empty_ledger):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw, metadata: shown.append((data, raw, metadata)))
    claim("noise helps", [0.1, 0.2, 0.3], above=0.0)
    assert capsys.readouterr().out == ""  # displayed, not printed
    (data, raw, metadata), = shown
    assert raw is True
    assert data["text/plain"].startswith("Claim ✔ holds: noise helps\n  measured: 0.200 ± 0.100")
    assert metadata == {"course_claim": empty_ledger[-1]}


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
    return {"statement": statement, "quantity": "q", "holds": holds, "above": 0.1, "below": None, "mean": mean,
            "spread": 0.01, "runs": 3, "values": [mean] * 3}


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
    assert list(table.columns) == ["notebook", "statement", "quantity", "mean", "spread", "runs", "above",
                                   "below", "holds"]


def test_ledger_of_notebooks_without_claims(tmp_path):
    table = ledger(notebooks=[write_notebook(tmp_path / "a.ipynb", [])])
    assert len(table) == 0 and "statement" in table.columns
