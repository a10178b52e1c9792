"""The files SAMP sends (FITS for DS9, VOTables for TOPCAT) and what received tables mean."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.fits import read_fits
from galaxy_studio.data.samp_links import LinkedTable, item_key
from galaxy_studio.data.samp_tables import (
    display_position,
    fits_to_send,
    read_table,
    receive_table,
    remove_stale_files,
    table_of_items,
    table_of_rows,
    with_items,
    write_votable,
)
from tests.data.fits_makers import sky_wcs, write_sky_image


def test_items_table_round_trips_through_a_votable(tmp_path: Path) -> None:
    items = [
        CatalogItem("/data/a.fits", label="spiral", ra=150.1, dec=2.2),
        CatalogItem("/data/g10.h5", index=7, label=None),
    ]
    path = write_votable(table_of_items(items), tmp_path / "items.xml")
    table = read_table(path.as_uri(), "votable")
    assert list(table["name"]) == ["a.fits", "g10.h5[7]"]
    assert list(table["path"]) == ["/data/a.fits", "/data/g10.h5"]
    assert table["row"][1] == 7 and table["row"].mask[0]
    assert list(table["label"]) == ["spiral", ""]
    assert table["ra"][0] == pytest.approx(150.1) and table["dec"].mask[1]
    assert str(table["ra"].unit) == "deg"


def test_rows_shown_as_text_become_typed_columns() -> None:
    table = table_of_rows(
        ["File", "Class", "Confidence", "Class"],
        [["a.jpg", "spiral", "93.5%", "x"], ["b.jpg", "edge-on", "", "y"], ["c.jpg", "round", "7", "z"]],
    )
    assert table.colnames == ["File", "Class", "Confidence", "Class_2"]
    assert table["Confidence"].dtype.kind == "f"
    assert table["Confidence"][0] == 93.5 and np.isnan(table["Confidence"][1])
    assert table["Class"].dtype.kind in "US"


def test_with_items_adds_paths_and_positions() -> None:
    table = with_items(table_of_rows(["File"], [["a"], ["b"]]), [CatalogItem("/a", ra=1.0, dec=2.0), None])
    assert list(table["path"]) == ["/a", ""]
    assert table["ra"][0] == 1.0 and table["ra"].mask[1]


def test_received_path_table_is_a_catalogue_with_row_links(tmp_path: Path) -> None:
    image = write_sky_image(tmp_path / "one.fits")
    table = Table({"PATH": ["one.fits", "missing.fits", str(image)], "class": ["spiral", "x", "ring"]})
    url = write_votable(table, tmp_path / "t.xml").as_uri()
    received = receive_table(read_table(url, "votable"), url, "tid", "t", [])
    assert received.catalog is not None
    assert [item.path for item in received.catalog.items] == [str(image), str(image)]
    assert [item.label for item in received.catalog.items] == ["spiral", "ring"]
    assert received.catalog.skipped[0][1] == "file not found"
    assert received.link.keys == ((str(image), None), None, (str(image), None))
    assert received.link.rows_of((str(image), None)) == [0, 2]
    assert "2 of 3 rows" in received.summary


def test_received_radec_table_matches_open_cutouts_within_three_arcsec() -> None:
    items = [CatalogItem("/a.fits", ra=150.0, dec=2.0), CatalogItem("/b.fits", ra=150.1, dec=2.0), CatalogItem("/c")]
    table = Table({"RA_ICRS": [150.1 + 2 / 3600, 150.0, 10.0], "DE_ICRS": [2.0, 2.0 + 5 / 3600, -5.0]})
    received = receive_table(table, "file:///t.xml", "tid", "t", items)
    assert received.catalog is None
    assert received.link.keys == (("/b.fits", None), None, None)
    assert "1 of 3 rows matched" in received.summary


def test_received_table_with_neither_paths_nor_positions_is_refused() -> None:
    with pytest.raises(CutoutError, match="neither a path column"):
        receive_table(Table({"flux": [1.0]}), "file:///t.xml", "tid", "fluxes", [])


def test_unreadable_table_names_the_url(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("not xml")
    with pytest.raises(CutoutError, match="bad.xml: cannot read the table"):
        read_table(bad.as_uri(), "votable")


def test_linked_table_maps_rows_to_cutouts() -> None:
    link = LinkedTable("t", "file:///t.xml", "t", (("/a", None), None, ("/b", 3)))
    assert link.matches("t", "") and link.matches("", "file:///t.xml") and not link.matches("u", "")
    assert link.keys_of([2, 1, 0, 99]) == [("/b", 3), ("/a", None)]
    assert item_key(CatalogItem("/b", index=3)) == ("/b", 3)


def test_a_whole_fits_file_is_sent_as_it_is(tmp_path: Path) -> None:
    path = write_sky_image(tmp_path / "sky.fits")
    cutout = read_fits(path)
    assert fits_to_send(CatalogItem(str(path)), cutout, tmp_path / "out") == path


def test_a_raster_with_wcs_is_written_as_fits_north_up_with_the_same_sky(tmp_path: Path) -> None:
    """A JPEG stores its top row first; FITS its bottom row first. The written file must show
    the same picture in DS9 and give every pixel the sky position it had."""
    height, width = 6, 8
    data = np.arange(height * width * 3, dtype=np.float32).reshape(height, width, 3)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [4.5, 3.5]
    wcs.wcs.cdelt = [-1e-4, -1e-4]
    wcs.wcs.set()
    cutout = Cutout(data, ["R", "G", "B"], "/data/g.jpg", "jpeg", wcs=wcs)
    path = fits_to_send(CatalogItem("/data/g.jpg"), cutout, tmp_path)
    with fits.open(path) as hdul:
        written, header = hdul[0].data, hdul[0].header
    assert written.shape == (3, height, width)
    np.testing.assert_array_equal(written[1], data[::-1, :, 1])
    assert [header["BAND1"], header["BAND3"]] == ["R", "B"]
    sent_wcs = WCS(header, naxis=2)
    for x, y in [(0, 0), (7, 5), (3, 1)]:
        np.testing.assert_allclose(
            sent_wcs.all_pix2world([[x, height - 1 - y]], 0)[0], wcs.all_pix2world([[x, y]], 0)[0], atol=1e-9
        )


def test_sky_position_in_the_viewer(tmp_path: Path) -> None:
    cutout = read_fits(write_sky_image(tmp_path / "sky.fits", size=64))
    wcs = sky_wcs(size=64)
    ra, dec = wcs.all_pix2world([[10.0, 20.0]], 0)[0]
    x, y = display_position(cutout, ra, dec) or (None, None)
    assert x == pytest.approx(10.0) and y == pytest.approx(63 - 20.0)  # FITS rows shown bottom up
    assert display_position(cutout, ra + 1.0, dec) is None
    assert display_position(Cutout(np.zeros((4, 4, 1), np.float32), ["L"], "x.png", "png"), ra, dec) is None


def test_a_fits_table_from_topcat_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.fits"
    Table({"ra": [150.0], "dec": [2.0]}).write(path)
    table = read_table(path.as_uri(), "fits")
    assert table["ra"][0] == 150.0


def test_stale_sent_files_are_removed_fresh_ones_kept(tmp_path: Path) -> None:
    old, new = tmp_path / "old.xml", tmp_path / "new.fits"
    old.write_text("x")
    new.write_text("y")
    long_ago = time.time() - 3 * 24 * 3600
    os.utime(old, (long_ago, long_ago))
    assert remove_stale_files(tmp_path) == 1
    assert not old.exists() and new.exists()
    assert remove_stale_files(tmp_path / "missing") == 0
