"""inspect --layers/--details/--hdu/--slice and render --slice/--colormap/--limits (#17 §3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio.cli import main
from galaxy_studio.data.colormaps import colormap_table
from tests.data.fits_makers import write_cube, write_many_hdus, write_sky_image


def test_inspect_layers_lists_every_hdu_with_the_flags_to_pick_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_many_hdus(tmp_path / "mosaic.fits", count=100)
    assert main(["inspect", "--layers", "--hdu", "42", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("--hdu ") == 100
    assert "HDU 100 CCD100 · 8×6" in out
    assert out.splitlines()[-1].endswith("6x8x1  float32  bands band0  101 HDUs")


def test_inspect_slice_reads_one_cube_plane_counted_from_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_cube(tmp_path / "cube.fits", planes=5)
    assert main(["inspect", "--layers", str(path)]) == 0
    assert "HDU 0 · plane 3: F500W" in capsys.readouterr().out
    assert main(["inspect", "--details", "--slice", "3", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Image layer  HDU 0, plane 3 (F500W)" in out


def test_inspect_details_says_pixel_scale_or_no_wcs(
    tmp_path: Path, samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "--details", str(write_sky_image(tmp_path / "sky.fits", 30.0))]) == 0
    out = capsys.readouterr().out
    assert "Pixel scale  0.262″/px" in out
    assert "Orientation  North turned 30° clockwise from up" in out
    assert main(["inspect", "--details", str(samples / "test_images.fits")]) == 0
    assert "World coordinates  none:" in capsys.readouterr().out


def test_render_a_cube_plane_in_a_colour_map_with_limits(tmp_path: Path) -> None:
    path = write_cube(tmp_path / "cube.fits", planes=5)
    out = tmp_path / "plane.png"
    args = ["render", str(path), "--slice", "4", "--colormap", "viridis", "--stretch", "linear", "--limits", "0,60"]
    assert main([*args, "--out", str(out)]) == 0
    rgb = np.asarray(Image.open(out))
    assert tuple(rgb[0, 0]) == tuple(colormap_table("viridis")[128])  # plane 4 holds 30: half of 0..60


def test_a_slice_below_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_cube(tmp_path / "cube.fits")
    assert main(["render", str(path), "--slice", "0", "--out", str(tmp_path / "x.png")]) != 0
    assert "counts cube planes from 1" in capsys.readouterr().err
