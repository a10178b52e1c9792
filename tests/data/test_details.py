"""The Details tab says in words what was read and how it sits on the sky (#17 §3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from galaxy_studio.data.details import detail_rows
from galaxy_studio.data.fits import read_fits
from tests.data.fits_makers import write_cube, write_sky_image


def rows_of(cutout: object) -> dict[str, str]:
    return dict(detail_rows(cutout))  # type: ignore[arg-type]


def test_a_wcs_image_reports_pixel_scale_orientation_and_field(tmp_path: Path) -> None:
    rows = rows_of(read_fits(write_sky_image(tmp_path / "sky.fits", 30.0)))
    assert rows["Pixel scale"] == "0.262″/px"
    assert rows["Orientation"] == "North turned 30° clockwise from up; east is anticlockwise of north, as on the sky"
    assert rows["Field of view"] == "0.28′ × 0.28′"
    assert rows["Image layer"] == "HDU 0"
    assert rows["Stored as"] == "32-bit floating point"


def test_no_wcs_is_said_in_words(samples: Path) -> None:
    rows = rows_of(read_fits(samples / "test_images.fits"))
    assert rows["World coordinates"].startswith("none:")
    assert "Pixel scale" not in rows and "Orientation" not in rows


def test_a_cube_plane_and_combined_bands_are_named(tmp_path: Path) -> None:
    assert rows_of(read_fits(write_cube(tmp_path / "cube.fits"), plane=1))["Image layer"] == "HDU 0, plane 2 (F450W)"
    combined = tmp_path / "gri.fits"
    bands = [fits.ImageHDU(np.zeros((8, 8), np.float32), fits.Header({"FILTER": band})) for band in ("g", "r", "i")]
    fits.HDUList([fits.PrimaryHDU(), *bands]).writeto(combined)
    assert rows_of(read_fits(combined))["Image layer"] == "HDUs 1, 2, 3 combined as bands g, r, i"


def test_no_raw_keys_reach_the_user(tmp_path: Path) -> None:
    text = "\n".join(f"{label} {value}" for label, value in detail_rows(read_fits(write_cube(tmp_path / "c.fits"))))
    for raw in ("hdus_used", "full_shape", "stored_dtype", "hdu_name", "float32"):
        assert raw not in text
