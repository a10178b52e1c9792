"""Low-frequency image updates: the image gradient blurred before each step.

Matching gradients are rich in pixel-scale detail that no network trained on a handful of
images can use, and that detail is what turns prototypes into colour noise. Blurring the
gradient with a Gaussian of `sigma` pixels is steepest descent in a metric that makes sharp
changes expensive — a low-frequency parametrisation of the *change*, as feature-visualisation
work uses — so a prototype keeps the fine structure of the real image it started from and
learns only broad changes of shape and colour.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def blur_radius(sigma: float) -> int:
    """Pixels the blur reaches either side: 3 sigma, at least one."""
    return max(1, math.ceil(3.0 * sigma))


def widest_blur(size: int) -> float:
    """The largest sigma whose blur stays within `size`-pixel images."""
    return (size - 1) / 3.0


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian out to `blur_radius(sigma)`."""
    radius = blur_radius(sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """`images` (N, C, H, W) blurred channel by channel, edges reflected so that the border
    pixels of a prototype change as freely as its centre; sigma must be at most
    `widest_blur(size)` (reflection needs a radius smaller than the images)."""
    if sigma <= 0:
        return images
    kernel = gaussian_kernel(sigma).to(device=images.device, dtype=images.dtype)
    radius = kernel.numel() // 2
    n, channels, height, width = images.shape
    planes = images.reshape(n * channels, 1, height, width)
    planes = F.conv2d(F.pad(planes, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    planes = F.conv2d(F.pad(planes, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return planes.reshape(n, channels, height, width)
