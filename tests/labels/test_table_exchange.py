"""Labels as ECSV, FITS and VOTable tables: exact round trips, the descriptions a reader sees,
the `project export/import` commands, and a damaged table named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.table import Table

from galaxy_studio.cli import main
from galaxy_studio.labels import exchange
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project, ProjectError

from .conftest import snapshot, write_pngs

SPIRAL = BUILTIN_SCHEMES["spiral"]


@pytest.mark.parametrize("name", ["labels.ecsv", "labels.fits", "labels.xml"])
def test_table_round_trips_keep_every_label_exactly(tmp_path: Path, labelled: Project, name: str) -> None:
    out = tmp_path / name
    report = exchange.export_table(labelled, out)
    assert report.labels == 6 and report.per_class == {"spiral": 3, "non-spiral": 3}
    with Project.create(tmp_path / "copy.gsproj", SPIRAL) as copy:
        imported = exchange.import_label_file(copy, out)
        assert (imported.labels, imported.images_added, imported.skipped) == (6, 5, [])
        assert snapshot(copy) == snapshot(labelled), "confidences such as 1/3 and timestamps come back exactly"


def test_an_ecsv_export_describes_its_columns_and_names_the_scheme(tmp_path: Path, labelled: Project) -> None:
    exchange.export_table(labelled, tmp_path / "labels.ecsv")
    table = Table.read(tmp_path / "labels.ecsv", format="ascii.ecsv")
    assert table.colnames == list(exchange.CSV_COLUMNS)
    assert table["class_index"].description == "the class's 0-based position in the project's classes"
    assert table.meta["SCHEME"] == "spiral" and table.meta["CLASSES"] == "spiral,non-spiral"
    assert table["index"].mask.all(), "PNG files have no HDF5 row"


def test_the_csv_export_keeps_its_bytes(tmp_path: Path, labelled: Project) -> None:
    exchange.export_csv(labelled, tmp_path / "labels.csv")
    lines = (tmp_path / "labels.csv").read_bytes().split(b"\r\n")
    assert lines[0] == b"path,index,class,class_index,labeller,source,confidence,timestamp"
    net = [line for line in lines if b",net,model," in line]
    assert [line.split(b",")[1] for line in net] == [b"", b""]
    assert {line.split(b",")[6] for line in net} == {b"0.8125", repr(1 / 3).encode()}


def test_project_export_and_import_commands_take_the_table_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = str(tmp_path / "a.gsproj"), str(tmp_path / "b.gsproj")
    files = write_pngs(tmp_path / "images", 2)
    assert main(["project", "new", source, "--scheme", "spiral"]) == 0
    assert main(["project", "add", source, str(tmp_path / "images")]) == 0
    assert main(["project", "label", source, str(files[0]), "spiral", "--labeller", "ada"]) == 0
    assert main(["project", "label", source, str(files[1]), "non-spiral", "--labeller", "ada"]) == 0
    out = tmp_path / "labels.votable"
    assert main(["project", "export", source, "--format", "ecsv", str(out)]) == 0
    assert "export ecsv: 2 labels" in capsys.readouterr().out
    assert out.read_text().startswith("# %ECSV"), "--format wins over the name"
    fits_out = tmp_path / "labels.fits"
    assert main(["project", "export", source, "--format", "fits", str(fits_out)]) == 0
    assert main(["project", "new", target, "--scheme", "spiral"]) == 0
    capsys.readouterr()
    assert main(["project", "import", target, str(fits_out)]) == 0
    assert "import csv: 2 labels, 2 new images" in capsys.readouterr().out
    with Project.open(target) as copy:
        assert sorted(label.class_name for label in copy.labels().values()) == ["non-spiral", "spiral"]


def test_a_damaged_table_is_named_with_its_problem(tmp_path: Path) -> None:
    broken = tmp_path / "labels.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        with pytest.raises(ProjectError, match=r"labels\.fits: cannot be read as a FITS table"):
            exchange.import_csv(project, broken)
