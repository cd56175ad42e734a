"""scripts/claim_margins.py: worst margins, moves between executions, and what it flags."""
import importlib.util
from pathlib import Path

import nbformat
import pytest

from course_utils.claims import worst_margin

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("claim_margins", ROOT / "scripts" / "claim_margins.py")
margins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(margins)


def record(statement, values, above=None, below=None):
    return {"statement": statement, "quantity": "q", "holds": True, "above": above, "below": below,
            "mean": sum(values) / len(values), "spread": 0.0, "runs": len(values), "values": values}


def write_notebook(folder: Path, name: str, records) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("cu.claim(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": r["statement"]},
                                           metadata={"course_claim": r}) for r in records]
    notebook.cells = [cell]
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / name)


def test_worst_margin_is_the_closest_run_to_either_threshold():
    assert worst_margin(record("a", [0.3, 0.12, 0.5], above=0.1)) == pytest.approx(0.02)
    assert worst_margin(record("b", [0.3, 0.12], above=0.1, below=0.31)) == pytest.approx(0.01)
    assert worst_margin(record("c", [0.05], above=0.1)) == pytest.approx(-0.05)   # a run that misses


def test_claims_are_paired_by_position_and_flagged_by_how_far_their_runs_moved(tmp_path, capsys, monkeypatch):
    steady, shaky = record("steady", [0.5, 0.6], above=0.1), record("shaky", [0.15, 0.4], above=0.1)
    write_notebook(tmp_path / "ref", "01_a.ipynb", [steady, shaky])
    write_notebook(tmp_path / "other", "01_a.ipynb", [record("steady", [0.51, 0.6], above=0.1),
                                                      record("shaky", [0.12, 0.43], above=0.1)])
    monkeypatch.setattr("sys.argv", ["claim_margins.py", str(tmp_path / "ref"), str(tmp_path / "other")])
    assert margins.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 claims")
    assert "fragile" in lines[2] and "shaky" in lines[2]   # moved 0.03, more than half its margin of 0.05
    assert " ok " in lines[3] and "steady" in lines[3]


def test_a_claim_that_broke_elsewhere_comes_first_and_fails_the_run(tmp_path, capsys, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("x", [0.5, 0.6], above=0.1),
                                                    record("y", [0.2, 0.3], above=0.1)])
    write_notebook(tmp_path / "other", "01_a.ipynb", [record("x", [0.5, 0.6], above=0.1),
                                                      record("y", [0.05, 0.3], above=0.1)])
    monkeypatch.setattr("sys.argv", ["claim_margins.py", str(tmp_path / "ref"), str(tmp_path / "other")])
    assert margins.main() == 1
    assert "BROKE" in capsys.readouterr().out.splitlines()[2]


def test_folders_with_different_claims_are_refused(tmp_path, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("one sentence", [0.5, 0.6], above=0.1)])
    write_notebook(tmp_path / "other", "01_a.ipynb", [record("another sentence", [0.5, 0.6], above=0.1)])
    monkeypatch.setattr("sys.argv", ["claim_margins.py", str(tmp_path / "ref"), str(tmp_path / "other")])
    with pytest.raises(ValueError, match="execute the same notebooks in both"):
        margins.main()
