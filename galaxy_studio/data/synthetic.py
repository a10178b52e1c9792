"""Procedural galaxies in the ten Galaxy10 DECaLS classes, for the demo set and for tests.

The real Galaxy10 DECaLS file is 2.5 GB and cannot ship with the app, yet a first-time user
needs a labelled set that looks like survey cutouts to try labelling, training and distilling
within minutes. So each class is drawn from a few physical ingredients (Sersic bulges and
ellipticals, exponential discs, logarithmic spiral arms, bars, dust lanes, tidal tails) with
survey-like colours, seeing and noise. Fluxes are nanomaggies in g, r, z with DECaLS-like
per-pixel noise, so that colours and signal-to-noise mean what they mean in the survey.
Everything scales with the cutout size: a 64 px galaxy looks like a 256 px one, shrunk.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from galaxy_studio import paths
from galaxy_studio.atomic_files import replacing, write_text_atomically
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings, render_rgb
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore

BANDS: tuple[str, ...] = ("g", "r", "z")
PIXEL_SCALE_ARCSEC = 0.262
FORMATS: tuple[str, ...] = ("jpeg", "fits")
MIN_SIZE = 16
MARKER = ".complete"
# Bump when the look of the galaxies changes, so that existing demo sets are rebuilt.
GENERATOR_VERSION = 1

# Per-pixel sky noise (nanomaggies) at DECaLS DR5 depth (5-sigma point sources at
# g 24.0, r 23.4, z 22.5 in ~1.2" seeing): z is the noisiest band.
_SKY_SIGMA = np.array([0.0067, 0.0117, 0.027], dtype=np.float32)
_SKY_COUNTS = 300.0
_READ_NOISE = 6.0
# r-band surface brightness of the brightest 1% of a galaxy's pixels, in units of the sky noise.
_BRIGHTNESS = (15.0, 45.0)
# The legacysurvey.org viewer weights g, r, z by these before its asinh stretch; without
# them z (the brightest band in flux) would paint every galaxy red.
_DISPLAY_WEIGHTS = np.array([6.0, 3.4, 2.2], dtype=np.float32)
# A gentle Lupton asinh keeps cores from burning out white; the 99% interval keeps the sky dark
# whatever fraction of the cutout the galaxy fills, since its brightness is set relative to the noise.
_DISPLAY = DisplaySettings(stretch="asinh", interval="99%", composite="lupton", lupton_q=5.0)
_JPEG_QUALITY = 92
# Dust dims blue light more; a lane is mostly opaque, so it looks dark with a reddish tinge.
_DUST_PER_BAND = np.array([1.0, 0.85, 0.7], dtype=np.float32)


def _colour(g_r: float, r_z: float, rng: np.random.Generator, jitter: float = 0.04) -> np.ndarray:
    """Flux ratios (g, r, z) relative to r for the given AB colours, with a little scatter."""
    g_r += rng.normal(0.0, jitter)
    r_z += rng.normal(0.0, jitter)
    return np.array([10 ** (-0.4 * g_r), 1.0, 10 ** (0.4 * r_z)], dtype=np.float32)


def _old_stars(rng: np.random.Generator) -> np.ndarray:
    return _colour(0.8, 0.6, rng)


def _old_disc(rng: np.random.Generator) -> np.ndarray:
    return _colour(0.68, 0.5, rng)


def _young_disc(rng: np.random.Generator) -> np.ndarray:
    return _colour(0.35, 0.25, rng)


def _star_forming(rng: np.random.Generator) -> np.ndarray:
    return _colour(0.15, 0.05, rng, jitter=0.08)


@dataclass
class _Canvas:
    """Light above the atmosphere, per band: resolved light (profiles and Gaussian blobs) and
    unresolved sources (star-forming knots, stars), kept apart so that the galaxy's brightness
    can be set from its resolved light alone."""

    size: int
    x: np.ndarray = field(init=False)
    y: np.ndarray = field(init=False)
    light: np.ndarray = field(init=False)
    points: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        offsets = np.arange(self.size, dtype=np.float32) - (self.size - 1) / 2.0
        self.x = offsets[None, :]
        self.y = offsets[:, None]
        self.light = np.zeros((3, self.size, self.size), np.float32)
        self.points = np.zeros((3, self.size, self.size), np.float32)

    def frame(self, cx: float, cy: float, theta: float, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in the plane of a disc centred at (cx, cy) pixels from the image centre,
        major axis at angle theta, seen with axis ratio q (q = cos(inclination))."""
        dx, dy = self.x - float(cx), self.y - float(cy)
        c, s, q = math.cos(theta), math.sin(theta), float(q)
        return dx * c + dy * s, (dy * c - dx * s) / q

    def add(self, profile: np.ndarray, colour: np.ndarray) -> None:
        self.light += colour[:, None, None] * profile

    def _scatter(
        self, layer: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, flux: np.ndarray
    ) -> None:
        """layer[:, rows, cols] += weights * flux per band, for (N, ...) stamps; off-image parts dropped."""
        n = self.size
        inside = (rows >= 0) & (rows < n) & (cols >= 0) & (cols < n)
        index = (rows * n + cols)[inside]
        for band in range(3):
            per_band = (weights * flux[:, band].reshape((-1,) + (1,) * (weights.ndim - 1)))[inside]
            layer[band] += np.bincount(index, per_band, minlength=n * n).reshape(n, n).astype(np.float32)

    def add_points(self, px: np.ndarray, py: np.ndarray, flux: np.ndarray) -> None:
        """Unresolved sources at offsets (px, py) from the image centre, flux (N, 3), shared
        bilinearly between four pixels so that positions stay sub-pixel."""
        col = np.asarray(px, np.float64) + (self.size - 1) / 2.0
        row = np.asarray(py, np.float64) + (self.size - 1) / 2.0
        c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        fc, fr = (col - c0)[:, None, None], (row - r0)[:, None, None]
        step = np.array([0, 1])
        weights = np.where(step[:, None] == 1, fr, 1.0 - fr) * np.where(step[None, :] == 1, fc, 1.0 - fc)
        rows = r0[:, None, None] + step[None, :, None]
        cols = c0[:, None, None] + step[None, None, :]
        self._scatter(self.points, rows, cols, weights, flux)

    def add_blobs(self, px: np.ndarray, py: np.ndarray, flux: np.ndarray, sigma: float) -> None:
        """Small round Gaussian sources (clumps, distant galaxies) of width `sigma` pixels, drawn
        as separable stamps so that a few dozen cost almost nothing."""
        half = int(math.ceil(3.5 * sigma))
        steps = np.arange(-half, half + 1)
        col = np.asarray(px, np.float64) + (self.size - 1) / 2.0
        row = np.asarray(py, np.float64) + (self.size - 1) / 2.0
        cols = np.round(col).astype(np.int64)[:, None] + steps
        rows = np.round(row).astype(np.int64)[:, None] + steps
        gx = np.exp(-0.5 * ((cols - col[:, None]) / sigma) ** 2)
        gy = np.exp(-0.5 * ((rows - row[:, None]) / sigma) ** 2)
        gx /= gx.sum(axis=1, keepdims=True)
        gy /= gy.sum(axis=1, keepdims=True)
        weights = gy[:, :, None] * gx[:, None, :]
        self._scatter(
            self.light,
            np.broadcast_to(rows[:, :, None], weights.shape),
            np.broadcast_to(cols[:, None, :], weights.shape),
            weights,
            flux,
        )

    def set_brightness(self, level: float) -> None:
        """Scale all light so the brightest 1% of resolved r-band pixels reach `level`. A galaxy's
        brightness relative to the noise then looks alike whatever its shape and the cutout size."""
        light_r = self.light[1].ravel()
        k = int(0.99 * light_r.size)
        reference = float(np.partition(light_r, k)[k])
        scale = np.float32(level / reference if reference > 0 else 1.0)
        self.light *= scale
        self.points *= scale

    @property
    def total_r(self) -> float:
        return float(self.light[1].sum() + self.points[1].sum())


def _sersic(x: np.ndarray, y: np.ndarray, re: float, n: float) -> np.ndarray:
    """Sersic profile, 1 at the effective radius; radii softened by half a pixel so that the
    n~4 cusp does not put an arbitrary fraction of the light into the central pixel."""
    b = 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)
    r2 = (x * x + y * y + 0.25) / (re * re)
    return np.exp(-b * (np.power(r2, 0.5 / n) - 1.0))


def _bulge(x: np.ndarray, y: np.ndarray, re: float, n: float) -> np.ndarray:
    """Sersic profile normalised to 1 at the centre, so that a bulge's brightness relative to
    its disc does not swing by orders of magnitude with n."""
    return _sersic(x, y, re, n) * math.exp(-(2.0 * n - 1.0 / 3.0))


def _exponential(x: np.ndarray, y: np.ndarray, h: float) -> np.ndarray:
    return np.exp(-np.sqrt(x * x + y * y + 0.25) / h)


def _sech2(t: np.ndarray) -> np.ndarray:
    """sech^2, the vertical light profile of an isothermal disc, written so float32 cannot overflow."""
    e = np.exp(-2.0 * np.abs(t))
    return 4.0 * e / (1.0 + e) ** 2


def _onset(radius: np.ndarray, start: float) -> np.ndarray:
    """0 inside `start`, rising to 1 just outside: where arms and tails begin."""
    return 1.0 / (1.0 + np.exp(-(radius - start) / (0.15 * start)))


def _log_spiral(
    radius: np.ndarray,
    phi: np.ndarray,
    *,
    arms: int,
    pitch_deg: float,
    start: float,
    phase: float,
    sense: float,
    sharpness: float,
) -> np.ndarray:
    """Arm pattern in [0, 1]: ridges along phi = phase + ln(R/start)/tan(pitch), one per arm;
    a constant pitch angle is what makes arms 'tight' (small) or 'loose' (large)."""
    wind = np.log(np.maximum(radius, 0.5) / start) * (sense / math.tan(math.radians(pitch_deg)))
    return np.power(0.5 + 0.5 * np.cos(arms * (phi - phase - wind)), sharpness)


def _to_image(
    xd: np.ndarray, yd: np.ndarray, cx: float, cy: float, theta: float, q: float
) -> tuple[np.ndarray, np.ndarray]:
    """Disc-plane positions to pixel offsets from the image centre (inverse of `frame`)."""
    u, v = xd, yd * q
    c, s = np.cos(theta), np.sin(theta)
    return cx + u * c - v * s, cy + u * s + v * c


@dataclass(frozen=True)
class _Disc:
    """A disc galaxy: `h` scale length (px), arms from `arm_start` (px) with `pitch_deg`,
    `bulge` the bulge-to-disc flux ratio, optional bar of semi-major axis `bar` (px)."""

    h: float
    pitch_deg: float
    arms: int
    arm_start: float
    arm_strength: float
    sharpness: float
    bulge: float
    bulge_re: float
    bar: float = 0.0
    knots: int = 0
    ring: bool = False


def _add_disc(
    c: _Canvas, rng: np.random.Generator, spec: _Disc, cx: float, cy: float, theta: float, q: float, amp: float
) -> None:
    """Disc + young arms + knots + bulge (+ bar), all in one inclined plane. The disc is an old,
    compact exponential plus a young, more extended one without a centre: discs grow inside-out
    and bulges and bars have stopped forming stars, which is why spirals get bluer outwards."""
    before = float(c.light[1].sum())
    xd, yd = c.frame(cx, cy, theta, q)
    radius = np.sqrt(xd * xd + yd * yd)
    phi = np.arctan2(yd, xd)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    sense = float(rng.choice((-1.0, 1.0)))
    smooth = amp * (1.0 - 0.5 * spec.arm_strength)
    c.add(0.75 * smooth * _exponential(xd, yd, 0.8 * spec.h), _old_disc(rng))
    young = _exponential(xd, yd, 1.4 * spec.h) * _onset(radius, 0.5 * spec.h)
    c.add(0.25 * smooth * young, _young_disc(rng))
    if spec.arm_strength > 0:
        pattern = _log_spiral(
            radius,
            phi,
            arms=spec.arms,
            pitch_deg=spec.pitch_deg,
            start=spec.arm_start,
            phase=phase,
            sense=sense,
            sharpness=spec.sharpness,
        )
        arms = pattern * _onset(radius, spec.arm_start) * np.exp(-radius / (1.15 * spec.h))
        c.add(amp * 1.6 * spec.arm_strength * arms, _young_disc(rng))
    if spec.bar > 0:
        cb, sb = math.cos(phase), math.sin(phase)
        along, across = xd * cb + yd * sb, (yd * cb - xd * sb) / rng.uniform(0.22, 0.32)
        ferrers = np.clip(1.0 - (along * along + across * across) / spec.bar**2, 0.0, None)
        c.add(amp * rng.uniform(1.8, 2.8) * ferrers, _colour(0.75, 0.55, rng))
    if spec.ring:
        ring = np.exp(-0.5 * ((radius - spec.arm_start) / (0.12 * spec.arm_start)) ** 2)
        c.add(amp * rng.uniform(0.3, 0.6) * ring, _young_disc(rng))
    if spec.knots:
        _add_knots(c, rng, spec, cx, cy, theta, q, amp, phase, sense)
    if spec.bulge > 0:
        disc_flux = float(c.light[1].sum()) - before
        bx, by = c.frame(cx, cy, theta, max(q, rng.uniform(0.75, 0.95)))
        bulge = _sersic(bx, by, spec.bulge_re, rng.uniform(1.5, 3.0))
        c.add(bulge * (spec.bulge * disc_flux / float(bulge.sum())), _old_stars(rng))


def _add_knots(
    c: _Canvas,
    rng: np.random.Generator,
    spec: _Disc,
    cx: float,
    cy: float,
    theta: float,
    q: float,
    amp: float,
    phase: float,
    sense: float,
) -> None:
    """Star-forming regions strung along the arm ridges: small, blue and unresolved."""
    n = spec.knots
    radius = 1.3 * spec.arm_start + rng.exponential(1.1 * spec.h, n)
    arm = rng.integers(0, max(spec.arms, 1), n)
    wind = sense * np.log(radius / spec.arm_start) / np.tan(np.radians(spec.pitch_deg))
    phi = phase + wind + 2.0 * np.pi * arm / max(spec.arms, 1) + rng.normal(0.0, 0.12, n)
    px, py = _to_image(radius * np.cos(phi), radius * np.sin(phi), cx, cy, theta, q)
    brightness = amp * spec.h**2 * 0.025 * rng.lognormal(0.0, 0.7, n) * np.exp(-radius / (2.0 * spec.h))
    colours = np.stack([_star_forming(rng) for _ in range(n)])
    c.add_points(px, py, brightness[:, None] * colours)


def _centre_jitter(size: int, rng: np.random.Generator) -> tuple[float, float]:
    return rng.normal(0.0, 0.006 * size), rng.normal(0.0, 0.006 * size)


def _smooth(
    c: _Canvas,
    rng: np.random.Generator,
    q_range: tuple[float, float],
    n_range: tuple[float, float],
    re_range: tuple[float, float],
) -> None:
    """An early-type galaxy: one red Sersic profile plus a fainter, rounder envelope."""
    cx, cy = _centre_jitter(c.size, rng)
    theta, q = rng.uniform(0.0, np.pi), rng.uniform(*q_range)
    re = c.size * rng.uniform(*re_range)
    x, y = c.frame(cx, cy, theta, q)
    c.add(_sersic(x, y, re, rng.uniform(*n_range)), _old_stars(rng))
    x, y = c.frame(cx, cy, theta, min(1.0, q * 1.15))
    c.add(0.25 * _sersic(x, y, 1.8 * re, 1.0), _colour(0.7, 0.5, rng))


def _round_smooth(c: _Canvas, rng: np.random.Generator) -> None:
    _smooth(c, rng, (0.82, 1.0), (3.5, 5.0), (0.05, 0.09))


def _in_between(c: _Canvas, rng: np.random.Generator) -> None:
    _smooth(c, rng, (0.5, 0.7), (3.0, 4.5), (0.055, 0.09))


def _cigar(c: _Canvas, rng: np.random.Generator) -> None:
    _smooth(c, rng, (0.18, 0.32), (1.5, 3.0), (0.06, 0.1))


def _edge_on(c: _Canvas, rng: np.random.Generator, bulge: bool) -> None:
    """A thin exponential disc seen edge-on (sech^2 vertically), maybe a bulge and a dust lane."""
    cx, cy = _centre_jitter(c.size, rng)
    theta = rng.uniform(0.0, np.pi)
    h = c.size * rng.uniform(0.055, 0.08)
    z0 = h * (rng.uniform(0.12, 0.2) if bulge else rng.uniform(0.08, 0.13))
    u, v = c.frame(cx, cy, theta, 1.0)
    disc = np.exp(-np.sqrt(u * u + (0.4 * h) ** 2) / h) * _sech2(v / z0)
    c.add(disc, _old_disc(rng) if bulge else _young_disc(rng))
    if bulge:
        bx, by = c.frame(cx, cy, theta, rng.uniform(0.7, 0.95))
        c.add(rng.uniform(1.5, 3.5) * _bulge(bx, by, h * rng.uniform(0.4, 0.6), rng.uniform(1.0, 2.0)), _old_stars(rng))
    if rng.random() < (0.75 if bulge else 0.35):
        tau = rng.uniform(1.0, 2.5) if bulge else rng.uniform(0.4, 1.0)
        width = max(0.4 * z0, 0.006 * c.size)
        lane_offset = rng.normal(0.0, 0.5) * width
        lane = np.exp(-0.5 * ((v - lane_offset) / width) ** 2) * np.exp(-np.abs(u) / (2.0 * h))
        c.light *= np.exp(-tau * _DUST_PER_BAND[:, None, None] * lane)


def _edge_on_without_bulge(c: _Canvas, rng: np.random.Generator) -> None:
    _edge_on(c, rng, bulge=False)


def _edge_on_with_bulge(c: _Canvas, rng: np.random.Generator) -> None:
    _edge_on(c, rng, bulge=True)


def _spiral(c: _Canvas, rng: np.random.Generator, *, barred: bool, tight: bool) -> None:
    """Face-on to moderately inclined disc galaxies. Tight spirals (pitch 9-14 deg) carry big
    bulges and wind more than a turn; loose ones (25-35 deg) have small bulges and more knots;
    barred ones start two arms at the ends of the bar."""
    cx, cy = _centre_jitter(c.size, rng)
    h = c.size * rng.uniform(0.075, 0.11)
    fewest, most = (6, 20) if barred else (8, 20) if tight else (15, 35)
    knots = int(rng.integers(fewest, most))
    if barred:
        start = h * rng.uniform(1.0, 1.5)
        spec = _Disc(
            h=h,
            pitch_deg=rng.uniform(12.0, 30.0),
            arms=2,
            arm_start=start,
            arm_strength=rng.uniform(0.6, 0.9),
            sharpness=rng.uniform(3.0, 5.0),
            bulge=rng.uniform(0.06, 0.15),
            bulge_re=0.15 * h,
            bar=start,
            knots=knots,
            ring=rng.random() < 0.35,
        )
    elif tight:
        spec = _Disc(
            h=h,
            pitch_deg=rng.uniform(9.0, 14.0),
            arms=int(rng.choice((2, 2, 3))),
            arm_start=h * rng.uniform(0.5, 0.8),
            arm_strength=rng.uniform(0.55, 0.85),
            sharpness=rng.uniform(3.0, 6.0),
            bulge=rng.uniform(0.3, 0.6),
            bulge_re=0.3 * h,
            knots=knots,
        )
    else:
        spec = _Disc(
            h=h,
            pitch_deg=rng.uniform(25.0, 35.0),
            arms=int(rng.choice((2, 2, 3, 4))),
            arm_start=h * rng.uniform(0.3, 0.5),
            arm_strength=rng.uniform(0.7, 0.95),
            sharpness=rng.uniform(2.5, 4.5),
            bulge=rng.uniform(0.1, 0.25),
            bulge_re=0.25 * h,
            knots=knots,
        )
    # Bars are only recognised in discs seen not too far from face-on.
    q = rng.uniform(0.7, 1.0) if barred else rng.uniform(0.5, 1.0)
    _add_disc(c, rng, spec, cx, cy, rng.uniform(0.0, np.pi), q, 1.0)


def _barred_spiral(c: _Canvas, rng: np.random.Generator) -> None:
    _spiral(c, rng, barred=True, tight=False)


def _unbarred_tight(c: _Canvas, rng: np.random.Generator) -> None:
    _spiral(c, rng, barred=False, tight=True)


def _unbarred_loose(c: _Canvas, rng: np.random.Generator) -> None:
    _spiral(c, rng, barred=False, tight=False)


def _add_tail(
    c: _Canvas,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    start: float,
    length: float,
    direction: float,
    sense: float,
    amp: float,
) -> None:
    """A tidal tail: one very open, fading spiral arm flung out from (cx, cy)."""
    theta, q = rng.uniform(0.0, np.pi), rng.uniform(0.6, 1.0)
    xd, yd = c.frame(cx, cy, theta, q)
    radius = np.sqrt(xd * xd + yd * yd)
    pattern = _log_spiral(
        radius,
        np.arctan2(yd, xd),
        arms=1,
        pitch_deg=rng.uniform(30.0, 50.0),
        start=start,
        phase=direction - theta,
        sense=sense,
        sharpness=rng.uniform(10.0, 25.0),
    )
    fade = _onset(radius, start) * np.exp(-radius / length) * np.exp(-((radius / (2.0 * length)) ** 4))
    c.add(amp * pattern * fade, _young_disc(rng))


def _merging(c: _Canvas, rng: np.random.Generator) -> None:
    """Two overlapping systems, with tidal tails flung away from each other and maybe a bridge."""
    separation = c.size * rng.uniform(0.1, 0.26)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    sense = float(rng.choice((-1.0, 1.0)))
    ratio = rng.uniform(0.4, 1.0)
    offsets = (-separation * ratio / (1 + ratio), separation / (1 + ratio))
    centres = []
    for k, (offset, weight) in enumerate(zip(offsets, (1.0, ratio))):
        cx, cy = offset * math.cos(direction), offset * math.sin(direction)
        centres.append((cx, cy))
        h = c.size * rng.uniform(0.04, 0.07) * math.sqrt(weight)
        theta, q = rng.uniform(0.0, np.pi), rng.uniform(0.45, 1.0)
        if rng.random() < 0.45:
            x, y = c.frame(cx, cy, theta, q)
            c.add(0.3 * weight * _sersic(x, y, h, rng.uniform(2.0, 4.0)), _old_stars(rng))
        else:
            spec = _Disc(
                h=h,
                pitch_deg=rng.uniform(25, 45),
                arms=2,
                arm_start=0.5 * h,
                arm_strength=0.5,
                sharpness=2.0,
                bulge=rng.uniform(0.2, 0.6),
                bulge_re=0.3 * h,
                knots=int(rng.integers(3, 12)),
            )
            _add_disc(c, rng, spec, cx, cy, theta, q, weight)
        if rng.random() < 0.85:
            away = direction + (np.pi if k == 0 else 0.0) + rng.normal(0.0, 0.5)
            _add_tail(
                c, rng, cx, cy, 1.2 * h, c.size * rng.uniform(0.12, 0.22), away, sense, weight * rng.uniform(0.15, 0.35)
            )
    if rng.random() < 0.5:
        (ax, ay), (bx, by) = centres
        dx, dy = bx - ax, by - ay
        t = np.clip(((c.x - ax) * dx + (c.y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        distance2 = (c.x - ax - t * dx) ** 2 + (c.y - ay - t * dy) ** 2
        width = c.size * rng.uniform(0.015, 0.03)
        c.add(rng.uniform(0.05, 0.12) * np.exp(-0.5 * distance2 / width**2), _old_disc(rng))
    if rng.random() < 0.4:
        x, y = c.frame(0.0, 0.0, direction, rng.uniform(0.5, 0.8))
        c.add(0.05 * _sersic(x, y, max(separation, 0.1 * c.size), 1.0), _old_disc(rng))


def _disturbed(c: _Canvas, rng: np.random.Generator) -> None:
    """Asymmetric without a companion: either a clumpy, lopsided star-forming disc or an early
    type with shells and a plume; both keep their brightest light near the centre, as a
    catalogue position would."""
    if rng.random() < 0.7:
        _clumpy_lopsided(c, rng)
    else:
        _shells_and_plume(c, rng)


def _wrapped(angle: np.ndarray) -> np.ndarray:
    """Angle folded into [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _clumpy_lopsided(c: _Canvas, rng: np.random.Generator) -> None:
    h = c.size * rng.uniform(0.06, 0.09)
    theta, q = rng.uniform(0.0, np.pi), rng.uniform(0.45, 1.0)
    lean = rng.uniform(0.0, 2.0 * np.pi)
    shift = h * rng.uniform(0.6, 1.2)
    sx, sy = 0.65 * shift * math.cos(lean), 0.65 * shift * math.sin(lean)
    x, y = c.frame(-0.35 / 0.65 * sx, -0.35 / 0.65 * sy, theta, q)
    c.add(_exponential(x, y, 0.7 * h), _old_disc(rng))
    c.add(2.0 * _bulge(x, y, 0.2 * h, 2.0), _old_stars(rng))
    x, y = c.frame(sx, sy, theta + rng.normal(0.0, 0.5), q * rng.uniform(0.6, 1.0))
    radius, phi = np.sqrt(x * x + y * y), np.arctan2(y, x)
    patchiness = sum(rng.uniform(0.3, 0.8) * np.cos(m * phi + rng.uniform(0.0, 2.0 * np.pi)) for m in (1, 2, 3))
    envelope = _exponential(x, y, 1.2 * h) * np.exp(0.6 * patchiness * np.minimum(radius / h, 2.0))
    c.add(rng.uniform(0.3, 0.6) * envelope, _young_disc(rng))
    n = int(rng.integers(6, 18))
    px, py = sx + rng.normal(0.0, 0.9 * h, n), sy + rng.normal(0.0, 0.9 * h, n)
    flux = h * h * 0.04 * rng.lognormal(0.0, 0.6, n)
    c.add_blobs(
        px, py, flux[:, None] * np.stack([_star_forming(rng) for _ in range(n)]), c.size * rng.uniform(0.008, 0.014)
    )
    if rng.random() < 0.5:
        _add_tail(
            c,
            rng,
            sx,
            sy,
            h,
            c.size * rng.uniform(0.1, 0.18),
            lean + rng.normal(0.0, 0.6),
            float(rng.choice((-1.0, 1.0))),
            rng.uniform(0.1, 0.25),
        )


def _shells_and_plume(c: _Canvas, rng: np.random.Generator) -> None:
    """An early type that swallowed a companion: sharp-edged shells on alternating sides, an
    envelope pulled to one side and a plume."""
    theta, q = rng.uniform(0.0, np.pi), rng.uniform(0.6, 1.0)
    re = c.size * rng.uniform(0.04, 0.065)
    x, y = c.frame(0.0, 0.0, theta, q)
    c.add(_sersic(x, y, re, rng.uniform(3.0, 4.5)), _old_stars(rng))
    radius, phi = np.sqrt(x * x + y * y), np.arctan2(y, x)
    axis = rng.uniform(0.0, 2.0 * np.pi)
    sx, sy = 1.2 * re * math.cos(axis), 1.2 * re * math.sin(axis)
    ex, ey = c.frame(sx, sy, theta, q * rng.uniform(0.7, 1.0))
    c.add(0.3 * _sersic(ex, ey, 2.2 * re, 1.0), _colour(0.7, 0.5, rng))
    for k in range(int(rng.integers(2, 5))):
        shell_r = re * (2.0 + 1.4 * k) * rng.uniform(0.9, 1.1)
        side = axis + np.pi * (k % 2)
        inside = np.exp(-np.clip(shell_r - radius, 0.0, None) / (0.08 * shell_r))
        edge = np.exp(-0.5 * (np.clip(radius - shell_r, 0.0, None) / (0.03 * shell_r)) ** 2)
        arc = inside * edge * np.exp(-0.5 * (_wrapped(phi - side) / rng.uniform(0.5, 0.9)) ** 2)
        c.add(rng.uniform(0.8, 1.4) * math.exp(-shell_r / (3.0 * re)) * arc, _colour(0.7, 0.5, rng))
    plume = axis + np.pi / 2 + rng.normal(0.0, 0.4)
    _add_tail(
        c,
        rng,
        0.0,
        0.0,
        1.5 * re,
        c.size * rng.uniform(0.12, 0.2),
        plume,
        float(rng.choice((-1.0, 1.0))),
        rng.uniform(0.6, 1.0),
    )


_BUILDERS: tuple[Callable[[_Canvas, np.random.Generator], None], ...] = (
    _disturbed,
    _merging,
    _round_smooth,
    _in_between,
    _cigar,
    _barred_spiral,
    _unbarred_tight,
    _unbarred_loose,
    _edge_on_without_bulge,
    _edge_on_with_bulge,
)


def _add_field(c: _Canvas, rng: np.random.Generator) -> None:
    """A few faint stars and distant galaxies, as every survey cutout has; kept to a few percent
    of the galaxy's flux so they never compete with it."""
    total = max(c.total_r, 1e-3)
    n_stars = int(rng.poisson(1.5))
    angle = rng.uniform(0.0, 2.0 * np.pi, n_stars)
    radius = c.size * rng.uniform(0.2, 0.45, n_stars)
    colours = (
        np.stack([_colour(g_r, 0.3 + 0.6 * g_r, rng) for g_r in rng.uniform(0.2, 1.3, n_stars)])
        if n_stars
        else np.zeros((0, 3), np.float32)
    )
    flux = total * 10 ** rng.uniform(-3.5, -1.7, n_stars)
    c.add_points(radius * np.cos(angle), radius * np.sin(angle), flux[:, None] * colours)
    n_far = int(rng.poisson(2.0))
    px, py = rng.uniform(-0.44, 0.44, (2, n_far)) * c.size
    colours = (
        np.stack([_colour(1.2, 0.8, rng, jitter=0.3) for _ in range(n_far)]) if n_far else np.zeros((0, 3), np.float32)
    )
    flux = total * 10 ** rng.uniform(-3.5, -2.2, n_far)
    c.add_blobs(px, py, flux[:, None] * colours, max(0.8, 0.008 * c.size))


def _gaussian_transfer(n: int, sigma: np.ndarray) -> np.ndarray:
    """Fourier transform (rfft2 layout, one plane per sigma) of a unit-flux circular Gaussian;
    separable, so it costs two short vectors and an outer product per plane."""
    fy = np.fft.fftfreq(n).astype(np.float32)
    fx = np.fft.rfftfreq(n).astype(np.float32)
    scale = (-2.0 * np.pi**2 * np.asarray(sigma, np.float32) ** 2)[:, None]
    return np.exp(scale * fy**2)[:, :, None] * np.exp(scale * fx**2)[:, None, :]


def _observe(c: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """Seeing, sky, Poisson and read noise; returns sky-subtracted fluxes (H, W, 3).

    The PSF is a Gaussian core with 20% of the light in Gaussian wings 2.5 times wider (the
    classic double-Gaussian seeing model, close to a Moffat profile), slightly worse in g. Its
    transform is analytic, so convolving costs one forward and one inverse FFT. The FFT wraps
    around; the galaxy is centred and field sources keep clear of the edges, so what wraps is
    faint outer light.
    """
    core = max(1.0, c.size * rng.uniform(0.012, 0.02)) / 2.3548 * np.array([1.08, 1.0, 0.94])
    transfer = 0.8 * _gaussian_transfer(c.size, core) + 0.2 * _gaussian_transfer(c.size, 2.5 * core)
    seen = np.fft.irfft2(np.fft.rfft2(c.light + c.points) * transfer, s=(c.size, c.size))
    sigma = _SKY_SIGMA * rng.uniform(0.8, 1.25)
    gain = (np.sqrt(_SKY_COUNTS + _READ_NOISE**2) / sigma)[:, None, None]
    counts = rng.poisson(_SKY_COUNTS + gain * np.clip(seen, 0.0, None)).astype(np.float32)
    counts += _READ_NOISE * rng.standard_normal(counts.shape, dtype=np.float32)
    image = (counts - np.float32(_SKY_COUNTS)) / gain.astype(np.float32)
    return np.ascontiguousarray(np.moveaxis(image, 0, -1), dtype=np.float32)


def make_galaxy(class_index: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float32 sky-subtracted g, r, z fluxes (nanomaggies) of a random galaxy of
    Galaxy10 class `class_index`, observed with seeing and noise. Deterministic in `rng`'s state."""
    if not 0 <= class_index < len(_BUILDERS):
        raise ValueError(f"class_index must be 0..{len(_BUILDERS) - 1}, got {class_index}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    canvas = _Canvas(size)
    _BUILDERS[class_index](canvas, rng)
    canvas.set_brightness(rng.uniform(*_BRIGHTNESS) * float(_SKY_SIGMA[1]))
    _add_field(canvas, rng)
    return _observe(canvas, rng)


def render_demo_rgb(fluxes: np.ndarray) -> np.ndarray:
    """uint8 RGB the way the Legacy Survey viewer shows g, r, z: band weights, negative sky
    noise clipped to black, then an asinh (Lupton) composite that keeps the colour of bright cores."""
    weighted = np.maximum(fluxes * _DISPLAY_WEIGHTS, 0.0)
    cutout = Cutout(weighted, bands=list(BANDS), source="synthetic", format="synthetic")
    return render_rgb(cutout, _DISPLAY)


def _sky_position(rng: np.random.Generator) -> tuple[float, float]:
    """A random RA/Dec (degrees) within the DECaLS declination range, uniform on the sphere."""
    low, high = np.sin(np.radians(-20.0)), np.sin(np.radians(35.0))
    return float(rng.uniform(0.0, 360.0)), float(np.degrees(np.arcsin(rng.uniform(low, high))))


def _celestial_header(size: int, ra: float, dec: float) -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(size + 1) / 2.0, (size + 1) / 2.0]
    wcs.wcs.cdelt = [-PIXEL_SCALE_ARCSEC / 3600.0, PIXEL_SCALE_ARCSEC / 3600.0]
    wcs.wcs.radesys = "ICRS"
    return wcs.to_header()


def _write_fits(path: Path, fluxes: np.ndarray, class_name: str, index: int, ra: float, dec: float) -> None:
    """Multi-extension FITS: empty primary, then g, r, z. Rows are flipped because FITS puts the
    first row at the bottom, so viewers show the same picture as the JPEG, north up, east left."""
    primary = fits.PrimaryHDU()
    primary.header["OBJECT"] = (f"demo {class_name} {index:05d}", "synthetic galaxy")
    primary.header["CLASS"] = (class_name, "Galaxy10 DECaLS class")
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [primary]
    for b, band in enumerate(BANDS):
        header = _celestial_header(fluxes.shape[0], ra, dec)
        header["BAND"] = (band, "DECam filter")
        header["BUNIT"] = "nanomaggy"
        hdus.append(fits.ImageHDU(np.ascontiguousarray(fluxes[::-1, :, b]), header=header, name=band))
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _write_image(
    path: Path, fluxes: np.ndarray, fmt: str, class_name: str, index: int, rng: np.random.Generator
) -> None:
    """Write under a temporary name and rename, so a file that exists is a whole file."""
    with replacing(path, durable=False) as partial:
        if fmt == "jpeg":
            Image.fromarray(render_demo_rgb(fluxes)).save(partial, format="JPEG", quality=_JPEG_QUALITY)
        else:
            _write_fits(partial, fluxes, class_name, index, *_sky_position(rng))


def write_demo_set(
    out_dir: Path,
    *,
    per_class: int,
    size: int,
    fmt: str = "jpeg",
    seed: int = 0,
    classes: Sequence[str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> list[Path]:
    """Write `per_class` galaxies of each class (of `classes` only, when given) into
    out_dir/<class name>/<index:05d>.jpg|.fits.

    Each image has its own random stream (seed, class, index), so an image does not change
    when `per_class` or `classes` does and any one of them can be regenerated alone.
    """
    unknown = [name for name in classes or () if name not in GALAXY10_CLASSES]
    if unknown:
        raise ValueError(f"no demo class {', '.join(map(repr, unknown))}; choose from {', '.join(GALAXY10_CLASSES)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    suffix = ".jpg" if fmt == "jpeg" else ".fits"
    chosen = [(index, name) for index, name in enumerate(GALAXY10_CLASSES) if classes is None or name in classes]
    total = per_class * len(chosen)
    written: list[Path] = []
    for class_index, class_name in chosen:
        folder = Path(out_dir) / class_name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            cancel.raise_if_set()
            fluxes = make_galaxy(class_index, size, np.random.default_rng((seed, class_index, index)))
            path = folder / f"{index:05d}{suffix}"
            sky_rng = np.random.default_rng((seed, class_index, index, 1))
            _write_image(path, fluxes, fmt, class_name, index, sky_rng)
            written.append(path)
            emit(Progressed(len(written), total, "demo galaxies"))
    return written


def ensure_demo_set(
    per_class: int = 30,
    size: int = 128,
    *,
    folder: Path | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> Path:
    """The JPEG demo set in `folder` (default paths.demo_dir()), built on first use.

    The marker file is written last and records the parameters, so an interrupted build or a
    set made with other parameters (or an older generator) is rebuilt from scratch.
    """
    folder = Path(folder) if folder is not None else paths.demo_dir()
    marker = folder / MARKER
    wanted = json.dumps(
        {"per_class": per_class, "size": size, "fmt": "jpeg", "seed": 0, "generator": GENERATOR_VERSION}, sort_keys=True
    )
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    write_demo_set(folder, per_class=per_class, size=size, fmt="jpeg", seed=0, emit=emit, cancel=cancel)
    write_text_atomically(marker, wanted, durable=False)
    return folder
