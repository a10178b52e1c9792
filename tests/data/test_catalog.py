"""Catalogues from folders, CSV lists, Galaxy10 files and dropped paths."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_studio.data.catalog import (
    UNSUPPORTED_FILE,
    Catalog,
    CatalogItem,
    catalog_from_paths,
    open_catalog,
    read_csv_catalog,
    read_item,
    scan_folder,
)
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.formats import detect_format, is_supported_path
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES

Writer = Callable[..., tuple[Path, dict[str, np.ndarray]]]


def _png(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4), value).save(path)
    return path


def _fits(path: Path, value: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.full((5, 5), value, dtype=np.float32)).writeto(path)
    return path


def test_item_names() -> None:
    assert CatalogItem("/data/a/b.fits").name == "b.fits"
    assert CatalogItem("/data/Galaxy10_DECals.h5", index=123).name == "Galaxy10_DECals.h5[123]"


def test_class_folders_are_detected(tmp_path: Path) -> None:
    _png(tmp_path / "spiral" / "s2.png")
    _png(tmp_path / "spiral" / "s1.png")
    _fits(tmp_path / "elliptical" / "e1.fits")
    _png(tmp_path / "elliptical" / "deep" / "e2.png")
    (tmp_path / "spiral" / "notes.txt").write_text("seeing 1.2 arcsec")
    (tmp_path / "spiral" / ".DS_Store").write_bytes(b"\0")
    catalog = scan_folder(tmp_path)
    assert catalog.classes == ["elliptical", "spiral"]
    assert [(Path(i.path).name, i.label, i.group) for i in catalog.items] == [
        ("e1.fits", "elliptical", "elliptical"),
        ("e2.png", "elliptical", "elliptical/deep"),
        ("s1.png", "spiral", "spiral"),
        ("s2.png", "spiral", "spiral"),
    ]
    assert all(Path(item.path).is_absolute() for item in catalog.items)
    assert catalog.skipped == [(str(tmp_path / "spiral" / "notes.txt"), UNSUPPORTED_FILE)]


def test_images_in_root_mean_no_classes_unless_asked(tmp_path: Path) -> None:
    _png(tmp_path / "top.png")
    _png(tmp_path / "a" / "x.png")
    _png(tmp_path / "b" / "y.png")
    auto = scan_folder(tmp_path)
    assert auto.classes == [] and all(item.label is None for item in auto.items)
    assert [item.group for item in auto.items] == ["", "a", "b"]
    forced = scan_folder(tmp_path, class_folders=True)
    assert forced.classes == ["a", "b"]
    assert [item.label for item in forced.items] == [None, "a", "b"]


def test_a_single_sub_folder_is_not_a_class_layout(tmp_path: Path) -> None:
    _png(tmp_path / "only" / "x.png")
    _png(tmp_path / "only" / "y.png")
    catalog = scan_folder(tmp_path)
    assert catalog.classes == [] and [item.group for item in catalog.items] == ["only", "only"]
    assert scan_folder(tmp_path / "only", class_folders=False).items[0].group == ""


def test_real_galaxy_zoo_class_folders(samples: Path) -> None:
    catalog = open_catalog(samples / "gz-spiral")
    assert catalog.classes == ["non_spirals", "spirals"]
    assert [item.label for item in catalog.items] == ["non_spirals"] * 2 + ["spirals"] * 2
    assert read_item(catalog.items[-1]).data.shape == (424, 424, 3)


def test_scanning_20000_files_reads_names_only(tmp_path: Path) -> None:
    for label in ("a", "b"):
        folder = tmp_path / label
        folder.mkdir()
        for k in range(10_000):  # empty files: decoding any of them would fail
            os.close(os.open(folder / f"{k:05d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    started = time.perf_counter()
    catalog = scan_folder(tmp_path)
    elapsed = time.perf_counter() - started
    assert len(catalog.items) == 20_000 and catalog.skipped == []
    assert catalog.items[10_000].label == "b" and catalog.items[10_000].name == "00000.jpg"
    assert elapsed < 5.0


def test_galaxy10_file_inside_a_folder_is_expanded(tmp_path: Path, galaxy10_file: Writer) -> None:
    path, _ = galaxy10_file()
    (tmp_path / "sub").mkdir()
    shutil.move(path, tmp_path / "sub" / "g10.h5")
    _png(tmp_path / "loose.png")
    catalog = scan_folder(tmp_path)
    expected = ["loose.png"] + [f"g10.h5[{k}]" for k in range(5)]
    assert [item.name for item in catalog.items] == expected
    assert catalog.items[1].group == "sub" and catalog.items[2].label == "Barred Spiral"
    assert catalog.classes == list(GALAXY10_CLASSES)


def test_csv_with_labels_positions_and_relative_paths(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "a.png")
    _fits(tmp_path / "img" / "b.fits")
    (tmp_path / "list.csv").write_text(
        "FileName,Morphology,RA,Dec\n"
        "img/a.png,spiral,150.5,2.25\n"
        "img/b.fits,3,10.0,-5.5\n"
        "img/missing.png,spiral,1,2\n"
        "\n",
        encoding="utf-8",
    )
    catalog = read_csv_catalog(tmp_path / "list.csv")
    assert [(item.name, item.label, item.ra, item.dec, item.group) for item in catalog.items] == [
        ("a.png", "spiral", 150.5, 2.25, "img"),
        ("b.fits", "3", 10.0, -5.5, "img"),
    ]
    assert catalog.classes == ["spiral", "3"]
    assert catalog.skipped == [(str(tmp_path / "img" / "missing.png"), "file not found")]


def test_csv_with_bom_semicolons_and_latin1(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "bom.csv").write_bytes("\ufeffpath;class\na.png;élliptique\n".encode("utf-8"))
    assert read_csv_catalog(tmp_path / "bom.csv").items[0].label == "élliptique"
    (tmp_path / "latin.csv").write_bytes("image,label\na.png,élliptique\n".encode("latin-1"))
    assert read_csv_catalog(tmp_path / "latin.csv").items[0].label == "élliptique"


def test_csv_uses_the_path_column_whose_files_exist(tmp_path: Path) -> None:
    _fits(tmp_path / "x.fits")
    (tmp_path / "two.csv").write_text("filename,fits\nx.jpeg,fits/x.fits\n")
    catalog = read_csv_catalog(tmp_path / "two.csv")
    assert [item.name for item in catalog.items] == ["x.fits"] and catalog.skipped == []


def test_real_galassify_csv(samples: Path) -> None:
    catalog = open_catalog(samples / "galaxies_fits.csv")
    assert [item.name for item in catalog.items] == ["img_1_15.jpeg", "img_4_100000.jpeg"]
    assert catalog.items[0].ra == pytest.approx(210.927048)
    assert catalog.items[1].dec == pytest.approx(24.918394)
    assert catalog.classes == []  # its "group" column is a sample group, not a class
    assert read_item(catalog.items[0]).data.shape == (512, 512, 3)


def test_csv_without_a_path_column(tmp_path: Path) -> None:
    (tmp_path / "nopath.csv").write_text("id,ra,dec\n1,2,3\n")
    with pytest.raises(CutoutError, match=r"nopath\.csv: no path column .*found: id, ra, dec"):
        read_csv_catalog(tmp_path / "nopath.csv")


@pytest.mark.parametrize(("text", "problem"), [("", "CSV file is empty"), ("path,label\n", "no rows")])
def test_empty_csv(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "empty.csv").write_text(text)
    with pytest.raises(CutoutError, match=rf"empty\.csv: .*{problem}"):
        read_csv_catalog(tmp_path / "empty.csv")


def test_open_catalog_of_single_files(tmp_path: Path, galaxy10_file: Writer) -> None:
    image = _png(tmp_path / "one.png")
    single = open_catalog(image)
    assert single.items == [CatalogItem(str(image))] and single.skipped == []
    h5_path, arrays = galaxy10_file()
    g10 = open_catalog(h5_path)
    assert [item.label for item in g10.items] == [GALAXY10_CLASSES[k] for k in arrays["ans"]]
    assert g10.items[1].ra == pytest.approx(210.92)
    (tmp_path / "notes.txt").write_text("hello")
    text = open_catalog(tmp_path / "notes.txt")
    assert text.items == [] and text.skipped == [(str(tmp_path / "notes.txt"), UNSUPPORTED_FILE)]
    with pytest.raises(CutoutError, match="file not found"):
        open_catalog(tmp_path / "nothing.fits")


def test_catalog_from_paths_merges_and_reports(tmp_path: Path, galaxy10_file: Writer) -> None:
    _png(tmp_path / "folder" / "a" / "1.png")
    _png(tmp_path / "folder" / "b" / "2.png")
    single = _fits(tmp_path / "single.fits", 7.0)
    h5_path, _ = galaxy10_file()
    (tmp_path / "readme.txt").write_text("text")
    (tmp_path / "bad.csv").write_text("id\n1\n")
    catalog = catalog_from_paths(
        [tmp_path / "folder", single, h5_path, tmp_path / "readme.txt", tmp_path / "bad.csv", tmp_path / "gone.png"]
    )
    assert len(catalog.items) == 2 + 1 + 5
    assert catalog.classes == ["a", "b"] + list(GALAXY10_CLASSES)
    reasons = dict(catalog.skipped)
    assert reasons[str(tmp_path / "readme.txt")] == UNSUPPORTED_FILE
    assert reasons[str(tmp_path / "gone.png")] == "file not found"
    assert reasons[str(tmp_path / "bad.csv")].startswith("no path column")
    assert catalog.source.endswith("and 5 more")
    assert read_item(catalog.items[2]).data[0, 0, 0] == 7.0
    assert read_item(catalog.items[3]).meta["index"] == 0


def test_merge_keeps_order_and_unions_classes() -> None:
    first = Catalog([CatalogItem("/a.png", label="x")], ["x", "y"], [("/t", "why")], "one")
    second = Catalog([CatalogItem("/b.png", label="z")], ["y", "z"], [], "two")
    merged = first.merge(second)
    assert [item.path for item in merged.items] == ["/a.png", "/b.png"]
    assert merged.classes == ["x", "y", "z"]
    assert merged.skipped == [("/t", "why")]
    assert merged.source == "one; two"


def test_detect_format_goes_by_content(tmp_path: Path, galaxy10_file: Writer) -> None:
    fits_path = _fits(tmp_path / "a.fits")
    packed = gzip.compress(fits_path.read_bytes())
    (tmp_path / "b.fits.gz").write_bytes(packed)
    (tmp_path / "renamed.gz").write_bytes(packed)  # found by peeking inside
    (tmp_path / "other.gz").write_bytes(gzip.compress(b"plain text"))
    Image.new("RGB", (2, 2)).save(tmp_path / "c.tif")
    Image.new("RGB", (2, 2)).save(tmp_path / "jpeg.dat", format="JPEG")
    Image.new("L", (2, 2)).save(tmp_path / "d.fits", format="PNG")
    h5_path, _ = galaxy10_file()
    (tmp_path / "e.csv").write_text("path\n")
    (tmp_path / "f.txt").write_text("SIMPL")
    found = {
        name: detect_format(tmp_path / name)
        for name in (
            "a.fits",
            "b.fits.gz",
            "renamed.gz",
            "other.gz",
            "c.tif",
            "jpeg.dat",
            "d.fits",
            "e.csv",
            "f.txt",
            "missing.png",
        )
    }
    assert found == {
        "a.fits": "fits",
        "b.fits.gz": "fits",
        "renamed.gz": "fits",
        "other.gz": "unknown",
        "c.tif": "tiff",
        "jpeg.dat": "jpeg",
        "d.fits": "png",
        "e.csv": "csv",
        "f.txt": "unknown",
        "missing.png": "unknown",
    }
    assert detect_format(h5_path) == "hdf5"


def test_supported_names() -> None:
    supported = [
        "a.FITS",
        "b.fit",
        "c.fts",
        "d.fits.fz",
        "e.fz",
        "f.fits.gz",
        "g.fit.gz",
        "h.JPG",
        "i.jpeg",
        "j.png",
        "k.tif",
        "l.tiff",
        "m.h5",
        "n.hdf5",
    ]
    assert all(is_supported_path(name) for name in supported)
    assert not any(is_supported_path(name) for name in ["x.csv", "x.txt", "x.gz", "fits", "x.gif"])
