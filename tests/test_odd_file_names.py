"""File and folder names that are not UTF-8 (legal on Linux) through every command that stores,
writes or prints a path: nothing crashes, each output is UTF-8 text or a lossless record, and
what it names opens the same file (#21 §2). Before path_text each of these raised
"UnicodeEncodeError: surrogates not allowed"."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.cli import main
from galaxy_studio.data.tables import read_table_text
from galaxy_studio.explore.embeddings import Embeddings
from galaxy_studio.labels.store import Project
from galaxy_studio.path_text import from_text
from galaxy_studio.run_folders import RunSummary

from .conftest import write_demo_classes

TINY = ["--size", "32", "--crop", "1", "--width", "8", "--batch-size", "8", "--device", "cpu", "--epochs", "1"]
ODD_FILE = os.fsdecode(b"gal\xff.jpg")
ODD_CLASS = os.fsdecode(b"Round \xffSmooth")
SHOWN_CLASS = "Round \ufffdSmooth"


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of six demo galaxies; one class folder and one file in each class have names
    that are not UTF-8."""
    root = write_demo_classes(
        tmp_path_factory.mktemp("odd"), ("Round Smooth", "Disturbed"), per_class=6, size=32, seed=5
    )
    (root / "Round Smooth").rename(root / ODD_CLASS)
    for folder in root.iterdir():
        first = sorted(folder.iterdir())[0]
        first.rename(folder / ODD_FILE)
    return root


def files_in(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*.jpg")}


def test_train_then_classify_writes_a_utf8_csv_naming_each_file(
    odd_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", str(odd_folder), "--out", str(run), *TINY]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(record["classes"]) == ["Disturbed", SHOWN_CLASS], "a class is text, shown readably"
    assert json.loads((run / "config.json").read_text())["data"] == str(odd_folder)

    out = tmp_path / "predictions.csv"
    assert main(["classify", str(run / "model.pt"), str(odd_folder), "--out", str(out), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(out.read_bytes().decode("utf-8").splitlines()))
    assert f"p_{SHOWN_CLASS}" in rows[0]
    written = [row["path"] for row in rows]
    assert sum(path.startswith("file:///") for path in written) == 7, "the six in the odd folder and one more"
    assert {from_text(path) for path in written} == files_in(odd_folder)

    table = tmp_path / "predictions.fits"
    assert main(["classify", str(run / "model.pt"), str(odd_folder), "--out", str(table), "--device", "cpu"]) == 0
    header, rows = read_table_text(table)
    assert "p_Round \\ufffdSmooth" in header, "FITS names are ASCII: the class's U+FFFD is escaped"
    assert {from_text(row[0]) for row in rows} == files_in(odd_folder)


def test_project_add_export_import_keeps_every_path(
    odd_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = str(tmp_path / "a.gsproj"), str(tmp_path / "b.gsproj")
    assert main(["project", "new", first, "--scheme", "galaxy10"]) == 0
    assert main(["project", "add", first, str(odd_folder)]) == 0
    added = capsys.readouterr().out
    assert "added 12 images" in added and f"unmapped ({SHOWN_CLASS} 6)" in added
    with Project.open(Path(first)) as project:
        stored = {image.path for image in project.images()}
        assert stored == files_in(odd_folder) and project.refresh_missing() == 0
        odd = str(odd_folder / "Disturbed" / ODD_FILE)
        odd_id = project.image_id(odd)
        assert odd_id is not None and project.labels()[odd_id].class_name == "Disturbed"
    for fmt in ("csv", "json"):
        exported = tmp_path / f"labels.{fmt}"
        assert main(["project", "export", "--format", fmt, first, str(exported)]) == 0
        exported.read_bytes().decode("utf-8")
        assert main(["project", "new", second, "--scheme", "galaxy10"]) == 0
        assert main(["project", "import", second, str(exported)]) == 0
        with Project.open(Path(second)) as project:
            images = {image.id: image.path for image in project.images()}
            labelled = {images[image_id] for image_id in project.labels()}
            assert labelled == set(images.values()) == files_in(odd_folder / "Disturbed")
        Path(second).unlink()
        shutil.rmtree(f"{second}.backups", ignore_errors=True)


def test_embed_records_each_path(odd_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.npz"
    tiny = ["--size", "16", "--crop", "1", "--latent", "4", "--epochs", "1", "--device", "cpu"]
    assert main(["embed", str(odd_folder), "--autoencoder", "--out", str(out), *tiny]) == 0
    embeddings = Embeddings.load(out)
    assert {item.path for item in embeddings.items} == files_in(odd_folder)
    assert np.isfinite(embeddings.vectors).all()


def test_messages_show_odd_names_readably_on_a_strict_utf8_terminal(odd_folder: Path, tmp_path: Path) -> None:
    """A UTF-8 terminal (not the C locale) refuses surrogates: printing the name used to crash."""
    odd = str(odd_folder / "Disturbed" / ODD_FILE)
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    shown = subprocess.run(
        [sys.executable, "-m", "galaxy_studio", "inspect", odd, odd + "-missing"],
        capture_output=True,
        timeout=120,
        env=env,
    )
    out, err = shown.stdout.decode("utf-8"), shown.stderr.decode("utf-8")
    assert "Traceback" not in err and "gal\ufffd.jpg  jpeg  32x32x3" in out
    assert "gal\ufffd.jpg-missing: file not found" in err


def test_run_lists_show_an_odd_run_folder_readably(tmp_path: Path) -> None:
    """The Train and Distill panels list runs by folder name; Qt dropped the stray byte."""
    assert RunSummary(tmp_path / os.fsdecode(b"run-\xff"), {}).name == "run-\ufffd"
