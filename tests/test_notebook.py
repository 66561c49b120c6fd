"""The error-analysis notebook runs headless, top to bottom, against the tiny model."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT


def test_error_analysis_notebook_runs(model_dir, store_env, monkeypatch):
    monkeypatch.setenv("STANCELENS_MODEL", str(model_dir))
    monkeypatch.setenv("STANCELENS_EVAL_DATA", "corpus-test")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_env["MLFLOW_TRACKING_URI"])
    notebook = nbformat.read(ROOT / "notebooks" / "error_analysis.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError, failing the test, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
    assert not [o for o in outputs if o.get("output_type") == "error"]
