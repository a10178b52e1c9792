"""What a model's training images were like, recorded so an input unlike them can be named.

A model trained on colour JPEGs will classify a single-band FITS stamp without complaint (the
display rendering turns one band into grey RGB), and the answer means little. The profile keeps
what the training images were: their bands, file formats, pixel scale when the files had a WCS,
and the range of each channel's brightness and of the contrast after preprocessing. An input
that differs gets a plain-words warning next to its prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.model.preprocessing import Preprocessing, normalise

# Training images' per-image statistics are summarised by these quantiles; an input is called
# far outside when it lies beyond them by more than the width of the range between them.
_LOW, _HIGH = 0.5, 99.5
_SLACK = 1.0
# Training files read again for their bands, formats and pixel scales: enough to see a mixture.
_SAMPLED_FILES = 16
# A pixel scale within this factor of the training range is the same survey's, near enough.
_SCALE_FACTOR = 1.5


@dataclass(frozen=True)
class TrainingProfile:
    """`bands` are the training files' band names; `pixel_scale` the (smallest, largest)
    arcsec per pixel of those with a WCS (None when none had one); `mean_range` per channel
    and `std_range` the spread of per-image brightness and contrast of the network input."""

    bands: tuple[str, ...]
    formats: tuple[str, ...]
    pixel_scale: tuple[float, float] | None
    mean_range: tuple[tuple[float, float], ...]
    std_range: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "formats": list(self.formats),
            "pixel_scale": None if self.pixel_scale is None else list(self.pixel_scale),
            "mean_range": [list(pair) for pair in self.mean_range],
            "std_range": list(self.std_range),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingProfile:
        scale = data.get("pixel_scale")
        low, high = data["std_range"]
        return cls(
            tuple(str(band) for band in data["bands"]),
            tuple(str(name) for name in data["formats"]),
            None if scale is None else (float(scale[0]), float(scale[1])),
            tuple((float(pair[0]), float(pair[1])) for pair in data["mean_range"]),
            (float(low), float(high)),
        )


def pixel_scale_arcsec(cutout: Cutout) -> float | None:
    """Arcseconds per pixel from the cutout's WCS (mean of the two axes), None without one."""
    if cutout.wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        scales = proj_plane_pixel_scales(cutout.wcs)
    except (ValueError, AttributeError):
        return None
    value = float(np.mean(np.abs(scales[:2]))) * 3600.0
    return value if np.isfinite(value) and value > 0 else None


def image_statistics(pixels: np.ndarray, prep: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Per-image, per-channel mean (N, C) and per-image standard deviation (N,) of the
    normalised network input of (N, C, H, W) `extract_channels` output."""
    means = np.empty((len(pixels), pixels.shape[1]), np.float64)
    stds = np.empty(len(pixels), np.float64)
    for index, image in enumerate(pixels):
        values = normalise(image, prep).astype(np.float64)
        means[index] = values.mean(axis=(1, 2))
        stds[index] = values.std()
    return means, stds


def build_training_profile(samples: Sequence[Cutout], pixels: np.ndarray, prep: Preprocessing) -> TrainingProfile:
    """The profile of a training split from some of its cutouts as read (bands, formats,
    pixel scale) and all of its `extract_channels` output (statistics)."""
    bands = tuple(samples[0].bands) if samples else ()
    formats = tuple(sorted({cutout.format for cutout in samples}))
    scales = [pixel_scale_arcsec(cutout) for cutout in samples]
    known = [scale for scale in scales if scale is not None]
    means, stds = image_statistics(pixels, prep)
    mean_range = tuple((float(np.percentile(column, _LOW)), float(np.percentile(column, _HIGH))) for column in means.T)
    std_range = (float(np.percentile(stds, _LOW)), float(np.percentile(stds, _HIGH)))
    return TrainingProfile(bands, formats, (min(known), max(known)) if known else None, mean_range, std_range)


def profile_training_data(items: Sequence[CatalogItem], pixels: np.ndarray, prep: Preprocessing) -> TrainingProfile:
    """The profile of training `items` whose `extract_channels` output is `pixels`: up to
    16 files spread over the items are read again for what only the files know."""
    step = max(1, len(items) // _SAMPLED_FILES)
    samples = []
    for item in list(items)[::step][:_SAMPLED_FILES]:
        try:
            samples.append(read_item(item, max_side=64))
        except (CutoutError, OSError, ValueError):
            continue
    return build_training_profile(samples, pixels, prep)


def input_warnings(profile: TrainingProfile, cutout: Cutout, pixels: np.ndarray, prep: Preprocessing) -> list[str]:
    """Readable reasons why the model may not know what to make of this cutout, given its
    `extract_channels` output `pixels` (C, H, W); empty when it looks like the training data."""
    warnings = []
    if cutout.n_bands != len(profile.bands):
        noun = "band" if cutout.n_bands == 1 else "bands"
        warnings.append(
            f"{cutout.n_bands} {noun}, the model learned from {len(profile.bands)} ({', '.join(profile.bands)})"
        )
    elif profile.formats and all(_is_fits(name) != _is_fits(cutout.format) for name in profile.formats):
        # FITS holds fluxes, the other formats rendered pictures: the same galaxy looks
        # different to a network in each. JPEG against PNG is no such difference.
        kind = "file" if _is_fits(cutout.format) else "picture"
        warnings.append(f"a {cutout.format.upper()} {kind}, the model learned from {_joined(profile.formats)} files")
    scale = pixel_scale_arcsec(cutout)
    if scale is not None and profile.pixel_scale is not None:
        low, high = profile.pixel_scale
        if not low / _SCALE_FACTOR <= scale <= high * _SCALE_FACTOR:
            trained = f"{low:.2f}″/px" if np.isclose(low, high) else f"{low:.2f}–{high:.2f}″/px"
            warnings.append(f"pixel scale {scale:.2f}″/px, training {trained}")
    means, stds = image_statistics(pixels[None], prep)
    if any(_far_outside(float(value), pair) for value, pair in zip(means[0], profile.mean_range)):
        warnings.append("brightness far outside the training images")
    if _far_outside(float(stds[0]), profile.std_range):
        warnings.append("contrast far outside the training images")
    return warnings


def _far_outside(value: float, bounds: tuple[float, float]) -> bool:
    low, high = bounds
    slack = _SLACK * max(high - low, 1e-6)
    return not low - slack <= value <= high + slack


def _is_fits(format_name: str) -> bool:
    return format_name == "fits"


def _joined(names: Sequence[str]) -> str:
    upper = [name.upper() for name in names]
    return upper[0] if len(upper) == 1 else ", ".join(upper[:-1]) + " or " + upper[-1]
