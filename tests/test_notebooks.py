"""The example notebooks under docs/notebooks run top to bottom in a Jupyter kernel, as a reader
would run them (nbclient drives an ipykernel), and show what they say they show."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "docs" / "notebooks"


def outputs_of(cell: nbformat.NotebookNode, kind: str) -> list[str]:
    return [output["data"][kind] for output in cell.get("outputs", []) if kind in output.get("data", {})]


def test_the_quickstart_notebook_runs_on_the_demo_set(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "committed bare"
    began = time.perf_counter()
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    seconds = time.perf_counter() - began
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    pictures = [cell.source.splitlines()[-1] for cell in code if outputs_of(cell, "image/png")]
    assert pictures == [
        "gs.show_cutout(cutout)",
        "gs.show_curves(run)",
        'gs.show_saliency(run, table["path"][40], method="saliency")',
        "gs.show_prototypes(synthetic)",
        "gs.show_curves(synthetic)",
    ]
    table = next(cell for cell in code if cell.source.startswith("table = gs.classify"))
    assert "<i>Table length=6</i>" in outputs_of(table, "text/html")[0]
    scores = outputs_of(code[-1], "text/plain")[0]
    assert all(name in scores for name in ("'distilled'", "'random_real'", "'class_mean'", "'full'"))
    assert (tmp_path / "quickstart-work" / "distilled" / "synthetic.npz").is_file()
    print(f"quickstart.ipynb ran in {seconds:.0f} s")
