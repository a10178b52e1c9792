"""Procedural Galaxy10 galaxies: determinism, morphology by the numbers, colours, and the demo set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from PIL import Image

from galaxy_studio import paths
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.data.synthetic import BANDS, MARKER, ensure_demo_set, make_galaxy, write_demo_set
from galaxy_studio.events import Cancelled, CancelToken, Progressed

CLASS = {name: index for index, name in enumerate(GALAXY10_CLASSES)}
SPIRALS = ("Barred Spiral", "Unbarred Tight Spiral", "Unbarred Loose Spiral")
SEEDS = range(8)


def galaxy(name: str, size: int, seed: int) -> np.ndarray:
    return make_galaxy(CLASS[name], size, np.random.default_rng(seed))


def sky_sigma(plane: np.ndarray) -> float:
    """Robust noise estimate: the galaxy covers a minority of the pixels."""
    return float(1.4826 * np.median(np.abs(plane - np.median(plane))))


def galaxy_pixels(plane: np.ndarray, threshold: float = 3.0) -> np.ndarray:
    """The connected region above `threshold` sigma that holds the brightest pixel near the
    centre: the galaxy without the field stars, grown by repeated 4-neighbour dilation."""
    size = plane.shape[0]
    above = plane > threshold * sky_sigma(plane)
    box = slice(int(0.4 * size), int(0.6 * size) + 1)
    seed = np.unravel_index(np.argmax(plane[box, box]), plane[box, box].shape)
    region = np.zeros_like(above)
    region[seed[0] + box.start, seed[1] + box.start] = True
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= above
        if np.array_equal(grown, region):
            return region
        region = grown


def shape_of(image: np.ndarray) -> tuple[float, float]:
    """(centroid distance from the centre as a fraction of the size, axis ratio from second
    moments) of the galaxy's r-band light."""
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    r = image[:, :, 1]
    w = np.where(galaxy_pixels(r), r, 0.0)
    total = w.sum()
    cx, cy = (w * xx).sum() / total, (w * yy).sum() / total
    dx, dy = xx - cx, yy - cy
    cov = np.array([[(w * dx * dx).sum(), (w * dx * dy).sum()], [(w * dx * dy).sum(), (w * dy * dy).sum()]])
    low, high = np.linalg.eigvalsh(cov / total)
    return float(np.hypot(cx, cy) / size), float(np.sqrt(low / high))


def median_axis_ratio(name: str) -> float:
    return float(np.median([shape_of(galaxy(name, 64, seed))[1] for seed in SEEDS]))


@pytest.mark.parametrize("index", range(len(GALAXY10_CLASSES)))
def test_same_seed_same_galaxy_other_seed_other_galaxy(index: int) -> None:
    first = make_galaxy(index, 32, np.random.default_rng(11))
    again = make_galaxy(index, 32, np.random.default_rng(11))
    other = make_galaxy(index, 32, np.random.default_rng(12))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("size", [16, 33, 64])
def test_every_class_gives_finite_float32_grz_of_the_requested_size(size: int) -> None:
    for index in range(len(GALAXY10_CLASSES)):
        image = make_galaxy(index, size, np.random.default_rng(index))
        assert image.shape == (size, size, 3)
        assert image.dtype == np.float32
        assert np.isfinite(image).all()


def test_sky_is_subtracted_and_z_is_the_noisiest_band() -> None:
    image = galaxy("Round Smooth", 96, 3)
    corners = np.concatenate([image[:12, :12].reshape(-1, 3), image[-12:, -12:].reshape(-1, 3)])
    noise = corners.std(axis=0)
    assert np.all(np.abs(np.median(corners, axis=0)) < 0.5 * noise)
    assert noise[2] > noise[1] > noise[0]


def test_the_galaxy_stands_far_above_the_noise() -> None:
    image = galaxy("Unbarred Tight Spiral", 64, 5)
    r = image[:, :, 1]
    assert r.max() > 20.0 * r[:10, :10].std()


@pytest.mark.parametrize("name", [n for n in GALAXY10_CLASSES if n != "Merging"])
def test_single_galaxies_are_centred(name: str) -> None:
    offsets = [shape_of(galaxy(name, 64, seed))[0] for seed in SEEDS]
    assert max(offsets) < 0.06, offsets
    assert np.median(offsets) < 0.04


def second_nucleus(image: np.ndarray) -> tuple[float, float]:
    """(distance as a fraction of the size, brightness relative to the first) of the brightest
    r-band peak outside the brightest one."""
    r = image[:, :, 1]
    size = r.shape[0]
    first = np.unravel_index(np.argmax(r), r.shape)
    yy, xx = np.mgrid[0:size, 0:size]
    masked = np.where(np.hypot(yy - first[0], xx - first[1]) > 0.06 * size, r, -np.inf)
    second = np.unravel_index(np.argmax(masked), r.shape)
    separation = np.hypot(first[0] - second[0], first[1] - second[1]) / size
    return float(separation), float(r[second] / r[first])


def test_merging_pairs_have_two_separated_nuclei() -> None:
    pairs = [second_nucleus(galaxy("Merging", 96, seed)) for seed in SEEDS]
    singles = [second_nucleus(galaxy("Round Smooth", 96, seed)) for seed in SEEDS]
    assert np.median([separation for separation, _ in pairs]) > 0.12
    assert np.median([contrast for _, contrast in pairs]) > 0.3
    assert np.median([contrast for _, contrast in singles]) < 0.2


def test_axis_ratios_order_round_in_between_cigar_and_edge_on_discs_are_thin() -> None:
    round_, between, cigar = (
        median_axis_ratio(n) for n in ("Round Smooth", "In-between Round Smooth", "Cigar Shaped Smooth")
    )
    bare, bulged = median_axis_ratio("Edge-on without Bulge"), median_axis_ratio("Edge-on with Bulge")
    assert round_ > 0.85
    assert 0.45 < between < 0.75
    assert cigar < 0.35
    assert round_ > between + 0.2 > cigar + 0.4
    assert bare < 0.18 and bare < cigar - 0.08
    assert bulged < 0.45


def central_thickening(image: np.ndarray) -> float:
    """Minor-axis half-width of the galaxy at its centre over the same half-width 0.12 of the
    size out along the major axis: a bulge makes the middle of an edge-on disc stand out."""
    r = image[:, :, 1]
    size = r.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    w = np.clip(r, 0.0, None)
    cov = np.array([[(w * xx * xx).sum(), (w * xx * yy).sum()], [(w * xx * yy).sum(), (w * yy * yy).sum()]])
    _, vectors = np.linalg.eigh(cov)
    major, minor = vectors[:, 1], vectors[:, 0]
    along = xx * major[0] + yy * major[1]
    across = np.abs(xx * minor[0] + yy * minor[1])
    bright = galaxy_pixels(r, threshold=5.0)
    centre = across[bright & (np.abs(along) < 0.03 * size)].max()
    outer = across[bright & (np.abs(np.abs(along) - 0.12 * size) < 0.02 * size)].max()
    return float(centre / max(outer, 1.0))


def test_edge_on_with_bulge_is_thicker_in_the_middle_than_without() -> None:
    with_bulge = np.median([central_thickening(galaxy("Edge-on with Bulge", 96, s)) for s in SEEDS])
    without = np.median([central_thickening(galaxy("Edge-on without Bulge", 96, s)) for s in SEEDS])
    assert with_bulge > 1.4 * without


@pytest.mark.parametrize("name", SPIRALS)
def test_spiral_discs_are_bluer_than_their_cores(name: str) -> None:
    """g/z flux ratio: the red bulge in the core, young blue arms further out."""
    size = 96
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    radius = np.hypot(xx, yy)
    core, outer = radius < 0.04 * size, (radius > 0.12 * size) & (radius < 0.3 * size)
    images = np.stack([galaxy(name, size, seed) for seed in SEEDS])
    g, z = images[..., 0], images[..., 2]
    core_colour = g[:, core].sum() / z[:, core].sum()
    outer_colour = g[:, outer].sum() / z[:, outer].sum()
    assert outer_colour > 1.3 * core_colour


def test_ellipticals_are_redder_than_spiral_arms() -> None:
    def g_over_z(name: str) -> float:
        images = np.stack([galaxy(name, 64, seed) for seed in SEEDS])
        return float(images[..., 0].clip(0).sum() / images[..., 2].clip(0).sum())

    assert g_over_z("Unbarred Loose Spiral") > 1.3 * g_over_z("Round Smooth")


def test_make_galaxy_rejects_unknown_classes_and_tiny_sizes() -> None:
    with pytest.raises(ValueError, match="class_index"):
        make_galaxy(10, 32, np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        make_galaxy(0, 8, np.random.default_rng(0))


def test_write_demo_set_jpeg_writes_per_class_files_per_class_folder(tmp_path: Path) -> None:
    events: list[object] = []
    written = write_demo_set(tmp_path / "demo", per_class=2, size=32, emit=events.append)
    assert len(written) == 20
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(GALAXY10_CLASSES)
    for name in GALAXY10_CLASSES:
        files = sorted((tmp_path / "demo" / name).iterdir())
        assert [f.name for f in files] == ["00000.jpg", "00001.jpg"]
        with Image.open(files[0]) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (32, 32)
    progress = [e for e in events if isinstance(e, Progressed)]
    assert [e.done for e in progress] == list(range(1, 21))
    assert {(e.total, e.what) for e in progress} == {(20, "demo galaxies")}


def test_demo_jpegs_show_a_dark_sky_red_cores_and_blue_arms(tmp_path: Path) -> None:
    write_demo_set(tmp_path, per_class=5, size=64)
    yy, xx = np.mgrid[0:64, 0:64] - 31.5
    radius = np.hypot(xx, yy)
    for name in ("Round Smooth", *SPIRALS):
        cores, arms = [], []
        for path in sorted((tmp_path / name).glob("*.jpg")):
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB")).astype(float)
            corners = np.concatenate([rgb[:8, :8].reshape(-1, 3), rgb[-8:, -8:].reshape(-1, 3)])
            assert corners.mean() < 30, f"{path}: the sky should be dark"
            core = rgb[radius < 2.5].mean(axis=0)
            assert core.max() > 120, f"{path}: the core should be bright"
            ring = rgb[(radius > 8) & (radius < 16)]
            arm = ring[ring.sum(axis=1) > np.median(ring.sum(axis=1))].mean(axis=0)
            cores.append(core[0] / core[2])
            arms.append(arm[0] / arm[2])
        if name == "Round Smooth":
            assert np.median(cores) > 1.1, "ellipticals should look red (R > B)"
        else:
            assert np.median(arms) < 0.9, f"{name}: arms should look blue (B > R)"
            assert np.median(cores) > 1.3 * np.median(arms), f"{name}: cores should be redder than arms"


def test_write_demo_set_fits_has_grz_extensions_with_a_celestial_tan_wcs(tmp_path: Path) -> None:
    size = 24
    write_demo_set(tmp_path, per_class=1, size=size, fmt="fits", seed=4)
    positions = set()
    for name in GALAXY10_CLASSES:
        files = list((tmp_path / name).iterdir())
        assert [f.name for f in files] == ["00000.fits"]
        with fits.open(files[0]) as hdus:
            assert len(hdus) == 4
            assert hdus[0].data is None
            assert hdus[0].header["CLASS"] == name
            assert name in hdus[0].header["OBJECT"]
            assert [h.name.lower() for h in hdus[1:]] == list(BANDS)
            planes = []
            for hdu, band in zip(hdus[1:], BANDS):
                assert hdu.header["BAND"] == band
                assert hdu.data.dtype == np.dtype(">f4") and hdu.data.shape == (size, size)
                wcs = WCS(hdu.header)
                assert wcs.has_celestial and wcs.wcs.ctype[0] == "RA---TAN" and wcs.wcs.ctype[1] == "DEC--TAN"
                assert np.allclose(proj_plane_pixel_scales(wcs) * 3600.0, 0.262)
                assert np.allclose(wcs.wcs.crpix, (size + 1) / 2.0)
                (ra_left, _), (ra_right, _) = wcs.all_pix2world([[0, 12], [1, 12]], 0)
                assert ((ra_left - ra_right + 180.0) % 360.0 - 180.0) > 0, "RA must increase to the left"
                planes.append(np.asarray(hdu.data, np.float32))
            assert np.isfinite(planes).all() and not np.array_equal(planes[0], planes[2])
            positions.add(tuple(np.round(WCS(hdus[1].header).wcs.crval, 6)))
            assert -90.0 <= WCS(hdus[1].header).wcs.crval[1] <= 90.0
    assert len(positions) == len(GALAXY10_CLASSES), "each galaxy gets its own sky position"
    again = tmp_path / "again"
    write_demo_set(again, per_class=1, size=size, fmt="fits", seed=4)
    relative = Path("Merging") / "00000.fits"
    with fits.open(tmp_path / relative) as a, fits.open(again / relative) as b:
        assert np.array_equal(a["r"].data, b["r"].data)
        assert a["r"].header["CRVAL1"] == b["r"].header["CRVAL1"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"fmt": "png"}, "format"), ({"per_class": 0}, "per_class"), ({"size": 15}, "size")],
)
def test_write_demo_set_rejects_bad_parameters(tmp_path: Path, kwargs: dict, problem: str) -> None:
    arguments = {"per_class": 1, "size": 32, **kwargs}
    with pytest.raises(ValueError, match=problem):
        write_demo_set(tmp_path, **arguments)
    assert not any(tmp_path.iterdir())


def test_write_demo_set_stops_when_cancelled(tmp_path: Path) -> None:
    cancel = CancelToken()

    def cancel_after_three(event: object) -> None:
        if isinstance(event, Progressed) and event.done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        write_demo_set(tmp_path, per_class=2, size=16, emit=cancel_after_three, cancel=cancel)
    assert len(list(tmp_path.rglob("*.jpg"))) == 3
    assert not list(tmp_path.rglob("*.partial"))


def file_times(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_ensure_demo_set_builds_once_and_then_reuses_it() -> None:
    folder = ensure_demo_set(per_class=1, size=32)
    assert folder == paths.demo_dir()
    assert len(list(folder.rglob("*.jpg"))) == len(GALAXY10_CLASSES)
    assert json.loads((folder / MARKER).read_text())["per_class"] == 1
    before = file_times(folder)
    assert ensure_demo_set(per_class=1, size=32) == folder
    assert file_times(folder) == before


def test_a_demo_set_in_another_folder_leaves_the_library_demo_alone(tmp_path: Path) -> None:
    """The demo distillation keeps its larger set beside the Library's, so neither demo
    rebuilds the other's galaxies each time the user switches between them."""
    library = ensure_demo_set(per_class=1, size=32)
    before = file_times(library)
    other = ensure_demo_set(per_class=2, size=32, folder=tmp_path / "distill")
    assert other == tmp_path / "distill"
    assert len(list(other.rglob("*.jpg"))) == 2 * len(GALAXY10_CLASSES)
    assert ensure_demo_set(per_class=1, size=32) == library
    assert file_times(library) == before


def test_ensure_demo_set_rebuilds_an_incomplete_or_different_set() -> None:
    folder = ensure_demo_set(per_class=1, size=32)
    old = folder / "Disturbed" / "00000.jpg"
    stray = folder / "Disturbed" / "99999.jpg"
    stray.write_bytes(b"left over from an interrupted run")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    (folder / MARKER).unlink()
    ensure_demo_set(per_class=1, size=32)
    assert old.stat().st_mtime_ns > 1_000_000_000
    assert not stray.exists()
    assert (folder / MARKER).is_file()
    ensure_demo_set(per_class=2, size=32)
    assert len(list(folder.rglob("*.jpg"))) == 2 * len(GALAXY10_CLASSES)
