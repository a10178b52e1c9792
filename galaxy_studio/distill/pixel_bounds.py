"""Keeping distilled images within what the real images hold (`DistillConfig.clamp`), applied
after every image step.

Two bounds, both from the real training images' 0.1-99.9 percentiles (readability.py):
- every value in the network's space within its channel's range. For a whitened buffer those
  are whitened values: a brake on fine, high-contrast structure, not a bound on the pictures.
  Clamping the pictures instead (whitening undone, clipped at both ends, redone) scored
  62.1 +- 1.7% against 65.4 +- 1.8% on gz-spiral at IPC 1 and grew saturated orange blobs and
  blue rings; clamping both ways, 52.7% and white blobs (docs/science/distillation.md).
- for a whitened buffer of images clipped at white (in a channel whose 99.9th percentile is
  its maximum: at least one pixel in a thousand sits at the brightest value, as in photographs
  with blown-out skies), the pictures no brighter than that. Whitening divides the broad,
  high-variance patterns by their large spread, so the whitened bound hardly holds them: on
  CIFAR-10 at IPC 1 skies grew brighter than white in 5-9% of the pixels, up to half the range
  beyond it, at image lr 10 and 3 alike; with this bound none did, and the distilled set scored
  within a point. Where the brightest pixels are rare, as galaxy cores are, the 99.9th
  percentile is no limit of the data, and holding the pictures under it made the optimisation
  brighten everything else: gz-spiral's non-spiral prototypes became pale discs filling the
  frame and the distilled set fell from 65.4 to 53.2% (docs/science/distillation.md). Only
  the excess is taken off, so a picture within range is left exactly as it is. Darker than
  black is left alone: the display and the readability measures floor displayed pictures
  there, as the survey cutouts clip their sky.
"""

from __future__ import annotations

import numpy as np
import torch

from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.distill.readability import as_pictures, percentile_range
from galaxy_studio.model.preprocessing import Preprocessing


class PixelBounds:
    """The bounds of one run's images, as tensors on its device."""

    def __init__(
        self, train_images: np.ndarray, zca: ZcaWhitening | None, prep: Preprocessing, device: torch.device
    ) -> None:
        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(values, dtype=np.float32)).to(device)

        low, high = percentile_range(train_images)
        self.low, self.high = tensor(low), tensor(high)
        self._whitening: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.brightest: torch.Tensor | None = None
        ceiling = clipped_at_white(as_pictures(train_images, zca, prep)) if zca is not None else None
        if zca is not None and ceiling is not None:
            self._whitening = (tensor(zca.mean), tensor(zca.matrix), tensor(zca.inverse))
            self.brightest = tensor(ceiling)

    def keep(self, images: torch.Tensor) -> None:
        """Bring `images` (N, C, H, W, in the network's space) within the bounds, in place; the
        pictures' ceiling last, so that what is shown holds it."""
        with torch.no_grad():
            torch.clamp(images, self.low, self.high, out=images)
            if self._whitening is None or self.brightest is None:
                return
            mean, matrix, inverse = self._whitening
            flat = images.reshape(len(images), -1)
            pictures = (flat @ inverse + mean).reshape(images.shape)
            excess = (pictures - self.brightest).clamp_min(0.0)
            images -= (excess.reshape(len(images), -1) @ matrix).reshape(images.shape)


def clipped_at_white(pictures: np.ndarray) -> np.ndarray | None:
    """(1, C, 1, 1): the brightest value of each channel in which the real pictures are clipped
    there (their 99.9th percentile within a thousandth of the range of their maximum), +inf in
    the others; None when no channel is."""
    low, high = percentile_range(pictures)
    brightest = pictures.max(axis=(0, 2, 3)).reshape(high.shape)
    clipped = high >= brightest - 1e-3 * (high - low)
    return np.where(clipped, high, np.inf) if clipped.any() else None
