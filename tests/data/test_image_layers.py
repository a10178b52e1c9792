"""Every image of a FITS file can be picked: extensions by HDU, cubes by plane (#17 §3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.fits import list_image_layers, read_fits
from galaxy_studio.data.formats import read_cutout
from tests.data.fits_makers import write_cube, write_many_hdus


def test_a_100_extension_file_lists_all_100_images(tmp_path: Path) -> None:
    path = write_many_hdus(tmp_path / "mosaic.fits")
    layers = list_image_layers(path)
    assert [layer.hdu for layer in layers] == list(range(1, 101))
    assert all(layer.plane is None for layer in layers)
    assert layers[41].label() == "HDU 42 CCD42 · 8×6"


def test_any_extension_reads_its_own_pixels(tmp_path: Path) -> None:
    path = write_many_hdus(tmp_path / "mosaic.fits")
    assert float(read_fits(path, hdu=73).data.mean()) == 73.0
    assert float(read_fits(path).data.mean()) == 1.0  # the default stays the first image


def test_a_cube_lists_one_layer_per_plane_with_its_band(tmp_path: Path) -> None:
    layers = list_image_layers(write_cube(tmp_path / "cube.fits", planes=5))
    assert [(layer.hdu, layer.plane, layer.band) for layer in layers] == [(0, k, f"F{400 + 50 * k}W") for k in range(5)]
    assert layers[2].label() == "HDU 0 · plane 3: F500W"


def test_one_plane_of_a_cube_is_read_alone(tmp_path: Path) -> None:
    path = write_cube(tmp_path / "cube.fits", planes=5)
    cutout = read_cutout(path, hdu=0, plane=3)
    assert cutout.data.shape == (10, 12, 1)
    assert cutout.bands == ["F550W"]
    assert np.all(cutout.data == 30.0)
    assert cutout.meta["plane"] == 3


def test_a_plane_past_the_end_is_refused_with_the_count(tmp_path: Path) -> None:
    path = write_cube(tmp_path / "cube.fits", planes=5)
    with pytest.raises(CutoutError, match="no plane 5: the image has 5 planes"):
        read_fits(path, plane=5)


def test_the_sample_with_four_images_lists_four(samples: Path) -> None:
    layers = list_image_layers(samples / "test_images.fits")
    assert [(layer.hdu, layer.width, layer.height) for layer in layers] == [
        (0, 67, 197),
        (1, 200, 200),
        (2, 39, 39),
        (3, 30, 30),
    ]
