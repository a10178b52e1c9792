"""Display: stretches, intervals, composites, masking of non-finite pixels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import (
    INTERVALS,
    STRETCHES,
    DisplaySettings,
    auto_bands,
    default_settings,
    fit_into_square,
    interval_limits,
    pixel_readout,
    render_rgb,
)

if TYPE_CHECKING:
    from astropy.wcs import WCS


def gradient_cutout(bands: list[str] | None = None, fmt: str = "png") -> Cutout:
    bands = bands or ["g"]
    ramp = np.linspace(0.0, 100.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    data = np.stack([ramp * (i + 1) for i in range(len(bands))], axis=-1)
    return Cutout(data=data, bands=bands, source="ramp.fits", format=fmt)


@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize("interval", INTERVALS)
def test_every_stretch_and_interval_gives_uint8_rgb_over_the_full_range(stretch: str, interval: str) -> None:
    rgb = render_rgb(gradient_cutout(), DisplaySettings(stretch=stretch, interval=interval))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == 0
    assert rgb[-1, -1, 0] == 255
    assert np.all(np.diff(rgb[:, :, 0].reshape(-1).astype(int)) >= 0), "a stretch must be monotonic"


def test_nonlinear_stretches_brighten_faint_pixels_relative_to_linear() -> None:
    cutout = gradient_cutout()
    mid = {s: int(render_rgb(cutout, DisplaySettings(stretch=s, interval="minmax"))[16, 0, 0]) for s in STRETCHES}
    assert mid["linear"] < mid["sqrt"] < mid["log"]
    assert mid["linear"] < mid["asinh"]


def test_percentile_interval_clips_bright_outliers() -> None:
    data = np.ones((100, 100, 1), np.float32)
    data[:, :50] = 0.0
    data[0, 0] = 1e6
    cutout = Cutout(data, ["g"], "x.fits", "fits")
    linear_minmax = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax"))
    linear_995 = render_rgb(cutout, DisplaySettings(stretch="linear", interval="99.5%"))
    assert linear_minmax[50, 75, 0] == 0
    assert linear_995[50, 75, 0] == 255


def test_nan_and_inf_are_masked_not_propagated() -> None:
    cutout = gradient_cutout()
    cutout.data[10, 10, 0] = np.nan
    cutout.data[20, 20, 0] = np.inf
    rgb = render_rgb(cutout, DisplaySettings(stretch="asinh", interval="zscale"))
    assert rgb[10, 10, 0] == 0 and rgb[20, 20, 0] == 0
    assert rgb[-1, -1, 0] == 255


def test_all_nan_image_renders_black() -> None:
    cutout = Cutout(np.full((8, 8, 1), np.nan, np.float32), ["g"], "nan.fits", "fits")
    assert render_rgb(cutout).max() == 0
    assert interval_limits(cutout.data, "zscale") == (0.0, 1.0)


def test_constant_image_does_not_divide_by_zero() -> None:
    cutout = Cutout(np.full((8, 8, 1), 5.0, np.float32), ["g"], "c.fits", "fits")
    rgb = render_rgb(cutout, DisplaySettings(stretch="log", interval="minmax"))
    assert rgb.dtype == np.uint8 and np.all(rgb == rgb[0, 0])


def test_grz_composite_puts_reddest_band_in_red() -> None:
    data = np.zeros((4, 4, 3), np.float32)
    data[:, :, 2] = 1.0
    cutout = Cutout(data, ["g", "r", "z"], "grz.fits", "fits")
    assert auto_bands(cutout) == (2, 1, 0)
    rgb = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax", linked=True))
    assert rgb[0, 0, 0] == 255 and rgb[0, 0, 2] == 0


def test_lupton_composite_keeps_colour_ratio() -> None:
    data = np.zeros((8, 8, 3), np.float32)
    data[2:6, 2:6] = [1.0, 2.0, 4.0]
    cutout = Cutout(data, ["g", "r", "z"], "grz.fits", "fits")
    rgb = render_rgb(cutout, DisplaySettings(composite="lupton", interval="minmax")).astype(float)
    assert rgb[4, 4, 0] > rgb[4, 4, 1] > rgb[4, 4, 2] > 0
    assert rgb[0, 0].max() == 0


def test_invert_and_band_selection() -> None:
    cutout = gradient_cutout(["g", "r", "z"])
    plain = render_rgb(cutout, DisplaySettings(bands=(1,), stretch="linear", interval="minmax"))
    inverted = render_rgb(cutout, DisplaySettings(bands=(1,), stretch="linear", interval="minmax", invert=True))
    assert np.array_equal(inverted, 255 - plain)
    assert np.array_equal(plain[:, :, 0], plain[:, :, 2]), "one band renders grey"
    with pytest.raises(ValueError, match="out of range"):
        render_rgb(cutout, DisplaySettings(bands=(5,)))


def test_bad_settings_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="asinh"):
        DisplaySettings(stretch="cubic")
    with pytest.raises(ValueError, match="zscale"):
        DisplaySettings(interval="98%")


def test_eight_bit_rasters_default_to_showing_pixels_as_they_are() -> None:
    data = np.random.default_rng(1).integers(0, 256, (16, 16, 3)).astype(np.float32)
    data[0, 0] = [0, 0, 0]
    data[0, 1] = [255, 255, 255]
    jpeg = Cutout(data, ["R", "G", "B"], "x.jpg", "jpeg")
    assert np.array_equal(render_rgb(jpeg, default_settings(jpeg)), data.astype(np.uint8))
    assert default_settings(gradient_cutout(fmt="fits")).stretch == "asinh"


def test_fit_into_square_keeps_aspect_and_pads() -> None:
    rgb = np.full((50, 100, 3), 200, np.uint8)
    square = fit_into_square(rgb, 64, background=0)
    assert square.shape == (64, 64, 3)
    assert square[32, 32, 0] == 200 and square[0, 32, 0] == 0


def tan_wcs(crpix: float) -> WCS:
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [crpix, crpix]
    wcs.wcs.cdelt = [-0.262 / 3600, 0.262 / 3600]
    return wcs


def test_pixel_readout_shows_values_and_sky_position() -> None:
    cutout = gradient_cutout(["g", "r"])
    cutout.wcs = tan_wcs(32.5)
    text = pixel_readout(cutout, 31.5, 31.5)
    assert "g " in text and "r " in text
    assert "RA 10:00:00.00" in text and "Dec +02:00:00.0" in text
    assert pixel_readout(cutout, -5, 3) == ""


def test_fits_is_shown_north_up_and_read_out_in_fits_pixel_convention() -> None:
    data = np.zeros((10, 20, 1), np.float32)
    data[0, 3, 0] = 7.0
    cutout = Cutout(data, ["g"], "flip.fits", "fits")
    cutout.wcs = tan_wcs(1.0)
    rgb = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax"))
    assert rgb[9, 3, 0] == 255 and rgb[0, 3, 0] == 0, "the first stored row is drawn at the bottom"
    text = pixel_readout(cutout, 0, 9)
    assert text.startswith("x 1  y 1") and "RA 10:00:00.00" in text and "Dec +02:00:00.0" in text
    assert "g 7" in pixel_readout(cutout, 3, 9)
    jpeg = Cutout(data, ["L"], "flip.png", "png")
    assert render_rgb(jpeg, DisplaySettings(stretch="linear", interval="minmax"))[0, 3, 0] == 255
    assert pixel_readout(jpeg, 3, 0).startswith("x 3  y 0   L 7")


def test_brightness_and_contrast_act_after_the_stretch() -> None:
    cutout = gradient_cutout()
    base = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax")).astype(int)
    brighter = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax", brightness=0.2)).astype(int)
    steeper = render_rgb(cutout, DisplaySettings(stretch="linear", interval="minmax", contrast=2.0)).astype(int)
    mid = base.shape[0] // 2
    assert abs((brighter[mid, 0, 0] - base[mid, 0, 0]) - 51) <= 1
    assert steeper[0, 0, 0] == 0 and steeper[-1, -1, 0] == 255
    assert steeper[mid // 2, 0, 0] < base[mid // 2, 0, 0]
    with pytest.raises(ValueError, match="contrast"):
        DisplaySettings(contrast=0.0)
