"""read_raster: real SDSS/Galaxy Zoo JPEGs and every Pillow mode astronomers' files come in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio.data.raster import read_raster


def _gradient(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows * 7 % 256, cols * 3 % 256, (rows + cols) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize(
    ("name", "size"),
    [("img_1_15.jpeg", 512), ("gz-spiral/spirals/101756.jpg", 424)],
)
def test_real_survey_jpegs(samples: Path, name: str, size: int) -> None:
    cutout = read_raster(samples / name)
    with Image.open(samples / name) as image:
        expected = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert cutout.format == "jpeg"
    assert cutout.bands == ["R", "G", "B"]
    assert cutout.data.shape == (size, size, 3)
    np.testing.assert_array_equal(cutout.data, expected)
    assert 0 <= cutout.data.min() and cutout.data.max() <= 255
    assert cutout.wcs is None and cutout.scale == 1


def test_jpeg_named_png_reads_as_jpeg(tmp_path: Path) -> None:
    Image.fromarray(_gradient(32, 40)).save(tmp_path / "actually.png", format="JPEG")
    cutout = read_raster(tmp_path / "actually.png")
    assert cutout.format == "jpeg"
    assert cutout.data.shape == (32, 40, 3)


def test_greyscale_png_keeps_values(tmp_path: Path) -> None:
    grey = (np.arange(60).reshape(6, 10) * 4).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    cutout = read_raster(tmp_path / "grey.png")
    assert cutout.format == "png" and cutout.bands == ["L"]
    assert cutout.meta["stored_dtype"] == "uint8" and cutout.meta["bit_depth"] == 8
    np.testing.assert_array_equal(cutout.data[:, :, 0], grey)


def test_palette_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("P", (4, 2))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putdata([0, 1, 2, 0, 2, 2, 1, 0])
    image.save(tmp_path / "palette.png")
    cutout = read_raster(tmp_path / "palette.png")
    assert cutout.bands == ["R", "G", "B"]
    np.testing.assert_array_equal(cutout.data[0, :, :], [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 0]])


def test_rgba_drops_alpha_and_records_it(tmp_path: Path) -> None:
    rgba = np.zeros((3, 3, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    cutout = read_raster(tmp_path / "alpha.png")
    assert cutout.meta["alpha"] is True
    np.testing.assert_array_equal(cutout.data[1, 1], [10, 20, 30])


def test_grey_with_alpha_gives_one_band(tmp_path: Path) -> None:
    Image.new("LA", (5, 4), (77, 128)).save(tmp_path / "la.png")
    cutout = read_raster(tmp_path / "la.png")
    assert cutout.bands == ["L"] and cutout.meta["alpha"] is True
    assert np.all(cutout.data == 77)


def test_cmyk_tiff_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    image.save(tmp_path / "cmyk.tiff")
    cutout = read_raster(tmp_path / "cmyk.tiff")
    assert cutout.format == "tiff" and cutout.bands == ["R", "G", "B"]
    np.testing.assert_array_equal(cutout.data[0, 0], [255, 0, 0])


def test_sixteen_bit_png_keeps_native_units(tmp_path: Path) -> None:
    values = np.array([[0, 1, 40000], [65535, 1234, 30000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    cutout = read_raster(tmp_path / "deep.png")
    assert cutout.meta["mode"].startswith("I;16")
    assert cutout.meta["stored_dtype"] == "uint16" and cutout.meta["bit_depth"] == 16
    np.testing.assert_array_equal(cutout.data[:, :, 0], values)


def test_sixteen_bit_big_endian_tiff(tmp_path: Path) -> None:
    values = np.array([[0, 513, 65535]], dtype=">u2")
    Image.frombytes("I;16B", (3, 1), values.tobytes()).save(tmp_path / "be.tif")
    np.testing.assert_array_equal(read_raster(tmp_path / "be.tif").data.ravel(), [0, 513, 65535])


def test_float_tiff_keeps_values(tmp_path: Path) -> None:
    values = np.array([[-1.5, 0.25], [1e6, 3.0]], dtype=np.float32)
    Image.fromarray(values, "F").save(tmp_path / "float.tif")
    cutout = read_raster(tmp_path / "float.tif")
    np.testing.assert_array_equal(cutout.data[:, :, 0], values)
    assert cutout.meta["stored_dtype"] == "float32" and cutout.meta["bit_depth"] == 32


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = _gradient(20, 30)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    image.save(tmp_path / "rotated.png", exif=exif)
    cutout = read_raster(tmp_path / "rotated.png")
    assert cutout.data.shape == (30, 20, 3)
    np.testing.assert_array_equal(cutout.data, np.rot90(pixels, k=-1))
    assert cutout.meta["exif_orientation"] == 6
    assert cutout.meta["full_shape"] == (30, 20)


def test_jpeg_draft_decodes_at_reduced_scale(tmp_path: Path) -> None:
    rows, cols = np.mgrid[0:1536, 0:2048]
    smooth = np.stack([rows / 6, cols / 8, (rows + cols) / 14], axis=-1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "wide.jpg", quality=95)
    thumb = read_raster(tmp_path / "wide.jpg", max_side=256)
    assert thumb.scale == 8
    assert thumb.data.shape == (192, 256, 3)
    block_means = smooth.reshape(192, 8, 256, 8, 3).mean(axis=(1, 3))
    assert np.abs(thumb.data - block_means).mean() < 2.0
    assert thumb.meta["full_shape"] == (1536, 2048)


def test_png_max_side_reduces(tmp_path: Path) -> None:
    Image.fromarray(np.full((900, 600), 200, dtype=np.uint8)).save(tmp_path / "tall.png")
    thumb = read_raster(tmp_path / "tall.png", max_side=100)
    assert thumb.scale == 9 and thumb.data.shape == (100, 67, 1)
    assert np.all(thumb.data == 200)


def test_one_pixel_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "dot.png")
    cutout = read_raster(tmp_path / "dot.png")
    assert cutout.data.shape == (1, 1, 3)
    np.testing.assert_array_equal(cutout.data[0, 0], [1, 2, 3])
