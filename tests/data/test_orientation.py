"""North/east, pixel scale and the RA/Dec grid come from the WCS, never from an assumption (#17 §3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.data.fits import read_fits
from galaxy_studio.data.orientation import compass, pixel_scale_arcsec, sky_grid
from tests.data.fits_makers import PIXEL_SCALE_ARCSEC, sky_wcs, write_sky_image


def expected_display_direction(rotation: float, mirrored: bool, world: tuple[float, float]) -> np.ndarray:
    """Independent of the code under test: invert the CD matrix for a step east (1, 0) or
    north (0, 1) in intermediate world coordinates, then flip y for display (FITS row 0 at the bottom)."""
    step = np.linalg.solve(sky_wcs(rotation, mirrored).wcs.cd, np.array(world, dtype=float))
    step = step / np.hypot(*step)
    return np.array([step[0], -step[1]])


@pytest.mark.parametrize(
    ("rotation", "mirrored"), [(0.0, False), (30.0, False), (-75.0, False), (0.0, True), (120.0, True)]
)
def test_the_compass_points_where_the_wcs_says(tmp_path: Path, rotation: float, mirrored: bool) -> None:
    cutout = read_fits(write_sky_image(tmp_path / "sky.fits", rotation, mirrored))
    arrows = compass(cutout)
    assert arrows is not None
    assert np.allclose(arrows.north, expected_display_direction(rotation, mirrored, (0, 1)), atol=1e-4)
    assert np.allclose(arrows.east, expected_display_direction(rotation, mirrored, (1, 0)), atol=1e-4)
    assert arrows.mirrored == mirrored


def test_north_up_east_left_is_only_claimed_when_true(tmp_path: Path) -> None:
    plain = compass(read_fits(write_sky_image(tmp_path / "plain.fits")))
    turned = compass(read_fits(write_sky_image(tmp_path / "turned.fits", 30.0)))
    flipped = compass(read_fits(write_sky_image(tmp_path / "flipped.fits", 0.0, mirrored=True)))
    assert plain is not None and turned is not None and flipped is not None
    assert plain.north == pytest.approx((0.0, -1.0), abs=1e-6) and plain.east == pytest.approx((-1.0, 0.0), abs=1e-6)
    assert plain.north_up and plain.describe() == "North up, east left"
    assert not turned.north_up
    assert turned.north_angle == pytest.approx(-30.0, abs=0.01)
    assert turned.describe() == "North turned 30° clockwise from up; east is anticlockwise of north, as on the sky"
    assert not flipped.north_up
    assert "mirror image" in flipped.describe()


def test_the_sdss_sample_is_turned_a_quarter_and_not_north_up(samples: Path) -> None:
    arrows = compass(read_fits(samples / "1_15_SDSS_gband.fits"))
    assert arrows is not None
    assert arrows.north == pytest.approx((1.0, 0.0), abs=1e-3)  # north points right
    assert arrows.east == pytest.approx((0.0, -1.0), abs=1e-3)  # east points up
    assert not arrows.north_up


def test_pixel_scale_in_arcsec_also_for_a_decimated_read(tmp_path: Path) -> None:
    path = write_sky_image(tmp_path / "sky.fits", 30.0, size=256)
    assert pixel_scale_arcsec(read_fits(path)) == pytest.approx(PIXEL_SCALE_ARCSEC, rel=1e-6)
    decimated = read_fits(path, max_side=64)
    assert decimated.scale == 4
    assert pixel_scale_arcsec(decimated) == pytest.approx(PIXEL_SCALE_ARCSEC, rel=1e-6)


def test_no_wcs_means_no_compass_no_scale_no_grid(samples: Path) -> None:
    cutout = read_fits(samples / "test_images.fits")
    assert cutout.wcs is None
    assert compass(cutout) is None and pixel_scale_arcsec(cutout) is None and sky_grid(cutout) == []


def test_grid_lines_lie_on_round_ra_and_dec(tmp_path: Path) -> None:
    cutout = read_fits(write_sky_image(tmp_path / "sky.fits", 30.0))
    lines = sky_grid(cutout)
    decs = [line for line in lines if line.axis == "dec"]
    ras = [line for line in lines if line.axis == "ra"]
    assert 2 <= len(decs) <= 6 and 2 <= len(ras) <= 6
    for line in lines:
        finite = line.points[np.isfinite(line.points).all(axis=1)]
        assert len(finite) >= 2
        data_xy = np.column_stack([finite[:, 0], cutout.height - 1 - finite[:, 1]])
        ra, dec = cutout.wcs.all_pix2world(data_xy[:, 0], data_xy[:, 1], 0)
        along = dec if line.axis == "dec" else ra
        assert np.allclose(along, line.value_deg, atol=1e-7)
        step_arcsec = 5.0 if line.axis == "dec" else 7.5  # 17" field: 5" in Dec, 0.5 s of time in RA
        assert (line.value_deg * 3600 / step_arcsec) == pytest.approx(round(line.value_deg * 3600 / step_arcsec))
    assert decs[0].label.startswith("+02°") and ras[0].label.startswith("10h00m")
