"""Synthetic sets out of the run folder: npz round trip, PNG grids, FITS cube, display pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_studio.distill.export import (
    SyntheticSet,
    display_images,
    export_fits_cube,
    export_png_grids,
    image_grid,
    load_synthetic,
    save_synthetic,
)
from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing

PREP = Preprocessing(size=8, channels="display", mean=(0.5, 0.4, 0.3), std=(0.2, 0.1, 0.25))


def synthetic_set(zca: ZcaWhitening | None = None) -> SyntheticSet:
    images = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)
    return SyntheticSet(images, np.array([0, 0, 1, 1]), ("spiral", "smooth/round"), 0.0123, {"ipc": 2}, PREP, zca)


def test_display_undoes_normalisation_and_zca() -> None:
    # A normalised image of value v shows mean + v * std, scaled to 0..255 and clipped.
    images = np.zeros((1, 3, 2, 2), np.float32)
    images[0, :, 0, 0] = [0.0, 1.0, -10.0]
    pictures = display_images(images, PREP, None)
    assert pictures.shape == (1, 2, 2, 3) and pictures.dtype == np.uint8
    assert list(pictures[0, 0, 0]) == [round(0.5 * 255), round(0.5 * 255), 0]
    rng = np.random.default_rng(1)
    zca = ZcaWhitening.fit(rng.normal(size=(500, 3, 2, 2)).astype(np.float32) * 0.3, epsilon=1e-3)
    np.testing.assert_array_equal(display_images(zca.whiten(images), PREP, zca), pictures)


def test_bands_mode_is_stretched_over_the_set_and_one_band_is_grey() -> None:
    prep = Preprocessing(size=8, channels="bands", bands=("r",), mean=(0.0,), std=(1.0,))
    images = np.linspace(-3, 7, 2 * 64, dtype=np.float32).reshape(2, 1, 8, 8)
    pictures = display_images(images, prep, None)
    assert pictures.shape == (2, 8, 8, 3)
    assert np.array_equal(pictures[..., 0], pictures[..., 2])
    assert pictures.min() == 0 and pictures.max() == 255


def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    zca = ZcaWhitening.fit(rng.normal(size=(300, 3, 8, 8)).astype(np.float32))
    original = synthetic_set(zca)
    save_synthetic(tmp_path / "s.npz", original)
    loaded = load_synthetic(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.images, original.images)
    assert list(loaded.labels) == [0, 0, 1, 1] and loaded.classes == original.classes
    assert loaded.lr == pytest.approx(0.0123) and loaded.config == {"ipc": 2} and loaded.prep == PREP
    np.testing.assert_array_equal(loaded.zca.inverse, zca.inverse)
    with np.load(tmp_path / "s.npz") as stored:
        np.testing.assert_array_equal(stored["display"], original.display())


def test_bad_synthetic_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no synthetic set"):
        load_synthetic(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ModelError, match="junk.npz: not a synthetic set"):
        load_synthetic(tmp_path / "junk.npz")
    broken = synthetic_set()
    broken.images[0, 0, 0, 0] = np.nan
    save_synthetic(tmp_path / "nan.npz", broken)
    with pytest.raises(ModelError, match="nan.npz: the synthetic images hold NaN"):
        load_synthetic(tmp_path / "nan.npz")


def test_png_grids_per_class_and_overview(tmp_path: Path) -> None:
    synthetic = synthetic_set()
    paths = export_png_grids(synthetic, tmp_path / "png", scale=2)
    assert [path.name for path in paths] == ["spiral.png", "smooth_round.png", "all.png"]
    # Two 16 px images with 2 px gaps: 2 + 2 * (16 + 2) = 38 wide, 20 high.
    assert Image.open(paths[0]).size == (38, 20)
    assert Image.open(paths[2]).size == (38, 38)
    grid = np.asarray(Image.open(paths[0]))
    np.testing.assert_array_equal(grid[2:18:2, 2:18:2], synthetic.display()[0])


def test_image_grid_pads_a_last_short_row() -> None:
    grid = image_grid(np.full((3, 4, 4, 3), 200, np.uint8), columns=2)
    assert grid.shape == (2 + 2 * 6, 2 + 2 * 6, 3)
    assert grid[8:12, 8:12].max() == 24


def test_fits_cube_holds_denormalised_images_and_classes(tmp_path: Path) -> None:
    synthetic = synthetic_set()
    export_fits_cube(synthetic, tmp_path / "s.fits")
    with fits.open(tmp_path / "s.fits") as hdus:
        cube = hdus[0].data
        assert cube.shape == (4, 3, 8, 8)
        np.testing.assert_allclose(cube[1, 2], synthetic.images[1, 2] * 0.25 + 0.3, rtol=1e-6)
        assert hdus[0].header["CLASS1"] == "smooth/round" and hdus[0].header["LR"] == pytest.approx(0.0123)
        assert list(hdus["LABELS"].data["LABEL"]) == [0, 0, 1, 1]
