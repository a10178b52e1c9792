"""Tables astronomers load: CSV, ECSV, FITS and VOTable with units, descriptions and RA/Dec,
read back by astropy as TOPCAT would, and catalogues read from all four."""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table
from PIL import Image

from galaxy_studio.data import tables
from galaxy_studio.data.catalog import open_catalog
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.tables import (
    DEC_COLUMN,
    RA_COLUMN,
    TABLE_FILE_FILTERS,
    TableColumn,
    TableFormatError,
    build_table,
    csv_text,
    read_table_text,
    table_format,
    table_path_for_filter,
    write_table,
)

SCHEMA = [
    TableColumn("path", str, None, "the cutout's file"),
    TableColumn("p_spiral", float, "", "probability of a spiral", ".6f"),
    TableColumn("index", int, None, "row of an HDF5 file"),
    TableColumn("unfamiliar", bool, None, "unlike the training data"),
    RA_COLUMN,
    DEC_COLUMN,
]
ROWS = [
    ("/data/NGC 5194 é.fits", 0.1234567, None, True, 202.4696, 47.1952),
    ("/data/b.png", 0.5, 3, False, None, None),
]


def _table() -> Table:
    return build_table(ROWS, SCHEMA, meta={"MODEL": "run-7/model.pt"})


def test_csv_is_the_apps_csv_with_formats_empty_cells_and_yes_no() -> None:
    assert csv_text(_table()) == (
        "path,p_spiral,index,unfamiliar,ra,dec\n"
        "/data/NGC 5194 é.fits,0.123457,,yes,202.4696,47.1952\n"
        "/data/b.png,0.500000,3,no,,\n"
    )
    assert csv_text(build_table([], SCHEMA)) == "path,p_spiral,index,unfamiliar,ra,dec\n"


@pytest.mark.parametrize("name", ["t.ecsv", "t.fits", "t.fit", "t.xml", "t.vot", "t.votable"])
def test_each_format_carries_units_descriptions_and_masked_positions(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    write_table(_table(), out)
    back = Table.read(out, format=tables._ASTROPY_FORMATS[table_format(out)])
    assert back.colnames == [column.name for column in SCHEMA]
    assert back["ra"].unit == u.deg and back["dec"].unit == u.deg
    assert back["ra"].description.startswith("right ascension")
    assert back["p_spiral"].description == "probability of a spiral"
    assert back["p_spiral"][0] == pytest.approx(0.1234567, abs=1e-12), "binary and ECSV keep full precision"
    assert back["ra"][0] == pytest.approx(202.4696) and back["dec"][0] == pytest.approx(47.1952)
    assert np.ma.getmaskarray(back["ra"]).tolist() == [False, True]
    assert np.ma.getmaskarray(back["index"]).tolist() == [True, False] and back["index"][1] == 3
    assert [bool(flag) for flag in back["unfamiliar"]] == [True, False]
    header, rows = read_table_text(out)
    assert header == back.colnames
    assert rows[0][0] == "/data/NGC 5194 é.fits", "FITS keeps non-ASCII text as UTF-8 bytes"
    assert rows[1] == ["/data/b.png", "0.5", "3", "no", "", ""]


def test_probabilities_are_dimensionless_in_ecsv_and_votable(tmp_path: Path) -> None:
    write_table(_table(), tmp_path / "t.ecsv")
    write_table(_table(), tmp_path / "t.xml")
    assert Table.read(tmp_path / "t.ecsv")["p_spiral"].unit == u.dimensionless_unscaled
    assert Table.read(tmp_path / "t.xml")["p_spiral"].unit == u.dimensionless_unscaled


def test_fits_is_a_binary_table_with_units_in_the_header_as_topcat_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    write_table(_table(), out)
    with fits.open(out) as hdus:
        assert isinstance(hdus[1], fits.BinTableHDU)
        header = hdus[1].header
        ra = header["TTYPE5"], header["TUNIT5"]
        assert ra == ("ra", "deg")
        assert header["MODEL"] == "run-7/model.pt"
        assert math.isnan(hdus[1].data["ra"][1]), "an unknown position is NaN, TOPCAT's blank"


def test_votable_names_its_fields_with_units_and_descriptions(tmp_path: Path) -> None:
    out = tmp_path / "t.vot"
    write_table(_table(), out)
    fields = {field.name: field for field in parse_single_table(str(out)).fields}
    assert str(fields["ra"].unit) == "deg" and fields["dec"].description.startswith("declination")
    assert (fields["ra"].ucd, fields["dec"].ucd) == ("pos.eq.ra;meta.main", "pos.eq.dec;meta.main")
    assert fields["path"].datatype == "unicodeChar"


def test_an_explicit_format_wins_over_the_name(tmp_path: Path) -> None:
    out = tmp_path / "predictions.csv"
    assert write_table(_table(), out, fmt="votable") == "votable"
    assert Table.read(out, format="votable")["ra"].unit == u.deg
    assert table_format("x.FITS") == "fits" and table_format("x.txt") == "csv" and table_format("x.vot") == "votable"
    with pytest.raises(TableFormatError, match="unknown table format 'hdf5'"):
        table_format("x.csv", "hdf5")


def test_a_save_dialogs_filter_picks_the_format_of_a_name_without_a_suffix() -> None:
    fits_filter = TABLE_FILE_FILTERS[2]
    assert table_path_for_filter("/tmp/predictions", fits_filter) == ("/tmp/predictions.fits", "fits")
    assert table_path_for_filter("/tmp/p.xml", fits_filter) == ("/tmp/p.xml", "votable"), "the typed suffix wins"
    assert table_path_for_filter("/tmp/p", "All files (*)") == ("/tmp/p.csv", "csv")


def test_a_failed_write_leaves_the_old_table_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "t.fits"
    write_table(_table(), out)
    before = out.read_bytes()

    def full_disk(self: Table, *args: object, **kwargs: object) -> None:
        Path(str(args[0])).write_bytes(b"SIMPLE  =")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Table, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_table(_table(), out)
    assert out.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == [out]


def test_a_damaged_table_file_is_named_with_its_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.vot"
    broken.write_text("<VOTABLE><RESOURCE>")
    with pytest.raises(TableFormatError, match=r"broken\.vot: cannot be read as a VOTABLE table"):
        read_table_text(broken)


def _png(path: Path) -> Path:
    Image.new("L", (4, 4), 90).save(path)
    return path


@pytest.mark.parametrize("name", ["list.ecsv", "list.fits", "list.xml"])
def test_a_table_of_paths_with_labels_and_positions_is_a_catalogue(tmp_path: Path, name: str) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    schema = [TableColumn("path", str), TableColumn("label", str), RA_COLUMN, DEC_COLUMN]
    write_table(build_table([("a.png", "spiral", 10.5, -2.25), ("b.png", "", None, None)], schema), tmp_path / name)
    catalog = open_catalog(tmp_path / name)
    assert [Path(item.path).name for item in catalog.items] == ["a.png", "b.png"]
    assert [(item.label, item.ra, item.dec) for item in catalog.items] == [("spiral", 10.5, -2.25), (None, None, None)]
    assert catalog.classes == ["spiral"]


def test_a_fits_image_is_still_an_image_and_a_table_without_paths_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "cutout.fits"
    fits.PrimaryHDU(np.ones((4, 4), np.float32)).writeto(image)
    assert [item.path for item in open_catalog(image).items] == [str(image)]
    write_table(build_table([(1.0,)], [TableColumn("flux", float)]), tmp_path / "fluxes.fits")
    with pytest.raises(CutoutError, match="fluxes.fits: no path column"):
        open_catalog(tmp_path / "fluxes.fits")


def test_fits_escapes_what_it_cannot_hold_and_text_that_is_not_unicode_is_shown_readably(tmp_path: Path) -> None:
    odd = os.fsdecode(b"Round \xffSmooth")
    columns = [
        TableColumn("p_Spirale à bras", float, "", "probability of class Spirale à bras"),
        TableColumn("note", str),
    ]
    table = build_table([(0.25, odd)], columns, meta={"SCHEME": "Morphologie générale"})
    assert table["note"][0] == "Round \ufffdSmooth", "a lone surrogate would make every format fail"
    out = tmp_path / "t.fits"
    write_table(table, out)
    back = Table.read(out, format="fits")
    assert back.colnames == ["p_Spirale \\xe0 bras", "note"]
    assert back.meta["SCHEME"] == "Morphologie g\\xe9n\\xe9rale"
    assert back["p_Spirale \\xe0 bras"].description == "probability of class Spirale à bras"
    assert read_table_text(out)[1] == [["0.25", "Round \ufffdSmooth"]]
