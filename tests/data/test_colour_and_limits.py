"""Colour maps, the user's own limits, the histogram under them, and why Auto chose its stretch (#17 §3)."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_studio.data.colormaps import COLORMAPS, apply_colormap, colormap_table
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import (
    DisplaySettings,
    display_limits,
    explain_auto,
    pixel_histogram,
    render_rgb,
)


def ramp_cutout(fmt: str = "fits") -> Cutout:
    """A 4x256 image whose columns run 0..255."""
    data = np.tile(np.arange(256, dtype=np.float32), (4, 1))[:, :, np.newaxis]
    return Cutout(data=data, bands=["r"], source="ramp.fits", format=fmt)


def test_the_menu_offers_ds9_style_maps() -> None:
    for name in ("grey", "viridis", "inferno", "cubehelix", "heat", "cool"):
        assert name in COLORMAPS


def test_viridis_runs_from_dark_purple_to_yellow() -> None:
    table = colormap_table("viridis")
    assert table.shape == (256, 3)
    assert tuple(table[0]) == (68, 1, 84)
    assert tuple(table[-1]) == (253, 231, 37)


def test_a_colour_map_colours_a_single_band() -> None:
    settings = DisplaySettings(stretch="linear", interval="minmax", colormap="inferno")
    rgb = render_rgb(ramp_cutout(), settings)
    assert rgb.shape == (4, 256, 3)
    assert np.array_equal(rgb[0], colormap_table("inferno"))
    grey = render_rgb(ramp_cutout(), settings.with_changes(colormap="grey"))
    assert np.array_equal(grey[0, :, 0], grey[0, :, 1])


def test_inverting_a_colour_map_runs_it_backwards() -> None:
    settings = DisplaySettings(stretch="linear", interval="minmax", colormap="heat", invert=True)
    rgb = render_rgb(ramp_cutout(), settings)
    assert np.array_equal(rgb[0], colormap_table("heat")[::-1])


def test_apply_colormap_clips_and_blanks_nan() -> None:
    out = apply_colormap(np.array([[-1.0, np.nan, 2.0]]), "viridis")
    assert np.array_equal(out[0], colormap_table("viridis")[[0, 0, 255]])


def test_user_limits_replace_the_interval() -> None:
    settings = DisplaySettings(stretch="linear", interval="minmax", limits=(64.0, 192.0))
    assert display_limits(ramp_cutout(), settings) == [(64.0, 192.0)]
    rgb = render_rgb(ramp_cutout(), settings)
    assert rgb[0, 64, 0] == 0 and rgb[0, 0, 0] == 0
    assert rgb[0, 192, 0] == 255 and rgb[0, 255, 0] == 255
    assert rgb[0, 128, 0] == 128


def test_limits_must_be_ordered_and_finite() -> None:
    with pytest.raises(ValueError, match="low below high"):
        DisplaySettings(limits=(5.0, 5.0))
    with pytest.raises(ValueError, match="colour map"):
        DisplaySettings(colormap="rainbow-unicorn")


def test_the_histogram_counts_every_sampled_pixel_and_spans_the_limits() -> None:
    cutout = ramp_cutout()
    histogram = pixel_histogram(cutout, DisplaySettings(limits=(-100.0, 400.0)), bins=64)
    assert histogram.counts.sum() == cutout.data.size
    assert len(histogram.edges) == 65
    assert histogram.edges[0] < -100.0 and histogram.edges[-1] > 400.0


def test_the_histogram_ignores_one_hot_pixel_for_its_range() -> None:
    data = np.random.default_rng(0).normal(0.0, 1.0, (100, 100, 1)).astype(np.float32)
    data[0, 0, 0] = 1e6
    cutout = Cutout(data=data, bands=["g"], source="x.fits", format="fits")
    histogram = pixel_histogram(cutout, DisplaySettings(interval="99%"))
    assert histogram.edges[-1] < 100.0


def test_auto_explains_asinh_for_fits_and_as_stored_for_jpeg() -> None:
    fits_text = explain_auto(ramp_cutout("fits"))
    assert "asinh" in fits_text and "99.5%" in fits_text
    rgb = Cutout(data=np.zeros((4, 4, 3), np.float32), bands=["R", "G", "B"], source="a.jpg", format="jpeg")
    jpeg_text = explain_auto(rgb)
    assert "8-bit JPEG" in jpeg_text and "as stored" in jpeg_text


def test_auto_explains_which_filter_goes_in_red() -> None:
    data = np.zeros((4, 4, 3), np.float32)
    cutout = Cutout(data=data, bands=["g", "r", "i"], source="gri.fits", format="fits")
    assert "i, r, g (reddest filter in red)" in explain_auto(cutout)
