"""Differentiable augmentation (DSA) for synthetic images inside an unrolled training step.

Synthetic images are optimised through the augmentation, so every transform here is a
differentiable function of the pixels (arithmetic, `grid_sample`, `gather`, masks), and
every random draw comes from the caller's generator: the memory modes of the matching step
replay a step's draws exactly when they recompute it.

One family is chosen per call for the whole batch, as the reference "single" mode does; the
family's parameters (shift, angle, scale, ...) are drawn per image. "galaxy" adds a "spin"
family, any angle plus a mirror with probability one half: the sky has no preferred orientation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

AUGMENT_STRATEGIES = ("dsa", "galaxy", "none")

# The DSA constants (METHODS.md, section 1).
BRIGHTNESS = 1.0
SATURATION = 2.0
CONTRAST = 0.5
CROP_PAD = 0.125
CUTOUT = 0.5
FLIP_PROBABILITY = 0.5
SCALE_RATIO = 1.2
ROTATE_DEGREES = 15.0


def _uniform(n: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Draws on the generator's own device (a CPU generator by default), then moves: the same
    generator state gives the same augmentation on every device. The move does not wait for the
    GPU: a blocking copy would stall the CPU until every queued kernel ran, several times a step."""
    device = generator.device if generator is not None else torch.device("cpu")
    draws = torch.rand(n, generator=generator, device=device).to(dtype=like.dtype)
    return draws.to(device=like.device, non_blocking=True)


def _integers(low: int, high: int, n: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(low, high, (n,), generator=generator, device=device).to(like.device, non_blocking=True)


def affine_warp(images: torch.Tensor, matrices: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Resample each image through its 2x3 matrix in normalised coordinates. With
    align_corners=True a quarter turn maps pixel centres onto pixel centres exactly."""
    grid = F.affine_grid(matrices, list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def rotation_matrices(angles: torch.Tensor, mirror: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 2, 3) rotations by `angles` (radians), each optionally preceded by a left-right mirror."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    sign = torch.ones_like(angles) if mirror is None else 1.0 - 2.0 * mirror.to(angles.dtype)
    zero = torch.zeros_like(angles)
    return torch.stack(
        [torch.stack([cos * sign, sin, zero], dim=-1), torch.stack([-sin * sign, cos, zero], dim=-1)], dim=1
    )


def rotate_by(
    images: torch.Tensor, angles: torch.Tensor, mirror: torch.Tensor | None = None, padding_mode: str = "zeros"
) -> torch.Tensor:
    return affine_warp(images, rotation_matrices(angles, mirror), padding_mode)


def colour_jitter(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    n = images.shape[0]
    brightness = (_uniform(n, generator, images) - 0.5) * BRIGHTNESS
    saturation = _uniform(n, generator, images) * SATURATION
    contrast = _uniform(n, generator, images) + CONTRAST
    x = images + brightness.view(n, 1, 1, 1)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * saturation.view(n, 1, 1, 1) + grey
    level = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - level) * contrast.view(n, 1, 1, 1) + level


def translate_by(images: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels; what comes in from outside is zero. Gathering from a
    one-pixel zero border keeps it exact (no interpolation) and differentiable."""
    n, c, h, w = images.shape
    padded = F.pad(images, (1, 1, 1, 1))
    rows = (torch.arange(h, device=images.device) + shift_y.view(n, 1) + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=images.device) + shift_x.view(n, 1) + 1).clamp(0, w + 1)
    picked_rows = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2))
    return picked_rows.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def crop_shift(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = images.shape
    shift = int(min(h, w) * CROP_PAD + 0.5)
    return translate_by(
        images,
        _integers(-shift, shift + 1, n, generator, images),
        _integers(-shift, shift + 1, n, generator, images),
    )


def cutout(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Zero one square of half the image size per image, centred anywhere (it may hang over
    the border)."""
    n, _, h, w = images.shape
    side_y, side_x = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    centre_y = _integers(0, h + (1 - side_y % 2), n, generator, images)
    centre_x = _integers(0, w + (1 - side_x % 2), n, generator, images)
    rows = torch.arange(h, device=images.device).view(1, h) - (centre_y.view(n, 1) - side_y // 2)
    cols = torch.arange(w, device=images.device).view(1, w) - (centre_x.view(n, 1) - side_x // 2)
    inside = ((rows >= 0) & (rows < side_y)).view(n, h, 1) & ((cols >= 0) & (cols < side_x)).view(n, 1, w)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def flip(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    chosen = _uniform(images.shape[0], generator, images) < FLIP_PROBABILITY
    return torch.where(chosen.view(-1, 1, 1, 1), images.flip(3), images)


def scale(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    n = images.shape[0]
    low = 1.0 / SCALE_RATIO
    sx = _uniform(n, generator, images) * (SCALE_RATIO - low) + low
    sy = _uniform(n, generator, images) * (SCALE_RATIO - low) + low
    zero = torch.zeros_like(sx)
    matrices = torch.stack([torch.stack([sx, zero, zero], -1), torch.stack([zero, sy, zero], -1)], dim=1)
    return affine_warp(images, matrices)


def rotate(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    limit = math.radians(ROTATE_DEGREES)
    return rotate_by(images, (_uniform(images.shape[0], generator, images) - 0.5) * 2.0 * limit)


def spin(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Any angle and a mirror half of the time. A turn brings the corners in from outside the
    cutout; repeating the border pixels fills them with the sky at the edge, rather than with a
    black wedge no real cutout has (or, reflecting, with a mirror image of the galaxy's wings)."""
    n = images.shape[0]
    angles = _uniform(n, generator, images) * (2.0 * math.pi)
    mirror = _uniform(n, generator, images) < 0.5
    return rotate_by(images, angles, mirror, padding_mode="border")


Family = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]
DSA_FAMILIES: dict[str, Family] = {
    "color": colour_jitter,
    "crop": crop_shift,
    "cutout": cutout,
    "flip": flip,
    "scale": scale,
    "rotate": rotate,
}
GALAXY_FAMILIES: dict[str, Family] = {**DSA_FAMILIES, "spin": spin}
_FAMILIES_BY_STRATEGY: dict[str, dict[str, Family]] = {"dsa": DSA_FAMILIES, "galaxy": GALAXY_FAMILIES}


def augment(images: torch.Tensor, strategy: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """One randomly chosen family of `strategy` applied to an NCHW batch; "none" returns the
    batch itself. Differentiable with respect to `images`."""
    if strategy == "none":
        return images
    families = _FAMILIES_BY_STRATEGY.get(strategy)
    if families is None:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENT_STRATEGIES)}, got {strategy!r}")
    if images.dim() != 4:
        raise ValueError(f"augmentation needs an NCHW batch, got shape {tuple(images.shape)}")
    device = generator.device if generator is not None else torch.device("cpu")
    choice = int(torch.randint(len(families), (1,), generator=generator, device=device).item())
    return list(families.values())[choice](images, generator)
