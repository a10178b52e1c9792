"""The Galaxy10 DECaLS reader on small files written with the real file's layout."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from galaxy_studio.data.catalog import open_catalog
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.galaxy10 import (
    GALAXY10_CLASSES,
    Galaxy10File,
    is_galaxy10,
    open_galaxy10,
)

Writer = Callable[..., tuple[Path, dict[str, np.ndarray]]]


def test_class_names_are_the_galaxy10_decals_ones() -> None:
    assert len(GALAXY10_CLASSES) == 10
    assert GALAXY10_CLASSES[0] == "Disturbed"
    assert GALAXY10_CLASSES[5] == "Barred Spiral"
    assert GALAXY10_CLASSES[9] == "Edge-on with Bulge"


def test_labels_pixels_and_meta(galaxy10_file: Writer) -> None:
    path, arrays = galaxy10_file()
    file = Galaxy10File(path)
    assert len(file) == 5
    assert file.image_shape == (256, 256, 3)
    np.testing.assert_array_equal(file.labels(), arrays["ans"])
    cutout = file.read(1)
    assert cutout.format == "galaxy10"
    assert cutout.bands == ["R", "G", "B"]
    assert cutout.data.dtype == np.float32
    np.testing.assert_array_equal(cutout.data, arrays["images"][1])
    assert cutout.meta["label"] == "Barred Spiral"
    assert cutout.meta["label_index"] == 5
    assert cutout.meta["index"] == 1
    assert cutout.meta["ra"] == pytest.approx(210.92)
    assert cutout.meta["dec"] == pytest.approx(-1.13)
    assert cutout.meta["redshift"] == pytest.approx(0.05)
    assert cutout.meta["pxscale"] == pytest.approx(0.262)
    assert file.read(2).meta["label"] == "Edge-on with Bulge"


@pytest.mark.parametrize("index", range(5))
def test_centre_pixel_is_the_stored_position(galaxy10_file: Writer, index: int) -> None:
    path, arrays = galaxy10_file()
    cutout = open_galaxy10(path).read(index)
    ra, dec = cutout.centre_sky_position()
    stored = SkyCoord(arrays["ra"][index] * u.deg, arrays["dec"][index] * u.deg)
    assert SkyCoord(ra * u.deg, dec * u.deg).separation(stored).arcsec < 1e-6


def test_wcs_orientation_and_pixel_scale(galaxy10_file: Writer) -> None:
    path, _ = galaxy10_file()
    cutout = open_galaxy10(path).read(0)
    centre = SkyCoord(*cutout.sky_position(127.5, 127.5), unit="deg")
    left = SkyCoord(*cutout.sky_position(117.5, 127.5), unit="deg")
    up = SkyCoord(*cutout.sky_position(127.5, 117.5), unit="deg")
    assert left.ra > centre.ra  # east is to the left
    assert up.dec > centre.dec  # north is towards row 0
    assert centre.separation(left).arcsec == pytest.approx(2.62, rel=1e-4)
    assert centre.separation(up).arcsec == pytest.approx(2.62, rel=1e-4)


def test_decimated_read_keeps_coordinates(galaxy10_file: Writer) -> None:
    path, arrays = galaxy10_file()
    file = open_galaxy10(path)
    full = file.read(3)
    thumb = file.read(3, max_side=64)
    assert thumb.scale == 4 and thumb.data.shape == (64, 64, 3)
    np.testing.assert_array_equal(thumb.data, arrays["images"][3][::4, ::4])
    for x, y in [(0, 0), (10, 50), (63, 7)]:
        np.testing.assert_allclose(thumb.sky_position(x, y), full.sky_position(4 * x, 4 * y), rtol=0, atol=1e-10)


def test_open_galaxy10_reuses_the_open_file(galaxy10_file: Writer) -> None:
    path, _ = galaxy10_file()
    assert open_galaxy10(path) is open_galaxy10(str(path))


def test_rewritten_file_is_reopened(galaxy10_file: Writer) -> None:
    path, _ = galaxy10_file()
    before = open_galaxy10(path)
    replacement = path.with_name("new.h5")
    with h5py.File(replacement, "w") as handle:
        handle.create_dataset("images", data=np.full((2, 8, 8, 3), 9, dtype=np.uint8))
    os.replace(replacement, path)  # as a download or another program would replace it
    after = open_galaxy10(path)
    assert after is not before
    assert len(after) == 2 and np.all(after.read(1).data == 9)


def test_parallel_reads_return_the_right_images(galaxy10_file: Writer) -> None:
    path, arrays = galaxy10_file()
    file = open_galaxy10(path)
    indices = [k % 5 for k in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        cutouts = list(pool.map(file.read, indices))
    for index, cutout in zip(indices, cutouts):
        np.testing.assert_array_equal(cutout.data, arrays["images"][index])


def test_unlabelled_file_without_positions(galaxy10_file: Writer) -> None:
    path, _ = galaxy10_file("bare.h5", labels=False, positions=False)
    file = Galaxy10File(path)
    assert file.labels() is None
    cutout = file.read(0)
    assert cutout.wcs is None
    assert cutout.meta["label"] is None and cutout.meta["ra"] is None


def test_is_galaxy10(galaxy10_file: Writer, tmp_path: Path) -> None:
    path, _ = galaxy10_file()
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("table", data=np.arange(4))
    (tmp_path / "text.h5").write_text("not hdf5")
    assert is_galaxy10(path)
    assert not is_galaxy10(tmp_path / "other.h5")
    assert not is_galaxy10(tmp_path / "text.h5")
    assert not is_galaxy10(tmp_path / "missing.h5")


def test_full_size_file_opens_without_reading_pixels(tmp_path: Path) -> None:
    """17,736 rows like the real file; unwritten chunks mean 3.5 GB of images cost no disk."""
    count = 17_736
    path = tmp_path / "Galaxy10_DECals.h5"
    ans = (np.arange(count) % 10).astype(np.uint8)
    with h5py.File(path, "w") as handle:
        images = handle.create_dataset("images", shape=(count, 256, 256, 3), dtype=np.uint8, chunks=(1, 256, 256, 3))
        images[17_000] = 200
        handle.create_dataset("ans", data=ans)
        handle.create_dataset("ra", data=np.linspace(0, 359, count))
        handle.create_dataset("dec", data=np.linspace(-30, 80, count))
        handle.create_dataset("pxscale", data=np.full(count, 0.262))
    started = time.perf_counter()
    catalog = open_catalog(path)
    elapsed = time.perf_counter() - started
    assert len(catalog.items) == count
    assert catalog.classes == list(GALAXY10_CLASSES)
    assert catalog.items[12_345].label == GALAXY10_CLASSES[5]
    assert catalog.items[12_345].name == "Galaxy10_DECals.h5[12345]"
    assert catalog.items[17_735].dec == pytest.approx(80.0)
    assert elapsed < 5.0  # reading the images would take minutes
    assert np.all(open_galaxy10(path).read(17_000).data == 200)


def test_errors_name_the_file_and_problem(galaxy10_file: Writer, tmp_path: Path) -> None:
    path, _ = galaxy10_file()
    with pytest.raises(CutoutError, match=r"Galaxy10_DECals\.h5: image index 5 out of range"):
        open_galaxy10(path).read(5)
    with pytest.raises(CutoutError, match="out of range"):
        open_galaxy10(path).read(-1)
    with h5py.File(tmp_path / "floats.h5", "w") as handle:
        handle.create_dataset("images", data=np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(CutoutError, match=r"floats\.h5: 'images' is \(2, 8, 8, 3\) float32"):
        Galaxy10File(tmp_path / "floats.h5")
    with h5py.File(tmp_path / "grey.h5", "w") as handle:
        handle.create_dataset("images", data=np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(CutoutError, match="expected \\(N, height, width, 3\\) uint8"):
        Galaxy10File(tmp_path / "grey.h5")
