"""From a cutout to the array a network reads, recorded so that a checkpoint sees what it was trained on.

Two ways to make channels: "display" renders the cutout the way the Library shows it
(stretch, interval, composite recorded in the checkpoint) and feeds the RGB pixels;
"bands" feeds the file's own bands, sky-subtracted and asinh-scaled in units of each
band's noise, for FITS users who want the network to see fluxes rather than a picture.
Either way the centre of the cutout is cropped (galaxies sit in the middle of survey
stamps) and resized, then normalised with the training split's per-channel statistics.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings, default_settings, default_settings_with_reason, render_rgb
from galaxy_studio.model.config import CHANNEL_MODES
from galaxy_studio.model.errors import ModelError

# 1.4826 x MAD is the standard deviation of Gaussian noise: the sky's noise, robust to the galaxy.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Preprocessing:
    """How cutouts become network input. `mean`/`std` are None until measured on a training split."""

    size: int = 64
    crop_fraction: float = 0.5
    channels: str = "display"
    display: DisplaySettings | None = None
    bands: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.channels not in CHANNEL_MODES:
            raise ModelError(f"channels must be one of {', '.join(CHANNEL_MODES)}, got {self.channels!r}")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ModelError(f"crop fraction must lie in (0, 1], got {self.crop_fraction}")
        if self.size < 8:
            raise ModelError(f"image size must be at least 8 px, got {self.size}")
        if self.channels == "bands" and not self.bands:
            raise ModelError("channels 'bands' needs the list of band names")

    @property
    def n_channels(self) -> int:
        return 3 if self.channels == "display" else len(self.bands or ())

    def with_statistics(self, mean: Iterable[float], std: Iterable[float]) -> Preprocessing:
        return replace(self, mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("bands", "mean", "std"):
            data[key] = None if data[key] is None else list(data[key])
        if self.display is not None:
            display = asdict(self.display)
            display["bands"] = None if self.display.bands is None else list(self.display.bands)
            data["display"] = display
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        fields = dict(data)
        if fields.get("display") is not None:
            display = dict(fields["display"])
            if display.get("bands") is not None:
                display["bands"] = tuple(display["bands"])
            fields["display"] = DisplaySettings(**display)
        for key in ("bands", "mean", "std"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)


def choose_preprocessing(
    sample: Cutout, *, size: int, crop_fraction: float, channels: str, bands: Iterable[str] | None = None
) -> Preprocessing:
    """The recipe for a data set, settled on one of its cutouts: the display settings the
    Library would use for it, or (bands mode) its band names unless some are asked for."""
    if channels == "display":
        return Preprocessing(size, crop_fraction, channels, display=default_settings(sample))
    chosen = tuple(bands) if bands else tuple(sample.bands)
    return Preprocessing(size, crop_fraction, channels, bands=chosen)


def describe_channels(sample: Cutout, prep: Preprocessing) -> str:
    """What the network will read and why, in words, for the run's output."""
    if prep.channels == "display":
        return "channels: the image as displayed, " + default_settings_with_reason(sample)[1]
    return f"channels: bands {', '.join(prep.bands or ())}, sky-subtracted, asinh of each band's signal-to-noise"


def decode_side(prep: Preprocessing, context: float = 1.0) -> int:
    """The image side at which the crop has the output's resolution; readers may decode a
    JPEG reduced towards it (draft mode), which is most of the cost of a big data set."""
    return math.ceil(prep.size * context / prep.crop_fraction)


def extract_channels(cutout: Cutout, prep: Preprocessing, *, context: float = 1.0) -> np.ndarray:
    """The cropped, resized channels before normalisation: uint8 (3, S, S) in display mode
    (a quarter of the memory in a cache), float32 (bands, S, S) in bands mode.

    With `context` > 1 a wider square is kept around the crop at the same pixel scale
    (S = round(size * context)), so that a rotated crop taken from it has sky in its corners.
    """
    if prep.channels == "display":
        try:
            rgb = render_rgb(cutout, prep.display)
        except ValueError as exc:
            raise ModelError(f"{cutout.source}: the model's display settings do not fit this cutout ({exc})") from exc
        planes = [rgb[:, :, index] for index in range(3)]
    else:
        planes = [_asinh_snr(cutout.data[:, :, index]) for index in _band_indices(cutout, prep)]
    height, width = planes[0].shape
    out_side = round(prep.size * context)
    crop_side = min(height, width) * prep.crop_fraction * out_side / prep.size
    pad = max(0, math.ceil((crop_side - min(height, width)) / 2))
    if pad:
        planes = [sky_padded(plane, pad) for plane in planes]
    centre_x, centre_y = width / 2 + pad, height / 2 + pad
    half = crop_side / 2
    box = (centre_x - half, centre_y - half, centre_x + half, centre_y + half)
    resized = [
        np.asarray(Image.fromarray(plane).resize((out_side, out_side), Image.Resampling.BILINEAR, box=box))
        for plane in planes
    ]
    return np.stack(resized, axis=0)


def sky_padded(plane: np.ndarray, pad: int) -> np.ndarray:
    """`plane` with `pad` pixels of empty sky around it: the level and noise of its outer
    frame, drawn from a stream seeded by its pixels so a cutout always pads the same way.
    Mirroring the edges instead would copy lobes, jets and neighbours that reach the edge
    into the corners of every rotated training view: sources the network never sees again."""
    frame_width = max(1, min(plane.shape) // 20)
    frame = np.concatenate(
        [
            plane[:frame_width].ravel(),
            plane[-frame_width:].ravel(),
            plane[:, :frame_width].ravel(),
            plane[:, -frame_width:].ravel(),
        ]
    ).astype(np.float64)
    frame = frame[np.isfinite(frame)]
    level = float(np.median(frame)) if frame.size else 0.0
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(frame - level))) if frame.size else 0.0
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(plane[::7, ::7]).tobytes()))
    height, width = plane.shape
    sky = rng.normal(level, sigma, (height + 2 * pad, width + 2 * pad))
    if plane.dtype == np.uint8:
        sky = np.clip(np.round(sky), 0, 255)
    padded = sky.astype(plane.dtype)
    padded[pad : pad + height, pad : pad + width] = plane
    return padded


def normalise(pixels: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """float32 network input from `extract_channels` output; the one place both training
    and later classification scale pixels, so the two cannot drift apart."""
    values = pixels.astype(np.float32)
    if prep.channels == "display":
        values /= np.float32(255.0)
    if prep.mean is not None and prep.std is not None:
        values -= np.asarray(prep.mean, np.float32).reshape(-1, 1, 1)
        values /= np.asarray(prep.std, np.float32).reshape(-1, 1, 1)
    return values


def prepare_cutout(cutout: Cutout, prep: Preprocessing) -> np.ndarray:
    """Network input (C, size, size) float32 for one cutout."""
    return normalise(extract_channels(cutout, prep), prep)


def channel_statistics(pixels: np.ndarray, prep: Preprocessing) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of (N, C, H, W) `extract_channels` output,
    accumulated in float64 one image at a time so a large cache is never copied whole."""
    total = np.zeros(pixels.shape[1], np.float64)
    squares = np.zeros(pixels.shape[1], np.float64)
    for image in pixels:
        values = normalise(image, replace(prep, mean=None, std=None)).astype(np.float64)
        total += values.sum(axis=(1, 2))
        squares += np.square(values).sum(axis=(1, 2))
    count = pixels.shape[0] * pixels.shape[2] * pixels.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return [float(value) for value in mean], [float(value) for value in std]


def _band_indices(cutout: Cutout, prep: Preprocessing) -> list[int]:
    wanted = list(prep.bands or ())
    missing = [band for band in wanted if band not in cutout.bands]
    if missing:
        raise ModelError(
            f"{cutout.source}: the model reads bands {', '.join(wanted)} but this cutout has {', '.join(cutout.bands)}"
        )
    return [cutout.bands.index(band) for band in wanted]


def _asinh_snr(plane: np.ndarray) -> np.ndarray:
    """asinh of the signal-to-noise: linear in the noisy sky, logarithmic in bright cores,
    so faint arms and a saturated nucleus both stay visible to the network."""
    finite = plane[np.isfinite(plane)]
    if finite.size == 0:
        return np.zeros_like(plane, dtype=np.float32)
    sky = float(np.median(finite))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(finite - sky)))
    if not sigma > 0.0:
        sigma = float(np.std(finite)) or 1.0
    scaled = np.arcsinh((plane - np.float32(sky)) / np.float32(sigma))
    return np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
