"""read_fits on real survey files and on FITS layouts written here: bands, cubes, scaling, WCS."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from galaxy_studio.data import decimation
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.decimation import decimation_step
from galaxy_studio.data.fits import count_hdus, list_hdus, read_fits


def _tan_header(width: int, height: int, *, cd: bool = True) -> fits.Header:
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = 150.1, 2.2
    header["CRPIX1"], header["CRPIX2"] = width / 3 + 0.5, height / 4 + 0.25
    if cd:
        header["CD1_1"], header["CD1_2"] = -7.0e-5, 1.2e-5
        header["CD2_1"], header["CD2_2"] = 1.1e-5, 7.0e-5
    else:
        header["CDELT1"], header["CDELT2"] = -7.0e-5, 7.0e-5
        header["PC1_1"], header["PC1_2"] = 0.98, 0.17
        header["PC2_1"], header["PC2_2"] = -0.17, 0.98
    return header


def _assert_wcs_on_decimated_grid(full: WCS, decimated: WCS, step: int) -> None:
    """Decimated pixel (i, j) must show the sky of full-resolution pixel (step*i, step*j)."""
    pixels = np.array([[0, 0], [3, 7], [10, 2], [17, 19]], dtype=float)
    expected = full.all_pix2world(pixels * step, 0)
    got = decimated.all_pix2world(pixels, 0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["1_15_SDSS_gband.fits", "4_100000_SDSS_gband.fits"])
def test_sdss_gband_centre_matches_catalogue_position(samples: Path, name: str) -> None:
    rows = {
        Path(row["fits"]).name: row for row in csv.DictReader((samples / "galaxies_fits.csv").open(encoding="utf-8"))
    }
    cutout = read_fits(samples / name)
    assert cutout.format == "fits"
    assert cutout.data.dtype == np.float32
    assert cutout.data.shape[2] == 1
    assert (cutout.height, cutout.width) == fits.getdata(samples / name).shape
    ra, dec = cutout.centre_sky_position()
    catalogue = SkyCoord(float(rows[name]["ra"]) * u.deg, float(rows[name]["dec"]) * u.deg)
    offset = SkyCoord(ra * u.deg, dec * u.deg).separation(catalogue).arcsec
    assert offset < 2.0


def test_sdss_pixels_equal_astropy_data(samples: Path) -> None:
    cutout = read_fits(samples / "1_15_SDSS_gband.fits")
    expected = fits.getdata(samples / "1_15_SDSS_gband.fits")
    np.testing.assert_array_equal(cutout.data[:, :, 0], expected)
    assert cutout.header["NAXIS1"] == 455
    assert cutout.meta["stored_dtype"] == "float32"
    assert cutout.wcs.pixel_shape == (455, 455)


def test_m51_integer_data_comes_back_in_physical_units(samples: Path) -> None:
    cutout = read_fits(samples / "M51.fits")
    with fits.open(samples / "M51.fits") as hdul:
        assert hdul[0].header["BITPIX"] == 16
        expected = hdul[0].data.astype(np.float32)
    assert cutout.data.dtype == np.float32
    np.testing.assert_array_equal(cutout.data[:, :, 0], expected)
    assert cutout.wcs is None
    assert cutout.scale == 1
    assert cutout.meta["stored_dtype"] == "int16"


def test_bscale_bzero_and_blank_are_applied(tmp_path: Path) -> None:
    raw = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.5, 1000.0, -6
    hdu.writeto(tmp_path / "scaled.fits")
    data = read_fits(tmp_path / "scaled.fits").data[:, :, 0]
    expected = raw * 0.5 + 1000.0
    expected[raw == -6] = np.nan
    np.testing.assert_array_equal(data, expected.astype(np.float32))


def test_unsigned_16_bit_keeps_full_range(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.array([[0, 40000, 65535]], dtype=np.uint16)).writeto(tmp_path / "u16.fits")
    np.testing.assert_array_equal(read_fits(tmp_path / "u16.fits").data.ravel(), [0, 40000, 65535])


def test_band_hdus_are_combined_in_file_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    planes = [rng.normal(size=(20, 30)).astype(np.float32) for _ in range(3)]
    g = fits.ImageHDU(planes[0])
    g.header["FILTER"] = "g DECam SDSS c0001 4720.0 1520.0"
    r = fits.ImageHDU(planes[1])
    r.header["BAND"] = "r"
    i = fits.ImageHDU(planes[2])
    i.header["EXTNAME"] = "i"  # lower-case on purpose: SDSS i is not Johnson I
    fits.HDUList([fits.PrimaryHDU(), g, r, i]).writeto(tmp_path / "gri.fits")
    cutout = read_fits(tmp_path / "gri.fits")
    assert cutout.bands == ["g", "r", "i"]
    assert cutout.meta["hdus_used"] == [1, 2, 3]
    for k in range(3):
        np.testing.assert_array_equal(cutout.data[:, :, k], planes[k])


def test_hst_filter_names_combine(tmp_path: Path) -> None:
    hdus = [fits.PrimaryHDU()]
    for name in ("F435W", "F606W", "F814W"):
        hdu = fits.ImageHDU(np.zeros((8, 8), dtype=np.float32))
        hdu.header["FILTER"] = name
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(tmp_path / "acs.fits")
    assert read_fits(tmp_path / "acs.fits").bands == ["F435W", "F606W", "F814W"]


@pytest.mark.parametrize(
    "layout",
    [
        [("SCI", None, (10, 10)), ("WHT", None, (10, 10))],  # not band names
        [("SCI", "r", (10, 10)), ("WHT", "r", (10, 10))],  # same band twice
        [("A", "g", (10, 10)), ("B", "r", (12, 10))],  # different shapes
    ],
)
def test_hdus_that_are_not_a_band_set_give_the_first_image(
    tmp_path: Path, layout: list[tuple[str, str | None, tuple[int, int]]]
) -> None:
    hdus = [fits.PrimaryHDU()]
    for k, (name, band, shape) in enumerate(layout):
        hdu = fits.ImageHDU(np.full(shape, k + 1, dtype=np.float32), name=name)
        if band:
            hdu.header["FILTER"] = band
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(tmp_path / "pair.fits")
    cutout = read_fits(tmp_path / "pair.fits")
    assert cutout.n_bands == 1
    assert cutout.meta["hdus_used"] == [1]
    assert np.all(cutout.data == 1)


def test_explicit_hdu_by_index_and_name(tmp_path: Path) -> None:
    fits.HDUList(
        [
            fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32)),
            fits.ImageHDU(np.ones((5, 6), dtype=np.float32), name="SCI"),
            fits.ImageHDU(np.full((7, 3), 2, dtype=np.float32), name="WHT"),
        ]
    ).writeto(tmp_path / "sci.fits")
    assert read_fits(tmp_path / "sci.fits").data.shape == (4, 4, 1)
    by_index = read_fits(tmp_path / "sci.fits", hdu=2)
    assert by_index.data.shape == (7, 3, 1) and np.all(by_index.data == 2)
    by_name = read_fits(tmp_path / "sci.fits", hdu="sci")
    assert by_name.data.shape == (5, 6, 1) and by_name.meta["hdu_name"] == "SCI"


def test_cube_band_names_from_keywords(tmp_path: Path) -> None:
    cube = np.stack([np.full((6, 9), k, dtype=np.float32) for k in range(3)])
    hdu = fits.PrimaryHDU(cube)
    for k, name in enumerate(("u", "g", "r"), start=1):
        hdu.header[f"BAND{k}"] = name
    hdu.writeto(tmp_path / "cube.fits")
    cutout = read_fits(tmp_path / "cube.fits")
    assert cutout.data.shape == (6, 9, 3)
    assert cutout.bands == ["u", "g", "r"]
    assert [float(cutout.data[0, 0, k]) for k in range(3)] == [0.0, 1.0, 2.0]


def test_cube_band_names_from_spectral_axis(tmp_path: Path) -> None:
    hdu = fits.PrimaryHDU(np.zeros((3, 4, 4), dtype=np.float32))
    hdu.header["CTYPE3"], hdu.header["CUNIT3"] = "WAVE", "Angstrom"
    hdu.header["CRVAL3"], hdu.header["CRPIX3"], hdu.header["CDELT3"] = 4770.0, 1.0, 1450.0
    hdu.writeto(tmp_path / "wave.fits")
    assert read_fits(tmp_path / "wave.fits").bands == [
        "WAVE 4770 Angstrom",
        "WAVE 6220 Angstrom",
        "WAVE 7670 Angstrom",
    ]


def test_cube_without_names_gets_numbered_bands(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.zeros((4, 5, 5), dtype=np.float32)).writeto(tmp_path / "plain.fits")
    assert read_fits(tmp_path / "plain.fits").bands == ["band0", "band1", "band2", "band3"]


def test_degenerate_axes_are_squeezed(tmp_path: Path) -> None:
    image = np.arange(30, dtype=np.float32).reshape(5, 6)
    fits.PrimaryHDU(image[np.newaxis, np.newaxis]).writeto(tmp_path / "radio.fits")
    cutout = read_fits(tmp_path / "radio.fits")
    np.testing.assert_array_equal(cutout.data[:, :, 0], image)
    assert "note" not in cutout.meta


def test_four_dimensional_data_uses_the_first_plane_and_says_so(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    fits.PrimaryHDU(data).writeto(tmp_path / "stokes.fits")
    cutout = read_fits(tmp_path / "stokes.fits")
    assert cutout.data.shape == (4, 5, 3)
    np.testing.assert_array_equal(np.moveaxis(cutout.data, 2, 0), data[0])
    assert "first plane" in cutout.meta["note"] and "5x4x3x2" in cutout.meta["note"]


def test_gzip_fits_reads_like_the_plain_file(tmp_path: Path, samples: Path) -> None:
    with (samples / "100610.img.fits").open("rb") as src:
        with gzip.open(tmp_path / "g.fits.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    plain = read_fits(samples / "100610.img.fits")
    packed = read_fits(tmp_path / "g.fits.gz")
    np.testing.assert_array_equal(packed.data, plain.data)
    assert packed.centre_sky_position() == plain.centre_sky_position()
    thumb = read_fits(tmp_path / "g.fits.gz", max_side=20)
    assert thumb.scale == 6
    np.testing.assert_array_equal(thumb.data, plain.data[::6, ::6])


@pytest.mark.parametrize("name", ["tiles.fits.fz", "tiles.fz"])
def test_tile_compressed_full_and_decimated(tmp_path: Path, name: str) -> None:
    data = np.random.default_rng(2).integers(-5000, 5000, (300, 260)).astype(np.int32)
    header = _tan_header(260, 300)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=header, tile_shape=(16, 16))]).writeto(
        tmp_path / name
    )
    full = read_fits(tmp_path / name)
    np.testing.assert_array_equal(full.data[:, :, 0], data)
    thumb = read_fits(tmp_path / name, max_side=40)
    assert thumb.scale == 8
    np.testing.assert_array_equal(thumb.data[:, :, 0], data[::8, ::8])
    _assert_wcs_on_decimated_grid(WCS(header), thumb.wcs, 8)


@pytest.mark.parametrize("cd", [True, False])
def test_decimated_read_matches_strided_data_and_wcs(tmp_path: Path, cd: bool) -> None:
    data = np.random.default_rng(3).normal(size=(700, 530)).astype(np.float32)
    header = _tan_header(530, 700, cd=cd)
    fits.PrimaryHDU(data, header=header).writeto(tmp_path / "big.fits")
    thumb = read_fits(tmp_path / "big.fits", max_side=100)
    assert thumb.scale == 7
    assert thumb.data.shape == (100, 76, 1)
    np.testing.assert_array_equal(thumb.data[:, :, 0], data[::7, ::7])
    _assert_wcs_on_decimated_grid(WCS(header), thumb.wcs, 7)
    assert thumb.wcs.pixel_shape == (76, 100)
    assert thumb.meta["full_shape"] == (700, 530)
    assert "note" not in thumb.meta


def test_decimated_wcs_keeps_sip_distortion(tmp_path: Path) -> None:
    header = _tan_header(400, 400)
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    header["A_ORDER"], header["B_ORDER"] = 2, 2
    header["A_2_0"], header["A_1_1"], header["A_0_2"] = 2.0e-5, -1.0e-5, 3.0e-6
    header["B_2_0"], header["B_1_1"], header["B_0_2"] = -4.0e-6, 1.5e-5, 2.5e-5
    image = fits.PrimaryHDU(np.zeros((400, 400), dtype=np.float32), header=header)
    image.writeto(tmp_path / "sip.fits")
    thumb = read_fits(tmp_path / "sip.fits", max_side=50)
    assert thumb.scale == 8 and thumb.wcs.sip is not None
    _assert_wcs_on_decimated_grid(WCS(header), thumb.wcs, 8)


def test_image_up_to_twice_max_side_is_read_in_full(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.zeros((200, 150), dtype=np.float32)).writeto(tmp_path / "small.fits")
    cutout = read_fits(tmp_path / "small.fits", max_side=100)
    assert cutout.scale == 1 and cutout.data.shape == (200, 150, 1)


def test_pixel_cap_decimates_and_notes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decimation, "MAX_PIXELS", 10_000)
    data = np.arange(300 * 250, dtype=np.float32).reshape(300, 250)
    fits.PrimaryHDU(data).writeto(tmp_path / "capped.fits")
    cutout = read_fits(tmp_path / "capped.fits")
    assert cutout.scale == 3
    assert cutout.meta["note"] == "shown decimated by 3 (image is 250x300)"
    np.testing.assert_array_equal(cutout.data[:, :, 0], data[::3, ::3])


def test_decimation_step_numbers() -> None:
    assert decimation_step(20000, 20000, 256) == (79, None)
    assert decimation_step(20000, 20000, None) == (2, "shown decimated by 2 (image is 20000x20000)")
    assert decimation_step(512, 512, 256) == (1, None)
    assert decimation_step(513, 100, 256) == (3, None)
    assert decimation_step(30000, 30000, 20000) == (
        3,
        "shown decimated by 3 (image is 30000x30000)",
    )


def test_nan_and_inf_are_kept(tmp_path: Path) -> None:
    data = np.ones((4, 4), dtype=np.float32)
    data[0, 0], data[1, 1], data[2, 2] = np.nan, np.inf, -np.inf
    fits.PrimaryHDU(data).writeto(tmp_path / "holes.fits")
    cutout = read_fits(tmp_path / "holes.fits")
    assert cutout.nan_count == 3
    assert np.isposinf(cutout.data[1, 1, 0]) and np.isneginf(cutout.data[2, 2, 0])


def test_list_hdus_of_real_multi_extension_file(samples: Path) -> None:
    listing = list_hdus(samples / "test_images.fits")
    assert [entry["shape"] for entry in listing] == [(197, 67), (200, 200), (39, 39), (30, 30)]
    assert [entry["kind"] for entry in listing] == ["PrimaryHDU"] + ["ImageHDU"] * 3
    assert count_hdus(samples / "test_images.fits") == 4
    assert read_fits(samples / "test_images.fits").data.shape == (197, 67, 1)
    assert read_fits(samples / "test_images.fits", hdu=2).data.shape == (39, 39, 1)


def test_count_hdus_of_a_100_hdu_file(tmp_path: Path) -> None:
    hdus = [fits.PrimaryHDU(np.zeros((3, 3), dtype=np.float32))]
    hdus += [fits.ImageHDU(np.full((3, 4), k, dtype=np.float32)) for k in range(1, 100)]
    column = fits.Column(name="x", format="E", array=np.arange(5))
    hdus.append(fits.BinTableHDU.from_columns([column]))
    fits.HDUList(hdus).writeto(tmp_path / "many.fits")
    assert count_hdus(tmp_path / "many.fits") == 101
    listing = list_hdus(tmp_path / "many.fits")
    assert listing[-1] == {"index": 100, "name": "", "kind": "BinTableHDU", "shape": (5,)}
    assert read_fits(tmp_path / "many.fits", hdu=57).data[0, 0, 0] == 57


def test_hst_stamp_has_celestial_wcs(samples: Path) -> None:
    cutout = read_fits(samples / "100610.img.fits")
    header = fits.getheader(samples / "100610.img.fits")
    with pytest.warns(FITSFixedWarning):
        expected = WCS(header).celestial.all_pix2world([[51.0, 51.0]], 0)[0]
    np.testing.assert_allclose(cutout.sky_position(51.0, 51.0), expected, atol=1e-12)


def test_header_without_celestial_axes_gives_no_wcs(tmp_path: Path) -> None:
    hdu = fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32))
    hdu.header["CTYPE1"], hdu.header["CTYPE2"] = "LINEAR", "LINEAR"
    hdu.writeto(tmp_path / "linear.fits")
    assert read_fits(tmp_path / "linear.fits").wcs is None


def test_broken_wcs_keywords_give_no_wcs(tmp_path: Path) -> None:
    hdu = fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32))
    hdu.header["CTYPE1"], hdu.header["CTYPE2"] = "RA---XYZ", "DEC--XYZ"
    hdu.header["CRVAL1"] = "not a number"
    hdu.writeto(tmp_path / "badwcs.fits")
    cutout = read_fits(tmp_path / "badwcs.fits")
    assert cutout.wcs is None and cutout.data.shape == (4, 4, 1)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32)).writeto(tmp_path / "one.fits")
    with pytest.raises(CutoutError, match=r"one\.fits: no HDU 3 \(the file has 1\)"):
        read_fits(tmp_path / "one.fits", hdu=3)
