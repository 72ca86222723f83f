"""The notebooks run top to bottom on a real slice of the embedded data, and are committed without outputs."""

from __future__ import annotations


import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_an_exploration_and_a_model_review_notebook():
    assert [path.name for path in NOTEBOOKS] == ["01_exploration.ipynb", "02_model_review.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_runs_on_a_slice_of_real_data(path, monkeypatch):
    # Three customers in ten and a short search: the code paths, not the figures.
    monkeypatch.setenv("CHURN_NOTEBOOK_SAMPLE", "3")
    monkeypatch.setenv("CHURN_NOTEBOOK_TRIALS", "3")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the charts were drawn
