"""Whether distilled prototypes can be read as pictures, beside how well they teach a network.

A synthetic set can score well while its pixels have run far outside anything a telescope
records (saturated colour noise); the prototypes are the scientific output, so each run is
measured against its real training images as pictures (`as_pictures`): in the network's
input space, with a buffer's ZCA whitening undone and, for displayed pictures, nothing darker
than black, since the display shows a darker pixel as black just as the survey cutouts clip
their sky there. Measured in whitened space, FITS-band prototypes that had turned into colour
blobs with dark holes (docs/science/distillation.md) passed as readable (spread 1.3-1.4x,
nearest 0.7-0.8); as pictures 8-12% of their pixels lie beyond the real range. Without the
black floor, the default gz-spiral prototypes (compact yellow spheroids, blue discs with arms)
failed with 2-8% of their pixels "beyond" it, all but 0.3-0.6% of them sky darker than black:

- `outside_fraction`: of all prototype pixels, those outside the real images' 0.1-99.9
  percentile range of their channel by more than 5% of the range's width. The margin is there
  because survey cutouts clip the sky at black: a fifth of the demo set's pixels sit exactly at
  the bottom of the range, and a prototype sky a shade darker (23% of the pixels of demo
  prototypes that look like galaxies, almost all within 5%) is invisible once displayed, while
  the colour noise this guards against reaches tens of standard deviations;
- `std_ratio`: the prototypes' pixel standard deviation over the real images';
- `nearest_ratio`: the median distance from a prototype to its nearest real image, over the
  median distance from a real image to its nearest other real image (about 1: as close to the
  data as real galaxies are to each other; much more: unlike any real image);
- `colour_outside_fraction`: of all prototype pixels, those whose colour no real pixel has: the
  difference between some pair of bands beyond the real pixels' 0.1-99.9 percentile range of
  that difference, with the same margin (0 for one band). Taken band by band, FITS prototypes
  whose g, r and z had drifted apart into red, green and blue blobs stayed within range (0% of
  their pixels outside); their colours are what gives them away: 26-57% of the pixels at image
  lr 100, against 0.1-0.3% for the default's galaxies, 0.6-1.1% for the demo's and 3-9% for
  the default gz-spiral prototypes, which read as galaxies in exaggerated orange and blue.

`readable` holds when at most 2% of the pixels lie outside, the spread is within 0.5-2x and at
most 15% of the pixels have colours beyond the real ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.model.preprocessing import Preprocessing

LOW_PERCENTILE, HIGH_PERCENTILE = 0.1, 99.9
RANGE_MARGIN = 0.05
MAX_OUTSIDE = 0.02
MAX_COLOUR_OUTSIDE = 0.15
STD_RATIO_RANGE = (0.5, 2.0)
# Real images that set the percentile range and are compared pairwise for the typical nearest
# distance (n^2 distances): a seeded sample bounds the cost on survey-size sets.
MAX_REAL_SAMPLE = 1000


def as_pictures(images: np.ndarray, zca: ZcaWhitening | None, prep: Preprocessing) -> np.ndarray:
    """Network-space (N, C, H, W) images as their pictures show them, still normalised: a
    buffer's whitening undone and, for displayed pictures, floored at black. FITS bands have
    no floor: a negative signal-to-noise is a value like any other."""
    pictures = zca.unwhiten(images) if zca is not None else np.asarray(images, np.float32)
    if prep.channels != "display" or prep.mean is None or prep.std is None:
        return pictures
    black = (-np.asarray(prep.mean, np.float32) / np.asarray(prep.std, np.float32)).reshape(1, -1, 1, 1)
    return np.maximum(pictures, black)


def percentile_range(images: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (1, C, 1, 1): the 0.1 and 99.9 percentiles of each channel's pixels
    over a seeded sample of at most MAX_REAL_SAMPLE images. Not the minimum and maximum: those
    are a few outliers (a saturated star), and a large step would drive every pixel of a
    clamped prototype to one bound or the other."""
    channels = images.shape[1]
    sample = images[np.random.default_rng(seed).permutation(len(images))[:MAX_REAL_SAMPLE]]
    by_channel = sample.astype(np.float64).transpose(1, 0, 2, 3).reshape(channels, -1)
    low = np.percentile(by_channel, LOW_PERCENTILE, axis=1).reshape(1, channels, 1, 1)
    high = np.percentile(by_channel, HIGH_PERCENTILE, axis=1).reshape(1, channels, 1, 1)
    return low, high


class ReadabilityReference:
    """What the measures compare with, taken once from the real images, so that a running
    distillation can measure its prototypes at every snapshot for the price of the distances."""

    def __init__(self, real: np.ndarray, *, seed: int = 0) -> None:
        if real.ndim != 4 or len(real) < 2:
            raise ValueError(f"need at least 2 real (N, C, H, W) images, got shape {real.shape}")
        sample = real[np.random.default_rng(seed).permutation(len(real))[:MAX_REAL_SAMPLE]].astype(np.float64)
        low, high = percentile_range(sample)
        margin = RANGE_MARGIN * (high - low)
        self.image_shape = real.shape[1:]
        # (1, C, 1, 1): the range a pixel may reach unnoticed.
        self.low, self.high = low - margin, high + margin
        colours = band_differences(sample)
        # (1, P, 1, 1) for the P pairs of bands: the colours a pixel may show unnoticed.
        self.colour_low, self.colour_high = np.zeros((1, 0, 1, 1)), np.zeros((1, 0, 1, 1))
        if colours.shape[1]:
            colour_low, colour_high = percentile_range(colours)
            colour_margin = RANGE_MARGIN * (colour_high - colour_low)
            self.colour_low, self.colour_high = colour_low - colour_margin, colour_high + colour_margin
        self.std = max(float(real.std()), 1e-12)
        self.flat = sample.reshape(len(sample), -1)
        real_to_real = _squared_distances(self.flat, self.flat)
        np.fill_diagonal(real_to_real, np.inf)
        self.typical = max(float(np.median(np.sqrt(real_to_real.min(axis=1)))), 1e-12)

    def measure(self, prototypes: np.ndarray) -> dict[str, Any]:
        """The four measures and the verdict for (N, C, H, W) prototypes."""
        if prototypes.ndim != 4 or prototypes.shape[1:] != self.image_shape or len(prototypes) == 0:
            raise ValueError(
                f"prototypes {prototypes.shape} must be (N, C, H, W) of the real images' shape {self.image_shape}"
            )
        prototypes = prototypes.astype(np.float64)
        outside = float(np.mean((prototypes < self.low) | (prototypes > self.high)))
        colours = band_differences(prototypes)
        colour_outside = float(np.mean(((colours < self.colour_low) | (colours > self.colour_high)).any(axis=1)))
        std_ratio = float(prototypes.std()) / self.std
        nearest = float(
            np.median(np.sqrt(_squared_distances(prototypes.reshape(len(prototypes), -1), self.flat).min(axis=1)))
        )
        return {
            "outside_fraction": outside,
            "std_ratio": std_ratio,
            "nearest_ratio": nearest / self.typical,
            "colour_outside_fraction": colour_outside,
            "readable": is_readable(outside, std_ratio, colour_outside),
        }


class PictureReadability:
    """The measures of network-space images, taken on the pictures they show (`as_pictures`),
    against real images taken the same way: what the runner's live readout and the evaluation
    both report."""

    def __init__(self, real: np.ndarray, zca: ZcaWhitening | None, prep: Preprocessing) -> None:
        self.reference = ReadabilityReference(as_pictures(real, zca, prep))
        self.zca, self.prep = zca, prep

    def measure(self, images: np.ndarray) -> dict[str, Any]:
        return self.reference.measure(as_pictures(images, self.zca, self.prep))


def is_readable(outside_fraction: float, std_ratio: float, colour_outside_fraction: float) -> bool:
    return (
        outside_fraction <= MAX_OUTSIDE
        and STD_RATIO_RANGE[0] <= std_ratio <= STD_RATIO_RANGE[1]
        and colour_outside_fraction <= MAX_COLOUR_OUTSIDE
    )


def band_differences(images: np.ndarray) -> np.ndarray:
    """(N, P, H, W): each pixel's difference between every pair of its C bands (P = C(C-1)/2),
    an astronomer's colours in normalised units; P is 0 for one band."""
    channels = images.shape[1]
    pairs = [(i, j) for i in range(channels) for j in range(i + 1, channels)]
    if not pairs:
        return np.zeros((len(images), 0, *images.shape[2:]), images.dtype)
    return np.stack([images[:, i] - images[:, j] for i, j in pairs], axis=1)


def measure_readability(prototypes: np.ndarray, real: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """The four measures and the verdict, for (N, C, H, W) prototypes and real images."""
    if prototypes.ndim != 4 or real.ndim != 4 or prototypes.shape[1:] != real.shape[1:]:
        raise ValueError(
            f"prototypes {prototypes.shape} and real images {real.shape} must be (N, C, H, W) of the same image shape"
        )
    return ReadabilityReference(real, seed=seed).measure(prototypes)


def describe_readability(measures: dict[str, Any]) -> str:
    verdict = "readable" if measures["readable"] else "NOT readable as pictures"
    return (
        f"Prototypes {verdict}: {100 * measures['outside_fraction']:.1f}% of pixels beyond the real images' "
        f"{LOW_PERCENTILE:g}-{HIGH_PERCENTILE:g} percentile range (at most {100 * MAX_OUTSIDE:g}%), pixel spread "
        f"{measures['std_ratio']:.2f}x the real images' ({STD_RATIO_RANGE[0]:g}-{STD_RATIO_RANGE[1]:g}), nearest "
        f"real image {measures['nearest_ratio']:.2f}x as far as real images are from each other"
        + _colour_text(measures)
    )


def _colour_text(measures: dict[str, Any]) -> str:
    """The colour measure's clause; evaluations written before it was measured lack it."""
    if "colour_outside_fraction" not in measures:
        return ""
    return (
        f", {100 * measures['colour_outside_fraction']:.1f}% of pixels in colours no real pixel has "
        f"(at most {100 * MAX_COLOUR_OUTSIDE:g}%)"
    )


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, never below zero."""
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.maximum(squared, 0.0)
