"""galaxy_studio.api: the notebook API returns what the cores compute, reports progress and
warnings the Python way, and draws figures Jupyter can show."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import galaxy_studio.api as gs
from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.errors import UserError
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project
from galaxy_studio.model.classification import ClassifyConfig, classify, write_predictions
from galaxy_studio.model.evaluation import evaluate_classifier
from galaxy_studio.model.training import TrainResult

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_api_imports_without_qt_or_torch() -> None:
    code = "import sys, galaxy_studio.api; print(sorted(m for m in ('PySide6', 'torch') if m in sys.modules))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def test_classify_returns_the_csv_columns_as_a_table(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = demo_set / "Round Smooth"
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    with pytest.warns(gs.JobWarning, match="notes.txt"):
        table = gs.classify(trained_run, [folder, notes], device="cpu")
    assert "classifying: 30/30 (100%)" in capsys.readouterr().err
    result = classify(ClassifyConfig(trained_run.checkpoint, (str(folder),), device="cpu"))
    write_predictions(result, tmp_path / "p.csv")
    with open(tmp_path / "p.csv", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert table.colnames == list(rows[0])
    assert list(table["path"]) == [row["path"] for row in rows] and len(table) == 30
    assert list(table["predicted"]) == [row["predicted"] for row in rows]
    assert np.allclose(table["confidence"], [float(row["confidence"]) for row in rows], atol=1e-6)
    assert table["unfamiliar"].dtype == bool and list(table["unfamiliar"]) == [r["unfamiliar"] == "yes" for r in rows]
    assert table.meta["classes"] == list(result.classes)
    probabilities = np.stack([table[f"p_{name}"] for name in result.classes], axis=1)
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_evaluate_matches_the_core_and_progress_false_prints_nothing(
    trained_run: TrainResult, demo_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = gs.evaluate(trained_run.run_dir, demo_set, split="test", device="cpu", progress=False)
    assert capsys.readouterr().err == ""
    expected = evaluate_classifier(trained_run.checkpoint, demo_set, split="test", device="cpu")
    assert report["accuracy"] == expected["accuracy"] == trained_run.metrics["accuracy"]
    assert report["confusion"] == expected["confusion"] and report["n"] == 12


def test_train_reports_epochs_and_returns_the_run(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(gs.JobWarning, match="only 12 test images"):
        run = gs.train(demo_set, tmp_path / "run", epochs=2, size=32, width=16, batch_size=32, device="cpu", threads=2)
    err = capsys.readouterr().err
    assert "epochs: 2/2 (100%)" in err and "\r" not in err, "stderr is no terminal here: plain lines"
    assert run.epochs_run == 2 and Path(run.checkpoint).is_file() and len(run.history) == 2
    with pytest.raises(UserError, match="epochs"):
        gs.train(demo_set, tmp_path / "bad", epochs=0)


def test_read_cutout_has_pixels_header_and_wcs(samples: Path) -> None:
    cutout = gs.read_cutout(samples / "1_15_SDSS_gband.fits")
    assert cutout.data.dtype == np.float32 and cutout.data.ndim == 3
    assert cutout.header is not None and cutout.wcs is not None
    assert cutout.sky_position(0, 0) is not None


def test_demo_data_keeps_the_classes_asked_for(tmp_path: Path) -> None:
    chosen = ["Cigar Shaped Smooth", "Merging"]
    folder = gs.demo_data(tmp_path / "two", per_class=2, size=32, classes=chosen, progress=False)
    assert sorted(path.name for path in folder.iterdir() if path.is_dir()) == sorted(chosen)
    write_demo_set(tmp_path / "all", per_class=2, size=32)
    same = [np.asarray(Image.open(root / "Merging" / "00001.jpg")) for root in (folder, tmp_path / "all")]
    assert np.array_equal(*same), "a class's images do not depend on which other classes are made"
    with pytest.raises(ValueError, match="no demo class 'Spirals'"):
        gs.demo_data(tmp_path / "bad", classes=["Spirals"], progress=False)


def test_open_project_is_read_only_by_default(tmp_path: Path, demo_set: Path) -> None:
    path = tmp_path / "p.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([str(demo_set / "Round Smooth" / "00000.jpg")])
    with gs.open_project(path) as project:
        assert project.image_count() == 1
        with pytest.raises(Exception, match="read-only|readonly"):
            project.add_paths([str(demo_set / "Round Smooth" / "00001.jpg")])


def test_figures_show_in_jupyter(trained_run: TrainResult, demo_set: Path, tmp_path: Path) -> None:
    curves = gs.show_curves(trained_run)
    assert [axes.get_ylabel() for axes in curves.axes] == ["loss", "accuracy"]
    assert len(curves.axes[0].lines[0].get_xdata()) == trained_run.epochs_run
    assert curves._repr_png_().startswith(PNG)
    path = demo_set / "Edge-on without Bulge" / "00003.jpg"
    saliency = gs.show_saliency(trained_run, path)
    predicted = gs.classify(trained_run, path, device="cpu", progress=False)["predicted"][0]
    assert saliency.axes[1].get_title().startswith(f"saliency: {predicted} (")
    assert saliency._repr_png_().startswith(PNG)
    values = gs.explain(trained_run, path, method="gradcam", target="Round Smooth")
    assert values.shape == (40, 40) and values.min() >= 0 and values.max() > 0
    with pytest.raises(UserError, match="no class 'Spiral'"):
        gs.explain(trained_run, path, target="Spiral")
    assert gs.show_cutout(path).axes[0].get_title() == "00003.jpg"
    with pytest.raises(UserError, match="history.json: no such file"):
        gs.show_curves(tmp_path)
