"""Where north and east point in an image, its pixel scale, and RA/Dec grid lines.

Only a celestial WCS can say these: a FITS file with no WCS has no "north", and a
survey cutout is often rotated or mirrored, so the viewer draws what the WCS says
instead of assuming north up. Directions and grid points are in display
coordinates: x to the right, y down, as `render_rgb` draws the image (FITS rows
flipped so the first row is at the bottom).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import origin_lower

NORTH_UP_TOLERANCE_DEG = 1.0
GRID_SAMPLES = 96
# Grid spacings to choose from, in arcseconds: Dec in round arcseconds, minutes and
# degrees; RA in round seconds, minutes and hours of time (1 s of time is 15").
_DEC_STEPS_ARCSEC = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000, 108000)
_RA_STEPS_ARCSEC = tuple(15 * s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200))


@dataclass(frozen=True)
class Compass:
    """Unit vectors of north and east on screen (display coordinates, y down)."""

    north: tuple[float, float]
    east: tuple[float, float]

    @property
    def north_angle(self) -> float:
        """Degrees from straight up to north, anticlockwise as seen on screen, in (-180, 180]."""
        return math.degrees(math.atan2(-self.north[0], -self.north[1]))

    @property
    def mirrored(self) -> bool:
        """True when east lies clockwise of north: the sky as in a mirror (east right of north up)."""
        return self.north[0] * self.east[1] - self.north[1] * self.east[0] > 0

    @property
    def north_up(self) -> bool:
        """North up and east left, as the sky looks from the ground, within a degree."""
        return abs(self.north_angle) <= NORTH_UP_TOLERANCE_DEG and not self.mirrored

    def describe(self) -> str:
        """ "North up, east left", or how far and which way north is turned, and whether
        east lies on the mirrored side."""
        if self.north_up:
            return "North up, east left"
        angle = self.north_angle
        if abs(angle) <= NORTH_UP_TOLERANCE_DEG:
            turned = "North up"
        else:
            turned = f"North turned {abs(angle):.0f}° {'anticlockwise' if angle > 0 else 'clockwise'} from up"
        if self.mirrored:
            return f"{turned}; east is clockwise of north (a mirror image of the sky)"
        return f"{turned}; east is anticlockwise of north, as on the sky"


@dataclass(frozen=True)
class GridLine:
    """One line of constant RA or Dec: (N, 2) display points, NaN where it leaves the image."""

    axis: str
    value_deg: float
    label: str
    points: np.ndarray


def pixel_scale_arcsec(cutout: Cutout) -> float | None:
    """The file's pixel size on the sky in arcseconds (mean of the two axes), or None
    without a WCS. A decimated cutout reports the full-resolution pixel, as stored."""
    if cutout.wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(cutout.wcs)
    return float(np.mean(np.abs(scales))) * 3600.0 / cutout.scale


def _display_xy(cutout: Cutout, data_xy: np.ndarray) -> np.ndarray:
    """Data pixel (x, row) to display (x, y down)."""
    out = np.array(data_xy, dtype=float)
    if origin_lower(cutout):
        out[..., 1] = cutout.height - 1 - out[..., 1]
    return out


def _world_to_display(cutout: Cutout, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        x, y = cutout.wcs.all_world2pix(ra, dec, 0)
    return _display_xy(cutout, np.stack([x, y], axis=-1))


def compass(cutout: Cutout) -> Compass | None:
    """North and east at the image centre, or None when there is no celestial WCS."""
    if cutout.wcs is None:
        return None
    centre = ((cutout.width - 1) / 2, (cutout.height - 1) / 2)
    ra, dec = cutout.wcs.all_pix2world([centre], 0)[0]
    step = (pixel_scale_arcsec(cutout) or 1.0) * cutout.scale / 3600.0 * 10
    points = _world_to_display(
        cutout,
        np.array([ra, ra, ra + step / max(math.cos(math.radians(dec)), 1e-6)]),
        np.array([dec, min(dec + step, 90.0), dec]),
    )
    origin, north_point, east_point = points
    return Compass(_unit(north_point - origin), _unit(east_point - origin))


def _unit(vector: np.ndarray) -> tuple[float, float]:
    length = float(np.hypot(*vector))
    return (float(vector[0] / length), float(vector[1] / length)) if length > 0 else (0.0, 0.0)


def _nice_step(span_deg: float, target_lines: int, steps_arcsec: tuple[float, ...]) -> float:
    """The grid spacing (degrees) that gives at most about `target_lines` lines over `span_deg`."""
    wanted = span_deg * 3600.0 / max(target_lines, 1)
    for step in steps_arcsec:
        if step >= wanted:
            return step / 3600.0
    return steps_arcsec[-1] / 3600.0


def _ra_label(ra: float, step: float) -> str:
    from astropy.coordinates import Angle

    precision = 0 if step * 3600 >= 15 else 1
    return str(Angle(ra % 360.0, unit="deg").to_string(unit="hourangle", sep="hms", precision=precision, pad=True))


def _dec_label(dec: float, step: float) -> str:
    from astropy.coordinates import Angle

    precision = 0 if step * 3600 >= 1 else 1
    text = Angle(dec, unit="deg").to_string(
        unit="deg", sep=("°", "′", "″"), precision=precision, alwayssign=True, pad=True
    )
    return str(text)


def sky_grid(cutout: Cutout, target_lines: int = 4) -> list[GridLine]:
    """Lines of constant RA and Dec across the image at round spacings (empty without a WCS).

    The RA/Dec range is taken from a coarse sampling of the whole image, with RA
    measured from the centre so that images across RA 0h do not span 360 degrees.
    """
    if cutout.wcs is None:
        return []
    xs = np.linspace(-0.5, cutout.width - 0.5, 17)
    ys = np.linspace(-0.5, cutout.height - 0.5, 17)
    gx, gy = np.meshgrid(xs, ys)
    ra, dec = cutout.wcs.all_pix2world(gx.ravel(), gy.ravel(), 0)
    ra0 = float(cutout.wcs.all_pix2world([[(cutout.width - 1) / 2, (cutout.height - 1) / 2]], 0)[0][0])
    offset = (ra - ra0 + 180.0) % 360.0 - 180.0
    dec_low, dec_high = float(np.nanmin(dec)), float(np.nanmax(dec))
    off_low, off_high = float(np.nanmin(offset)), float(np.nanmax(offset))
    dec_step = _nice_step(dec_high - dec_low, target_lines, _DEC_STEPS_ARCSEC)
    ra_step = _nice_step(off_high - off_low, target_lines, _RA_STEPS_ARCSEC)
    lines: list[GridLine] = []
    dec_path = np.linspace(dec_low, dec_high, GRID_SAMPLES)
    for value in _multiples(ra0 + off_low, ra0 + off_high, ra_step):
        points = _world_to_display(cutout, np.full(GRID_SAMPLES, value), dec_path)
        lines.append(GridLine("ra", value % 360.0, _ra_label(value, ra_step), _inside(cutout, points)))
    ra_path = np.linspace(ra0 + off_low, ra0 + off_high, GRID_SAMPLES)
    for value in _multiples(dec_low, dec_high, dec_step):
        points = _world_to_display(cutout, ra_path, np.full(GRID_SAMPLES, value))
        lines.append(GridLine("dec", value, _dec_label(value, dec_step), _inside(cutout, points)))
    return [line for line in lines if np.isfinite(line.points).any()]


def _multiples(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step)
    return [k * step for k in range(first, math.floor(high / step) + 1)]


def _inside(cutout: Cutout, points: np.ndarray) -> np.ndarray:
    """Points outside the image (with half a pixel of margin) become NaN, so lines stop at its edge."""
    x, y = points[:, 0], points[:, 1]
    outside = ~((x >= -0.5) & (x <= cutout.width - 0.5) & (y >= -0.5) & (y <= cutout.height - 0.5))
    out = points.copy()
    out[outside] = np.nan
    return out
