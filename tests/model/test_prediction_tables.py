"""The classify table as FITS and VOTable: units, descriptions, the model in the metadata, and
RA/Dec from the catalogue or the FITS WCS (blank when neither knows); a full disk is one line.
The evaluation table as ECSV: per-class scores and confusion counts."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io.votable import parse_single_table
from astropy.table import Table

from galaxy_studio import atomic_files
from galaxy_studio.cli import main
from galaxy_studio.data.formats import read_cutout
from galaxy_studio.model.classification import open_classifier
from galaxy_studio.model.training import TrainResult

WCS_STAMP = "100610.img.fits"


def _inputs(samples: Path, demo_set: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A catalogue with RA/Dec (two SDSS JPEGs), a FITS stamp with a WCS, a JPEG with neither."""
    for name in ("galaxies_fits.csv", "img_1_15.jpeg", "img_4_100000.jpeg", WCS_STAMP):
        shutil.copy(samples / name, tmp_path / name)
    return tmp_path / "galaxies_fits.csv", tmp_path / WCS_STAMP, sorted(demo_set.rglob("*.jpg"))[0]


def test_classify_writes_a_fits_table_with_units_and_positions(
    trained_run: TrainResult, demo_set: Path, samples: Path, tmp_path: Path
) -> None:
    catalogue, stamp, plain = _inputs(samples, demo_set, tmp_path)
    out = tmp_path / "predictions.fits"
    args = ["classify", trained_run.checkpoint, str(catalogue), str(stamp), str(plain), "--out", str(out)]
    assert main([*args, "--device", "cpu"]) == 0
    table = Table.read(out, format="fits")
    classes = open_classifier(trained_run.checkpoint).classes
    assert table.colnames[-2:] == ["ra", "dec"] and f"p_{classes[0]}" in table.colnames
    assert table["ra"].unit == u.deg and table["dec"].unit == u.deg
    assert table[f"p_{classes[0]}"].description == f"probability of class {classes[0]}"
    assert table.meta["MODEL"] == trained_run.checkpoint
    by_name = {Path(str(path)).name: row for path, row in zip(table["path"], table)}
    assert (by_name["img_1_15.jpeg"]["ra"], by_name["img_1_15.jpeg"]["dec"]) == pytest.approx((210.927048, -1.137346))
    assert by_name["img_4_100000.jpeg"]["dec"] == pytest.approx(24.918394)
    centre = read_cutout(stamp).centre_icrs()
    assert centre is not None
    # Classify reads the stamp shrunk to the model's input; its WCS centre is the same point
    # to within a fraction of a full-size pixel (0.03" for this HST stamp).
    assert (by_name[WCS_STAMP]["ra"], by_name[WCS_STAMP]["dec"]) == pytest.approx(centre, abs=1e-5)
    assert np.ma.is_masked(by_name[plain.name]["ra"]) and np.ma.is_masked(by_name[plain.name]["dec"])
    probabilities = np.array([[row[f"p_{name}"] for name in classes] for row in table])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_format_votable_wins_over_a_csv_name(
    trained_run: TrainResult, demo_set: Path, samples: Path, tmp_path: Path
) -> None:
    catalogue, _, _ = _inputs(samples, demo_set, tmp_path)
    out = tmp_path / "predictions.csv"
    args = ["classify", trained_run.checkpoint, str(catalogue), "--out", str(out), "--format", "votable"]
    assert main([*args, "--device", "cpu"]) == 0
    assert out.read_bytes().startswith(b"<?xml")
    votable = parse_single_table(str(out))
    fields = {field.name: field for field in votable.fields}
    assert str(fields["ra"].unit) == "deg" and fields["ra"].datatype == "double"
    table = votable.to_table()
    assert sorted(np.round(table["ra"], 6)) == [210.927048, 227.259003]
    assert table["unfamiliar"].tolist() == [True, True], "SDSS JPEGs are unlike the 40-px demo galaxies"


def test_a_full_disk_is_one_line_naming_the_table_and_leaves_no_file(
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def full(path: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_files, "flush_to_disk", full)
    out = tmp_path / "p.out"
    good = str(next(demo_set.rglob("*.jpg")))
    assert (
        main(["classify", trained_run.checkpoint, good, "--out", str(out), "--format", "fits", "--device", "cpu"]) == 1
    )
    err = capsys.readouterr().err
    assert f"{out}: cannot write the predictions: No space left on device" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    locked = tmp_path / "no-such-folder" / "p.fits"
    assert main(["classify", trained_run.checkpoint, good, "--out", str(locked), "--format", "ecsv"]) == 1
    assert f"{locked}: the folder {locked.parent} does not exist; nothing was done" in capsys.readouterr().err


def test_evaluate_writes_per_class_scores_and_confusion_counts(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evaluation.ecsv"
    args = ["evaluate", trained_run.checkpoint, str(demo_set), "--split", "test", "--json", "--device", "cpu"]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    table = Table.read(out, format="ascii.ecsv")
    classes = report["classes"]
    assert table["class"].tolist() == classes
    assert table.colnames[6:] == [f"predicted_{name}" for name in classes]
    assert [list(row)[6:] for row in table] == report["confusion"]
    assert table["support"].tolist() == [report["per_class"][name]["support"] for name in classes]
    assert table["recall_low"].description == "lower end of the recall's Wilson 95% interval"
    assert table.meta["ACCURACY"] == report["accuracy"] and table.meta["SPLIT"] == "test"
