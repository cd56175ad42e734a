"""scripts/claim_margins.py: claims paired across executions, their distances, and failures anywhere."""
import importlib.util
import math
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("claim_margins", ROOT / "scripts" / "claim_margins.py")
margins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(margins)


def record(statement, distance, holds=None):
    """A stored claim record; an infinite distance is stored as None, as claim stores it."""
    return {"statement": statement, "quantity": "q", "rule": "interval", "holds": distance > 0 if holds is None
            else holds, "distance": None if math.isinf(distance) else distance}


def write_notebook(folder: Path, name: str, records) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("cu.claim(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": r["statement"]},
                                           metadata={"course_claim": r}) for r in records]
    notebook.cells = [cell]
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / name)


def run(monkeypatch, *folders):
    monkeypatch.setattr("sys.argv", ["claim_margins.py", *map(str, folders)])
    return margins.main()


def test_claims_hold_everywhere_thinnest_first(tmp_path, capsys, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("steady", 3.0), record("thin", 0.4),
                                                    record("exact", math.inf)])
    write_notebook(tmp_path / "draw-1", "01_a.ipynb", [record("steady", 2.5), record("thin", 0.1),
                                                       record("exact", math.inf)])
    assert run(monkeypatch, tmp_path / "ref", tmp_path / "draw-1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 claims") and "3 hold everywhere, 0 fail somewhere" in lines[0]
    assert "thin" in lines[3] and "0.40" in lines[3] and "0.10" in lines[3]
    assert "steady" in lines[4] and "exact" in lines[5] and " exact " in lines[5]


def test_a_claim_that_fails_on_another_draw_comes_first_and_fails_the_run(tmp_path, capsys, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("x", 2.0), record("y", 1.0)])
    write_notebook(tmp_path / "draw-1", "01_a.ipynb", [record("x", 2.0), record("y", 0.5)])
    write_notebook(tmp_path / "draw-2", "01_a.ipynb", [record("x", 2.0), record("y", -0.2)])
    assert run(monkeypatch, tmp_path / "ref", tmp_path / "draw-1", tmp_path / "draw-2") == 1
    lines = capsys.readouterr().out.splitlines()
    assert "1 fail somewhere" in lines[0]
    assert "draw-2" in lines[3] and lines[3].rstrip().endswith("y")


def test_a_notebook_missing_elsewhere_counts_as_a_failure(tmp_path, capsys, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("x", 2.0)])
    (tmp_path / "portable").mkdir()
    assert run(monkeypatch, tmp_path / "ref", tmp_path / "portable") == 1
    assert "portable (not run)" in capsys.readouterr().out


def test_folders_with_different_claims_are_refused(tmp_path, monkeypatch):
    write_notebook(tmp_path / "ref", "01_a.ipynb", [record("one sentence", 1.0)])
    write_notebook(tmp_path / "other", "01_a.ipynb", [record("another sentence", 1.0)])
    with pytest.raises(ValueError, match="execute the same notebooks in both"):
        run(monkeypatch, tmp_path / "ref", tmp_path / "other")
