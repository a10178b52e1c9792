"""Turn a cutout into display pixels the way astronomers look at them.

Stretch and interval come from astropy.visualization so that what Galaxy Studio shows
matches DS9/astropy conventions. Everything returns uint8 RGB (H, W, 3).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.count_text import counted
from galaxy_studio.data.colormaps import COLORMAPS, GREY, apply_colormap
from galaxy_studio.data.cutout import Cutout

if TYPE_CHECKING:
    from astropy.visualization import BaseInterval, BaseStretch

STRETCHES: tuple[str, ...] = ("linear", "sqrt", "log", "asinh", "histeq")
INTERVALS: tuple[str, ...] = ("minmax", "99.5%", "99%", "95%", "zscale")
COMPOSITES: tuple[str, ...] = ("per-band", "lupton")

HISTOGRAM_BINS = 128
MAX_INTERVAL_SAMPLES = 250_000
HISTEQ_SAMPLES = 20_000

# Approximate effective wavelengths (nm) so composites put the reddest band in red.
_BAND_WAVELENGTH_NM: dict[str, float] = {
    "u": 355,
    "U": 365,
    "B": 445,
    "g": 475,
    "G": 510,
    "V": 551,
    "r": 622,
    "R": 658,
    "i": 763,
    "I": 806,
    "z": 905,
    "y": 1000,
    "Y": 1020,
    "J": 1250,
    "H": 1650,
    "K": 2200,
}


@dataclass(frozen=True)
class DisplaySettings:
    """How to draw a cutout. `bands` picks one (grey) or three (R, G, B) band indices;
    None lets `auto_bands` decide. `linked` uses one interval for all bands (keeps the
    colour balance of already-rendered JPEGs); otherwise each band gets its own.
    `colormap` colours a single-band image (three bands are already colour). `limits`,
    when set, are the user's own (low, high) pixel values and replace `interval`."""

    stretch: str = "asinh"
    interval: str = "99.5%"
    composite: str = "per-band"
    bands: tuple[int, ...] | None = None
    invert: bool = False
    linked: bool = False
    lupton_q: float = 8.0
    brightness: float = 0.0
    contrast: float = 1.0
    colormap: str = GREY
    limits: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.stretch not in STRETCHES:
            raise ValueError(f"unknown stretch {self.stretch!r}; choose from {', '.join(STRETCHES)}")
        if self.interval not in INTERVALS:
            raise ValueError(f"unknown interval {self.interval!r}; choose from {', '.join(INTERVALS)}")
        if self.composite not in COMPOSITES:
            raise ValueError(f"unknown composite {self.composite!r}; choose from {', '.join(COMPOSITES)}")
        if self.bands is not None and len(self.bands) not in (1, 3):
            raise ValueError("bands must name one (grey) or three (R, G, B) band indices")
        if self.colormap not in COLORMAPS:
            raise ValueError(f"unknown colour map {self.colormap!r}; choose from {', '.join(COLORMAPS)}")
        if self.limits is not None and not (
            np.isfinite(self.limits[0]) and np.isfinite(self.limits[1]) and self.limits[0] < self.limits[1]
        ):
            raise ValueError(f"limits must be two finite values, low below high; got {self.limits}")
        if not -1.0 <= self.brightness <= 1.0 or not 0.0 < self.contrast <= 10.0:
            raise ValueError("brightness must lie in [-1, 1] and contrast in (0, 10]")

    def cache_key(self) -> str:
        """Stable text for disk-cache keys."""
        return json.dumps(asdict(self), sort_keys=True)

    def with_changes(self, **changes: Any) -> DisplaySettings:
        return replace(self, **changes)


def default_settings(cutout: Cutout) -> DisplaySettings:
    """Sensible first look (see `default_settings_with_reason`)."""
    return default_settings_with_reason(cutout)[0]


def default_settings_with_reason(cutout: Cutout) -> tuple[DisplaySettings, str]:
    """The first look and why, for a run's record. 8-bit rasters are already rendered, so
    they are shown as they are; scientific data (FITS, 16-bit, float) get an asinh stretch of
    the 99.5% range (the full range where that collapses: a map that is mostly one value)."""
    if cutout.format in {"jpeg", "png", "tiff", "galaxy10"} and cutout.meta.get("bit_depth", 8) == 8:
        return (
            DisplaySettings(stretch="linear", interval="minmax", linked=True),
            "linear over the full range: an 8-bit image is already a rendered picture",
        )
    return DisplaySettings(), "asinh over the 99.5% range of each band (the full range where that collapses)"


def wavelength_order(bands: list[str]) -> list[int] | None:
    """Band indices from reddest to bluest, or None when a band has no known wavelength."""
    known = {i: wave for i, name in enumerate(bands) if (wave := _BAND_WAVELENGTH_NM.get(name.strip())) is not None}
    if len(known) < len(bands):
        return None
    return sorted(known, key=lambda i: -known[i])


def auto_bands(cutout: Cutout) -> tuple[int, ...]:
    """Bands to show when the user has not chosen: grey for one band, colour for three,
    the three reddest-to-bluest known filters for more, else the first band in grey."""
    n = cutout.n_bands
    if n >= 3 and [b.upper() for b in cutout.bands[:3]] == ["R", "G", "B"]:
        return (0, 1, 2)
    order = wavelength_order(cutout.bands)
    if order is not None and n >= 2:
        if n == 2:
            return (order[0], order[0], order[1])
        return tuple(order[:3]) if n == 3 else (order[0], order[n // 2], order[-1])
    if n == 3:
        return (0, 1, 2)
    return (0,)


def _finite_sample(values: np.ndarray) -> np.ndarray:
    """Finite values, subsampled with a regular stride so large images stay fast."""
    flat = values.reshape(-1)
    if flat.size > MAX_INTERVAL_SAMPLES:
        flat = flat[:: int(np.ceil(flat.size / MAX_INTERVAL_SAMPLES))]
    return flat[np.isfinite(flat)]


def _interval(name: str) -> BaseInterval:
    # astropy.visualization loads matplotlib (~0.3 s); imported when the first image is drawn,
    # not when the window starts.
    from astropy.visualization import MinMaxInterval, PercentileInterval, ZScaleInterval

    if name == "minmax":
        return MinMaxInterval()
    if name == "zscale":
        return ZScaleInterval()
    return PercentileInterval(float(name.rstrip("%")))


def _stretch(name: str, sample: np.ndarray) -> BaseStretch:
    from astropy.visualization import AsinhStretch, HistEqStretch, LinearStretch, LogStretch, SqrtStretch

    if name == "linear":
        return LinearStretch()
    if name == "sqrt":
        return SqrtStretch()
    if name == "log":
        return LogStretch()
    if name == "asinh":
        return AsinhStretch(a=0.1)
    reference = sample[:: max(1, sample.size // HISTEQ_SAMPLES)] if sample.size else np.array([0.0, 1.0])
    return HistEqStretch(reference)


def interval_limits(values: np.ndarray, interval: str) -> tuple[float, float]:
    """(vmin, vmax) over finite values. Where the interval collapses (a percentile of a map
    that is mostly one value) the full range is used, so sources keep their shading whatever
    the units; a constant or empty image gets a unit range."""
    sample = _finite_sample(values)
    if sample.size == 0:
        return 0.0, 1.0
    vmin, vmax = _interval(interval).get_limits(sample)
    if not np.isfinite(vmin) or not np.isfinite(vmax) or vmax <= vmin:
        vmin, vmax = float(np.min(sample)), float(np.max(sample))
        if vmax <= vmin:
            return vmin, vmin + 1.0
    return float(vmin), float(vmax)


def _stretch_plane(plane: np.ndarray, limits: tuple[float, float], stretch: str) -> np.ndarray:
    vmin, vmax = limits
    finite = np.isfinite(plane)
    scaled = np.where(finite, (plane - vmin) / (vmax - vmin), 0.0).astype(np.float32)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    transform = _stretch(stretch, scaled[finite])
    ends = transform(np.array([0.0, 1.0], dtype=np.float32), clip=True)
    out = transform(scaled, clip=True)
    if ends[1] > ends[0]:
        out = (out - ends[0]) / (ends[1] - ends[0])
    out[~finite] = 0.0
    return out


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _lupton(planes: list[np.ndarray], settings: DisplaySettings) -> np.ndarray:
    from astropy.visualization import make_lupton_rgb

    vmin, vmax = settings.limits or interval_limits(np.stack(planes, axis=-1), settings.interval)
    clean = [np.where(np.isfinite(p), p, vmin) for p in planes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(*clean, minimum=vmin, stretch=max(vmax - vmin, 1e-12), Q=settings.lupton_q)


def render_rgb(cutout: Cutout, settings: DisplaySettings | None = None) -> np.ndarray:
    """Display pixels (H, W, 3) uint8 for `cutout` under `settings` (default: `default_settings`)."""
    settings = settings or default_settings(cutout)
    planes = _shown_planes(cutout, settings)
    if len(planes) == 1 and settings.colormap != GREY:
        rgb = _coloured(planes[0], settings)
    elif len(planes) == 3 and settings.composite == "lupton":
        rgb = _lupton(planes, settings)
    else:
        limits = display_limits(cutout, settings)
        unit = [_stretch_plane(p, lim, settings.stretch) for p, lim in zip(planes, limits)]
        rgb = _to_uint8(np.stack(unit * 3 if len(unit) == 1 else unit, axis=-1))
    if origin_lower(cutout):
        rgb = rgb[::-1]
    if len(planes) == 1 and settings.colormap != GREY:
        return np.ascontiguousarray(rgb)
    if settings.brightness != 0.0 or settings.contrast != 1.0:
        rgb = adjust_brightness_contrast(rgb, settings.brightness, settings.contrast)
    if settings.invert:
        rgb = 255 - rgb
    return np.ascontiguousarray(rgb)


def _shown_planes(cutout: Cutout, settings: DisplaySettings) -> list[np.ndarray]:
    bands = settings.bands if settings.bands is not None else auto_bands(cutout)
    if any(b < 0 or b >= cutout.n_bands for b in bands):
        raise ValueError(f"band index out of range for {counted(cutout.n_bands, 'band')}: {bands}")
    return [cutout.data[:, :, b] for b in bands]


def _coloured(plane: np.ndarray, settings: DisplaySettings) -> np.ndarray:
    """A single band through a colour map: stretch, screen tweak and inversion act on the
    value before it is coloured (inverting "heat" runs it from white to black, as in DS9)."""
    limits = settings.limits or interval_limits(plane, settings.interval)
    unit = _stretch_plane(plane, limits, settings.stretch)
    if settings.brightness != 0.0 or settings.contrast != 1.0:
        unit = (unit - 0.5) * settings.contrast + 0.5 + settings.brightness
    if settings.invert:
        unit = 1.0 - unit
    return apply_colormap(unit, settings.colormap)


def display_limits(cutout: Cutout, settings: DisplaySettings) -> list[tuple[float, float]]:
    """The (low, high) pixel values mapped to black and white, one pair per shown band:
    the user's limits when set, else the interval over all shown bands (linked) or each."""
    planes = _shown_planes(cutout, settings)
    if settings.limits is not None:
        return [settings.limits] * len(planes)
    if settings.linked or (len(planes) == 3 and settings.composite == "lupton"):
        return [interval_limits(np.stack(planes, -1), settings.interval)] * len(planes)
    return [interval_limits(p, settings.interval) for p in planes]


@dataclass(frozen=True)
class PixelHistogram:
    """Counts of the shown bands' finite pixel values in `edges` bins (len(counts) + 1 edges)."""

    counts: np.ndarray
    edges: np.ndarray


def pixel_histogram(
    cutout: Cutout,
    settings: DisplaySettings,
    limits: list[tuple[float, float]] | None = None,
    bins: int = HISTOGRAM_BINS,
) -> PixelHistogram:
    """The histogram under the limits control. It spans the 0.1-99.9% range of the values
    (so one hot pixel does not squash it into a single bar) widened to show the current
    limits (`display_limits`, passed in when the caller has them), with a tenth of the
    span either side to drag them out to."""
    sample = _finite_sample(np.stack(_shown_planes(cutout, settings), -1))
    if sample.size == 0:
        return PixelHistogram(np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1))
    low, high = (float(v) for v in np.percentile(sample, [0.1, 99.9]))
    limits = limits if limits is not None else display_limits(cutout, settings)
    low = min([low] + [lim[0] for lim in limits])
    high = max([high] + [lim[1] for lim in limits])
    margin = (high - low) * 0.1 or 1.0
    counts, edges = np.histogram(sample, bins=bins, range=(low - margin, high + margin))
    return PixelHistogram(counts, edges)


def explain_auto(cutout: Cutout) -> str:
    """Why Auto shows this cutout the way it does, in words (the Auto button's tooltip)."""
    settings = default_settings(cutout)
    bands = auto_bands(cutout)
    if settings.stretch == "linear":
        how = (
            f"This is an 8-bit {cutout.format.upper()} image, already rendered for the screen, "
            "so Auto shows it as stored: linear, full range, one range for all bands."
        )
    else:
        kind = cutout.format.upper() if cutout.format == "fits" else f"{cutout.meta.get('bit_depth', '')}-bit image"
        how = (
            f"{kind} data holds raw pixel values (sky near zero, galaxy cores far brighter), so Auto "
            f"uses an asinh stretch over the central {settings.interval} of the values: faint outskirts "
            "become visible without burning out the core, and a few hot or dead pixels do not set the scale."
        )
    if len(bands) == 3 and cutout.n_bands > 1:
        names = ", ".join(cutout.bands[b] for b in bands)
        order = "reddest filter in red" if wavelength_order(cutout.bands) is not None else "in file order"
        how += f" Colour: red, green, blue show {names} ({order})."
    elif len(bands) == 1 and cutout.n_bands > 1:
        how += f" The bands have no known filter order, so Auto shows {cutout.bands[bands[0]]} in grey."
    return how


def adjust_brightness_contrast(rgb: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """Screen-level tweak after the stretch, about mid-grey, like a monitor's controls:
    it helps to see faint arms without redefining the scientific stretch."""
    unit = rgb.astype(np.float32) / 255.0
    return _to_uint8((unit - 0.5) * contrast + 0.5 + brightness)


def origin_lower(cutout: Cutout) -> bool:
    """FITS stores the first row at the bottom (north up, east left for a standard WCS);
    show it that way, as DS9 does. Rasters are stored top row first."""
    return cutout.format == "fits"


def fit_into_square(rgb: np.ndarray, size: int, background: int = 24) -> np.ndarray:
    """Resize keeping the aspect ratio and pad to size x size (thumbnails line up in a grid)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    small = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), resample))
    out = np.full((size, size, 3), background, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = small
    return out


def _format_value(value: float) -> str:
    if not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    return f"{value:.5g}"


def pixel_readout(cutout: Cutout, x: float, y: float) -> str:
    """The cursor readout for display coordinates (x right, y down, as `render_rgb` draws).

    FITS positions are given 1-based with y up, as in DS9 and the FITS standard; raster
    positions 0-based from the top-left. Then the value of every band and, with a WCS,
    RA/Dec in sexagesimal and degrees. Decimated cutouts report full-resolution pixels.
    """
    from astropy.coordinates import Angle

    col, display_row = int(round(x)), int(round(y))
    if not (0 <= col < cutout.width and 0 <= display_row < cutout.height):
        return ""
    lower = origin_lower(cutout)
    row = cutout.height - 1 - display_row if lower else display_row
    data_y = cutout.height - 1 - y if lower else y
    base = 1 if lower else 0
    parts = [f"x {col * cutout.scale + base}  y {row * cutout.scale + base}"]
    values = cutout.data[row, col, :]
    parts.append("  ".join(f"{name} {_format_value(float(v))}" for name, v in zip(cutout.bands, values)))
    sky = cutout.sky_position(x, data_y)
    if sky is not None:
        ra, dec = sky
        ra_text = Angle(ra, unit="deg").to_string(unit="hourangle", sep=":", precision=2, pad=True)
        dec_text = Angle(dec, unit="deg").to_string(unit="deg", sep=":", precision=1, alwayssign=True, pad=True)
        parts.append(f"RA {ra_text}  Dec {dec_text}  ({ra:.5f}°, {dec:+.5f}°)")
    return "   ".join(parts)
