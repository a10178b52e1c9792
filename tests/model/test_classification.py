"""Classifying with a saved model: probabilities, TTA, FITS bands, bad files among good ones,
models that do not fit, the CSV and the `classify` command."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.events import Cancelled, CancelToken, Progressed
from galaxy_studio.model.checkpoint import CLASSIFIER_FORMAT, load_payload, save_payload
from galaxy_studio.model.classification import (
    ClassifyConfig,
    classify,
    classify_items,
    describe_probabilities,
    dihedral_views,
    open_classifier,
)
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.model.training import TrainResult, train_classifier

from .conftest import DEMO_CLASSES, tiny_config


def test_a_run_folder_classifies_its_own_data_with_probabilities_summing_to_one(
    trained_run: TrainResult, demo_set: Path
) -> None:
    events: list[object] = []
    result = classify(ClassifyConfig(trained_run.run_dir, (str(demo_set),), device="cpu"), emit=events.append)
    assert len(result.predictions) == 90 and not result.failures
    assert set(result.classes) == set(DEMO_CLASSES)
    probabilities = np.array([p.probabilities for p in result.predictions])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    accuracy = np.mean([p.predicted == Path(p.path).parent.name for p in result.predictions])
    assert accuracy > 0.8, "the tiny model separates the three shapes"
    first = result.predictions[0]
    assert first.confidence == max(first.probabilities)
    assert 0.0 <= first.entropy <= math.log(3) + 1e-9 and 0.0 <= first.margin <= first.confidence
    assert [e for e in events if isinstance(e, Progressed)][-1].done == 90


def test_entropy_and_margin_follow_their_definitions() -> None:
    sure = describe_probabilities("a", None, np.array([1.0, 0.0, 0.0]), ["x", "y", "z"])
    unsure = describe_probabilities("b", None, np.array([1 / 3, 1 / 3, 1 / 3]), ["x", "y", "z"])
    assert sure.entropy == 0.0 and sure.margin == 1.0 and sure.predicted == "x"
    assert unsure.entropy == pytest.approx(math.log(3)) and unsure.margin == pytest.approx(0.0)


def test_tta_uses_the_eight_distinct_dihedral_views_and_is_invariant_to_them(
    trained_run: TrainResult, demo_set: Path
) -> None:
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    views = dihedral_views(image)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    classifier = open_classifier(trained_run.checkpoint)
    item = CatalogItem(str(next(demo_set.rglob("*.jpg"))))
    with_tta = classify_items(classifier, [item], tta=True, device="cpu")[0][0]
    without = classify_items(classifier, [item], device="cpu")[0][0]
    assert sum(with_tta.probabilities) == pytest.approx(1.0)
    assert with_tta.probabilities != without.probabilities, "TTA averages other views too"


def test_an_unreadable_file_among_many_is_reported_and_the_rest_proceed(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    good = sorted(demo_set.rglob("*.jpg"))[:5]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good[0].read_bytes()[:200])
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    paths = [str(p) for p in good[:2]] + [str(broken), str(notes)] + [str(p) for p in good[2:]]
    result = classify(ClassifyConfig(trained_run.checkpoint, tuple(paths), device="cpu", batch_size=2))
    assert [Path(p.path) for p in result.predictions] == good
    reasons = dict(result.failures)
    assert set(reasons) == {"broken.jpg", "notes.txt"}
    assert "broken.jpg" in reasons["broken.jpg"] and "not a supported image" in reasons["notes.txt"]


def test_fits_bands_model_reads_fits_and_names_missing_bands(demo_set: Path, tmp_path: Path) -> None:
    fits_set = tmp_path / "fits"
    write_demo_set(fits_set, per_class=6, size=32, fmt="fits", seed=1)
    for folder in sorted(fits_set.iterdir())[2:]:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    run = train_classifier(tiny_config(fits_set, tmp_path / "run", channels="bands", epochs=2, size=16))
    fits_files = sorted(fits_set.rglob("*.fits"))[:3]
    jpeg = next(demo_set.rglob("*.jpg"))
    result = classify(ClassifyConfig(run.checkpoint, (*map(str, fits_files), str(jpeg)), device="cpu"))
    assert len(result.predictions) == 3
    ((name, reason),) = result.failures
    assert name == jpeg.name and "the model reads bands g, r, z but this cutout has R, G, B" in reason


def test_a_checkpoint_of_an_unknown_architecture_is_refused_by_name(trained_run: TrainResult, tmp_path: Path) -> None:
    payload = load_payload(trained_run.checkpoint, CLASSIFIER_FORMAT)
    payload["metadata"]["architecture"]["name"] = "vision-mamba"
    odd = tmp_path / "odd.pt"
    save_payload(odd, payload)
    with pytest.raises(CheckpointError, match="architecture this version does not know .'vision-mamba'"):
        open_classifier(odd)
    with pytest.raises(CheckpointError, match="without model.pt"):
        open_classifier(tmp_path)


def test_cancel_stops_between_batches(trained_run: TrainResult, demo_set: Path) -> None:
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(Cancelled):
        classify(ClassifyConfig(trained_run.checkpoint, (str(demo_set),), device="cpu"), cancel=cancel)


def test_classify_command_writes_the_csv_and_one_overlay_per_input(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(demo_set.rglob("*.jpg"))[::30]
    out, overlays = tmp_path / "predictions.csv", tmp_path / "overlays"
    code = main(
        [
            "classify",
            trained_run.run_dir,
            *map(str, files),
            "--out",
            str(out),
            "--tta",
            "--saliency",
            "gradcam",
            "--saliency-dir",
            str(overlays),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    with out.open() as stream:
        rows = list(csv.DictReader(stream))
    classes = open_classifier(trained_run.checkpoint).classes
    assert list(rows[0])[: 4 + len(classes)] == [
        "path",
        "predicted",
        "confidence",
        "entropy",
        *(f"p_{c}" for c in classes),
    ]
    assert [row["path"] for row in rows] == [str(f) for f in files]
    for row in rows:
        probabilities = [float(row[f"p_{c}"]) for c in classes]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert row["predicted"] == classes[int(np.argmax(probabilities))]
    assert {p.name for p in overlays.iterdir()} == {"00000.png", "00000-2.png", "00000-3.png"}
    assert f"{len(files)} cutouts classified" in capsys.readouterr().out


def test_the_classification_job_writes_one_overlay_per_input(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    files = sorted(demo_set.rglob("*.jpg"))[::30]
    overlays = tmp_path / "overlays"
    events: list[object] = []
    config = ClassifyConfig(
        trained_run.run_dir, tuple(map(str, files)), device="cpu", saliency="gradcam", saliency_dir=str(overlays)
    )
    result = classify(config, emit=events.append)
    assert len(result.predictions) == len(files) and result.overlay_failures == ()
    assert {p.name for p in overlays.iterdir()} == {"00000.png", "00000-2.png", "00000-3.png"}
    assert [(e.done, e.total) for e in events if isinstance(e, Progressed) and e.what == "gradcam overlays"] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    with pytest.raises(ModelError, match="--saliency needs --saliency-dir"):
        ClassifyConfig(trained_run.run_dir, tuple(map(str, files)), saliency="ig")


def test_classify_command_reports_bad_input_in_one_line(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    good = next(demo_set.rglob("*.jpg"))
    assert main(["classify", trained_run.checkpoint, str(good), str(notes), "--out", str(tmp_path / "p.csv")]) == 1
    err = capsys.readouterr().err
    assert f"error: {notes}: not a supported image" in err and "Traceback" not in err
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 2
    assert main(["classify", str(tmp_path / "none.pt"), str(good), "--out", str(tmp_path / "q.csv")]) == 1
    assert "none.pt: no such checkpoint file" in capsys.readouterr().err
    assert main(["classify", trained_run.checkpoint, str(notes), "--out", str(tmp_path / "r.csv")]) == 1
    assert "nothing was written" in capsys.readouterr().err and not (tmp_path / "r.csv").exists()
    assert (
        main(["classify", trained_run.checkpoint, str(good), "--out", str(tmp_path / "s.csv"), "--saliency", "ig"]) == 1
    )
    assert "--saliency needs --saliency-dir" in capsys.readouterr().err
