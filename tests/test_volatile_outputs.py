"""Timings are the one output no later run reproduces: the cells that print them keep no stored output.

A claim about speed is the exception: its verdict is compared and its numbers are masked (nbval_sanitize.cfg),
and it stays stored because the claims ledger reads it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _execute_notebooks():
    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "scripts" / "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_notebooks = _execute_notebooks()
VOLATILE = execute_notebooks.VOLATILE


def code_cells(path: Path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_that_time_themselves_are_marked_and_store_no_output(path):
    for cell in code_cells(path):
        if "time.perf_counter(" in cell.source and "cu.claim(" not in cell.source:
            assert VOLATILE in cell.source, f"a cell that times itself lacks the mark:\n{cell.source[:200]}"
        if VOLATILE in cell.source:
            assert cell.outputs == [] and cell.execution_count is not None, cell.source[:200]
            assert "NBVAL_IGNORE_OUTPUT" in cell.source, "nbval would compare its fresh output with none"


def test_execution_drops_the_outputs_of_marked_cells_only():
    printed = nbformat.v4.new_output("stream", text="1.23 ms\n")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"# NBVAL_IGNORE_OUTPUT\n{VOLATILE}\nprint(t)", outputs=[printed],
                                  execution_count=1),
        nbformat.v4.new_code_cell("print(2)", outputs=[printed], execution_count=2)])
    execute_notebooks.drop_volatile_outputs(notebook)
    assert notebook.cells[0].outputs == [] and notebook.cells[0].execution_count == 1
    assert notebook.cells[1].outputs == [printed]


def widget_notebook(slider: str, style: str):
    """A notebook showing one slider whose style is a second model, with the given (random) model ids."""
    state = {slider: {"model_name": "FloatSliderModel", "state": {"style": f"IPY_MODEL_{style}", "value": 1.0}},
             style: {"model_name": "SliderStyleModel", "state": {"handle_color": None}}}
    view = nbformat.v4.new_output("display_data", data={execute_notebooks.WIDGET_VIEW: {"model_id": slider}})
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("slider", outputs=[view], id="slider")])
    notebook.metadata["widgets"] = {execute_notebooks.WIDGET_STATE: {"state": state}}
    return notebook


def test_widget_ids_are_named_in_order_of_appearance_whatever_the_run_drew():
    first = execute_notebooks.stable_widget_ids(widget_notebook("a" * 32, "b" * 32))
    again = execute_notebooks.stable_widget_ids(widget_notebook("9" * 32, "0" * 32))
    assert nbformat.writes(first) == nbformat.writes(again)
    state = first.metadata["widgets"][execute_notebooks.WIDGET_STATE]["state"]
    assert state["widget0000"]["state"]["style"] == "IPY_MODEL_widget0001"   # the slider shown, then its style
    assert first.cells[0].outputs[0].data[execute_notebooks.WIDGET_VIEW]["model_id"] == "widget0000"


def test_stored_widget_ids_are_the_stable_ones():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert nbformat.writes(execute_notebooks.stable_widget_ids(notebook)) == nbformat.writes(notebook), path.name


def test_consecutive_prints_to_one_stream_are_stored_as_one_output():
    def stream(name, text):
        return nbformat.v4.new_output("stream", name=name, text=text)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("run()", outputs=[
        stream("stdout", "a\n"), stream("stdout", "b\n"), stream("stderr", "warning\n"), stream("stdout", "c\n")])])
    execute_notebooks.merge_streams(notebook)
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [
        ("stdout", "a\nb\n"), ("stderr", "warning\n"), ("stdout", "c\n")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_streams_are_merged(path):
    for cell in code_cells(path):
        kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
        assert all(a != b or a[0] != "stream" for a, b in zip(kinds, kinds[1:])), cell.source[:200]


def test_execution_lists_the_code_cells_whose_outputs_changed():
    def notebook(*texts):
        cells = [nbformat.v4.new_markdown_cell("prose")]
        cells += [nbformat.v4.new_code_cell(f"print({n})", outputs=[nbformat.v4.new_output("stream", text=text)],
                                            execution_count=n) for n, text in enumerate(texts, start=1)]
        return nbformat.v4.new_notebook(cells=cells)
    assert execute_notebooks.changed_cells(notebook("1", "2", "3"), notebook("1", "2", "3")) == []
    assert execute_notebooks.changed_cells(notebook("1", "2", "3"), notebook("1", "two", "3")) == [2]
