"""Malformed, empty, huge and mislabelled files: a clear CutoutError or correct handling."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from galaxy_studio.data.catalog import (
    UNSUPPORTED_FILE,
    catalog_from_paths,
    open_catalog,
    read_csv_catalog,
    read_item,
    scan_folder,
)
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.fits import read_fits
from galaxy_studio.data.formats import detect_format, read_cutout
from galaxy_studio.data.galaxy10 import Galaxy10File
from galaxy_studio.data.raster import read_raster


def _fails(call: Callable[[], object], path: Path, problem: str) -> CutoutError:
    """The call raises a CutoutError whose message is 'path: problem...'."""
    with pytest.raises(CutoutError) as info:
        call()
    assert str(info.value).startswith(f"{path}: ")
    assert re.search(problem, info.value.problem), info.value.problem
    return info.value


def _write_header_only(path: Path, header: fits.Header, data_bytes: int) -> None:
    """A FITS header followed by `data_bytes` of data that is never written (a sparse file)."""
    block = header.tostring().encode("ascii")
    with path.open("wb") as stream:
        stream.write(block)
        stream.truncate(len(block) + -(-data_bytes // 2880) * 2880)


def _image_header(width: int, height: int) -> fits.Header:
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = width
    header["NAXIS2"] = height
    return header


# --- empty and missing -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.fits", "empty.png", "empty.jpg"])
def test_zero_byte_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    _fails(lambda: read_cutout(path), path, r"^file is empty \(0 bytes\)$")
    reader = read_fits if name.endswith(".fits") else read_raster
    _fails(lambda: reader(path), path, r"^file is empty \(0 bytes\)$")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    _fails(lambda: read_cutout(tmp_path / "nope.fits"), tmp_path / "nope.fits", "^file not found$")
    _fails(lambda: read_cutout(tmp_path), tmp_path, "is a folder")


# --- broken FITS ----------------------------------------------------------------------------


def test_truncated_fits_data(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.ones((100, 100), dtype=np.float32)).writeto(tmp_path / "full.fits")
    path = tmp_path / "cut.fits"
    path.write_bytes((tmp_path / "full.fits").read_bytes()[: 2880 + 1000])
    _fails(lambda: read_fits(path), path, r"file is truncated: 3880 bytes, but HDU 0 needs 42880")


def test_truncated_fits_header(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.ones((10, 10), dtype=np.float32)).writeto(tmp_path / "full.fits")
    path = tmp_path / "stub.fits"
    path.write_bytes((tmp_path / "full.fits").read_bytes()[:1000])
    _fails(lambda: read_fits(path), path, r"truncated FITS file: 1000 bytes")


def test_truncated_gzip_fits(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(200, 200))).writeto(tmp_path / "f.fits")
    packed = gzip.compress((tmp_path / "f.fits").read_bytes())
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(packed[: len(packed) // 2])
    _fails(lambda: read_cutout(path), path, "could not read|compressed|corrupt")


def test_corrupt_tile_compressed_fits(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 1000, (256, 256)).astype(np.int32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(tmp_path / "ok.fz")
    raw = bytearray((tmp_path / "ok.fz").read_bytes())
    path = tmp_path / "bad.fz"
    path.write_bytes(bytes(raw[: len(raw) - 60_000]))
    problem = r"^file is truncated: \d+ bytes, but HDU 1 needs at least \d+$"
    _fails(lambda: read_fits(path), path, problem)


def test_header_only_fits(tmp_path: Path) -> None:
    path = tmp_path / "header.fits"
    fits.PrimaryHDU().writeto(path)
    _fails(lambda: read_fits(path), path, r"^no image data; HDUs: 0 PRIMARY \(empty\)$")


def test_table_only_fits(tmp_path: Path) -> None:
    path = tmp_path / "table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.arange(3))], name="TABLE")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    _fails(
        lambda: read_cutout(path),
        path,
        r"^no image data; HDUs: 0 PRIMARY \(empty\), 1 TABLE \(BinTableHDU\); a table \(open it on its own as a "
        r"catalogue when it lists images\)$",
    )
    _fails(lambda: read_fits(path, hdu="table"), path, r"HDU 1 TABLE \(BinTableHDU\) has no image data")


def test_text_named_fits(tmp_path: Path) -> None:
    path = tmp_path / "notes.fits"
    path.write_text("RA 150.1 Dec 2.2\n" * 20)
    _fails(lambda: read_fits(path), path, "not a FITS file")
    _fails(lambda: read_cutout(path), path, "not a supported image.*does not match its FITS name")


@pytest.mark.parametrize(("width", "height"), [(0, 10), (0, 0)])
def test_zero_length_axes(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "zero.fits"
    _write_header_only(path, _image_header(width, height), 0)
    listing = rf"0 PRIMARY \(PrimaryHDU {width}x{height}, zero-length axis\)"
    _fails(lambda: read_fits(path), path, rf"^no image data; HDUs: {listing}$")


def test_unknown_hdu_index_and_name(tmp_path: Path) -> None:
    path = tmp_path / "two.fits"
    sci = fits.ImageHDU(np.zeros((3, 3)), name="SCI")
    fits.HDUList([fits.PrimaryHDU(np.zeros((3, 3))), sci]).writeto(path)
    problem = r"no HDU 5 \(the file has 2\); HDUs: 0 PRIMARY .*1 SCI"
    _fails(lambda: read_fits(path, hdu=5), path, problem)
    _fails(lambda: read_fits(path, hdu="ERR"), path, r"no HDU named 'ERR'")


# --- odd but valid FITS ----------------------------------------------------------------------


def test_nan_only_image_reads(tmp_path: Path) -> None:
    path = tmp_path / "nan.fits"
    fits.PrimaryHDU(np.full((12, 9), np.nan, dtype=np.float32)).writeto(path)
    cutout = read_cutout(path)
    assert cutout.data.shape == (12, 9, 1)
    assert cutout.nan_count == cutout.data.size == 108


def test_one_pixel_fits(tmp_path: Path) -> None:
    path = tmp_path / "dot.fits"
    fits.PrimaryHDU(np.array([[42.5]], dtype=np.float32)).writeto(path)
    cutout = read_cutout(path, max_side=1)
    assert cutout.data.shape == (1, 1, 1) and cutout.data[0, 0, 0] == 42.5


def test_seven_plane_cube(tmp_path: Path) -> None:
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.arange(7 * 6 * 5, dtype=np.float32).reshape(7, 6, 5)).writeto(path)
    cutout = read_cutout(path)
    assert cutout.n_bands == 7
    assert cutout.bands == [f"band{k}" for k in range(7)]
    assert [float(cutout.data[0, 0, k]) for k in range(7)] == [30.0 * k for k in range(7)]


def test_huge_sparse_fits_thumbnail_uses_little_memory(tmp_path: Path) -> None:
    """20000x20000 float32 (1.6 GB of data, none of it on disk) read as a 256-pixel thumbnail."""
    path = tmp_path / "mosaic.fits"
    header = _image_header(20_000, 20_000)
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = 150.0, 2.0
    header["CRPIX1"], header["CRPIX2"] = 10_000.5, 10_000.5
    header["CDELT1"], header["CDELT2"] = -0.03 / 3600, 0.03 / 3600
    _write_header_only(path, header, 20_000 * 20_000 * 4)
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        cutout = read_cutout(path, max_side=256)
    finally:
        done.set()
        sampler.join()
    growth_mb = (max(peak[0], process.memory_info().rss) - baseline) / 1e6
    print(f"RSS growth reading a 20000x20000 thumbnail: {growth_mb:.1f} MB")
    assert growth_mb < 200
    assert cutout.scale == 79 and cutout.data.shape == (254, 254, 1)
    assert np.all(cutout.data == 0)
    expected = WCS(header).all_pix2world([[79 * 100, 79 * 200]], 0)[0]
    np.testing.assert_allclose(cutout.sky_position(100, 200), expected, rtol=0, atol=1e-10)


# --- broken and odd raster images -------------------------------------------------------------


def test_huge_png_is_refused_with_its_size(tmp_path: Path, png_claiming: Callable[..., Path]) -> None:
    path = png_claiming(tmp_path / "huge.png", 20_000, 20_000)
    _fails(
        lambda: read_cutout(path),
        path,
        r"^image is 20000x20000 \(400 MP\), larger than the 179 MP Pillow limit$",
    )


def test_jpeg_with_png_name(tmp_path: Path) -> None:
    path = tmp_path / "galaxy.png"
    Image.new("RGB", (16, 8), (200, 100, 50)).save(path, format="JPEG")
    assert detect_format(path) == "jpeg"
    cutout = read_cutout(path)
    assert cutout.format == "jpeg" and cutout.data.shape == (8, 16, 3)
    assert np.allclose(cutout.data[4, 8], [200, 100, 50], atol=3)


def test_corrupt_jpeg(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "ok.jpg")
    raw = bytearray((tmp_path / "ok.jpg").read_bytes())
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(raw[:4]) + b"\xff\x00garbage" * 50)
    _fails(lambda: read_cutout(path), path, r"^corrupt or truncated image \(")


def test_truncated_png(tmp_path: Path) -> None:
    noise = np.random.default_rng(2).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "ok.png")
    path = tmp_path / "cut.png"
    path.write_bytes((tmp_path / "ok.png").read_bytes()[:5000])
    _fails(lambda: read_cutout(path), path, r"^corrupt or truncated image \(.*truncated")


def test_random_bytes_named_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(3).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    _fails(lambda: read_cutout(path), path, "does not match its JPEG name")


def test_gif_is_not_supported(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    Image.new("L", (4, 4)).save(path)
    _fails(lambda: read_cutout(path), path, r"^not a supported image \(FITS, JPEG, PNG, TIFF\)$")


def test_cmyk_jpeg_reads_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    cutout = read_cutout(path)
    assert cutout.bands == ["R", "G", "B"] and cutout.meta["mode"] == "CMYK"
    assert np.allclose(cutout.data[8, 8], [255, 0, 0], atol=4)


def test_sixteen_bit_png(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[65535, 1]], dtype=np.uint16)).save(path)
    np.testing.assert_array_equal(read_cutout(path).data.ravel(), [65535, 1])


def test_one_pixel_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "dot.jpg"
    Image.new("L", (1, 1), 128).save(path)
    cutout = read_cutout(path, max_side=1)
    assert cutout.data.shape == (1, 1, 1) and abs(float(cutout.data[0, 0, 0]) - 128) <= 1


# --- HDF5 -----------------------------------------------------------------------------------


def test_hdf5_without_images(tmp_path: Path) -> None:
    path = tmp_path / "survey.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("ans", data=np.zeros(3, dtype=np.uint8))
    _fails(lambda: Galaxy10File(path), path, r"no 'images' dataset \(datasets: ans\)")
    _fails(lambda: open_catalog(path), path, "no 'images' dataset")
    _fails(lambda: read_cutout(path), path, "HDF5 file: open it as a catalogue")


def test_text_named_h5(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_text("images")
    _fails(lambda: Galaxy10File(path), path, "not an HDF5 file")


# --- catalogues -----------------------------------------------------------------------------


def test_csv_pointing_at_missing_files(tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_text("path,label\na.fits,x\nsub/b.png,y\n")
    catalog = read_csv_catalog(tmp_path / "list.csv")
    assert catalog.items == []
    assert catalog.skipped == [
        (str(tmp_path / "a.fits"), "file not found"),
        (str(tmp_path / "sub" / "b.png"), "file not found"),
    ]


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.dat").write_bytes(b"\0" * 10)
    catalog = scan_folder(tmp_path)
    assert catalog.items == [] and catalog.classes == []
    assert [Path(path).name for path, _ in catalog.skipped] == ["readme.txt", "data.dat"]
    assert {reason for _, reason in catalog.skipped} == {UNSUPPORTED_FILE}


def test_bad_file_among_good_ones(tmp_path: Path) -> None:
    for k in range(3):
        fits.PrimaryHDU(np.full((4, 4), k, dtype=np.float32)).writeto(tmp_path / f"good{k}.fits")
    (tmp_path / "bad.fits").write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
    catalog = scan_folder(tmp_path)
    names = [item.name for item in catalog.items]
    assert names == ["bad.fits", "good0.fits", "good1.fits", "good2.fits"]
    bad = tmp_path / "bad.fits"
    _fails(lambda: read_item(catalog.items[0]), bad, "truncated FITS file: 130 bytes")
    assert [float(read_item(item).data[0, 0, 0]) for item in catalog.items[1:]] == [0.0, 1.0, 2.0]


def test_text_file_dropped_with_images(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("hello")
    catalog = catalog_from_paths([tmp_path / "notes.txt", tmp_path / "a.png"])
    assert [item.name for item in catalog.items] == ["a.png"]
    assert catalog.skipped == [
        (str(tmp_path / "notes.txt"), "not a supported image (FITS, JPEG, PNG, TIFF, HDF5, CSV)")
    ]
