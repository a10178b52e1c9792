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
from dataclasses import dataclass

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


def _uniform(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """Draws on the generator's own device (a CPU generator by default): the same generator
    state gives the same augmentation on every device."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(n, generator=generator, device=device)


def _integers(low: int, high: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(low, high, (n,), generator=generator, device=device)


Draws = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Family:
    """One kind of augmentation, its random draws apart from their use: `draw(n, height,
    width, generator)` gives tensors of n values on the generator's device, and `apply(images,
    *draws)` the augmented batch from them. A CUDA graph replays `apply` on draws planned
    before the replay (distill/graphed_match.py); calling the family does both, as eager code
    does."""

    draw: Callable[[int, int, int, torch.Generator | None], Draws]
    apply: Callable[..., torch.Tensor]

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, _, height, width = images.shape
        draws = self.draw(n, height, width, generator)
        # Not waiting for the GPU: a blocking copy would stall the CPU until every queued
        # kernel ran, several times a step.
        return self.apply(images, *(d.to(images.device, non_blocking=True) for d in draws))


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


def _colour_draws(n: int, height: int, width: int, generator: torch.Generator | None) -> Draws:
    return _uniform(n, generator), _uniform(n, generator), _uniform(n, generator)


def _apply_colour(images: torch.Tensor, bright: torch.Tensor, satur: torch.Tensor, contr: torch.Tensor) -> torch.Tensor:
    n = images.shape[0]
    brightness = (bright.to(images.dtype) - 0.5) * BRIGHTNESS
    saturation = satur.to(images.dtype) * SATURATION
    contrast = contr.to(images.dtype) + CONTRAST
    x = images + brightness.view(n, 1, 1, 1)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * saturation.view(n, 1, 1, 1) + grey
    level = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - level) * contrast.view(n, 1, 1, 1) + level


colour_jitter = Family(_colour_draws, _apply_colour)


def translate_by(images: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels; what comes in from outside is zero. Gathering from a
    one-pixel zero border keeps it exact (no interpolation) and differentiable."""
    n, c, h, w = images.shape
    padded = F.pad(images, (1, 1, 1, 1))
    rows = (torch.arange(h, device=images.device) + shift_y.view(n, 1) + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=images.device) + shift_x.view(n, 1) + 1).clamp(0, w + 1)
    picked_rows = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2))
    return picked_rows.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def _crop_draws(n: int, height: int, width: int, generator: torch.Generator | None) -> Draws:
    shift = int(min(height, width) * CROP_PAD + 0.5)
    return _integers(-shift, shift + 1, n, generator), _integers(-shift, shift + 1, n, generator)


crop_shift = Family(_crop_draws, translate_by)


def _cutout_sides(height: int, width: int) -> tuple[int, int]:
    return int(height * CUTOUT + 0.5), int(width * CUTOUT + 0.5)


def _cutout_draws(n: int, height: int, width: int, generator: torch.Generator | None) -> Draws:
    side_y, side_x = _cutout_sides(height, width)
    return (
        _integers(0, height + (1 - side_y % 2), n, generator),
        _integers(0, width + (1 - side_x % 2), n, generator),
    )


def _apply_cutout(images: torch.Tensor, centre_y: torch.Tensor, centre_x: torch.Tensor) -> torch.Tensor:
    """Zero one square of half the image size per image, centred anywhere (it may hang over
    the border)."""
    n, _, h, w = images.shape
    side_y, side_x = _cutout_sides(h, w)
    rows = torch.arange(h, device=images.device).view(1, h) - (centre_y.view(n, 1) - side_y // 2)
    cols = torch.arange(w, device=images.device).view(1, w) - (centre_x.view(n, 1) - side_x // 2)
    inside = ((rows >= 0) & (rows < side_y)).view(n, h, 1) & ((cols >= 0) & (cols < side_x)).view(n, 1, w)
    return images * (~inside).unsqueeze(1).to(images.dtype)


cutout = Family(_cutout_draws, _apply_cutout)


def _one_uniform(n: int, height: int, width: int, generator: torch.Generator | None) -> Draws:
    return (_uniform(n, generator),)


def _two_uniforms(n: int, height: int, width: int, generator: torch.Generator | None) -> Draws:
    return _uniform(n, generator), _uniform(n, generator)


def _apply_flip(images: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
    chosen = draw.to(images.dtype) < FLIP_PROBABILITY
    return torch.where(chosen.view(-1, 1, 1, 1), images.flip(3), images)


flip = Family(_one_uniform, _apply_flip)


def _apply_scale(images: torch.Tensor, draw_x: torch.Tensor, draw_y: torch.Tensor) -> torch.Tensor:
    low = 1.0 / SCALE_RATIO
    sx = draw_x.to(images.dtype) * (SCALE_RATIO - low) + low
    sy = draw_y.to(images.dtype) * (SCALE_RATIO - low) + low
    zero = torch.zeros_like(sx)
    matrices = torch.stack([torch.stack([sx, zero, zero], -1), torch.stack([zero, sy, zero], -1)], dim=1)
    return affine_warp(images, matrices)


scale = Family(_two_uniforms, _apply_scale)


def _apply_rotate(images: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
    limit = math.radians(ROTATE_DEGREES)
    return rotate_by(images, (draw.to(images.dtype) - 0.5) * 2.0 * limit)


rotate = Family(_one_uniform, _apply_rotate)


def _apply_spin(images: torch.Tensor, angle: torch.Tensor, mirror: torch.Tensor) -> torch.Tensor:
    """Any angle and a mirror half of the time. A turn brings the corners in from outside the
    cutout; repeating the border pixels fills them with the sky at the edge, rather than with a
    black wedge no real cutout has (or, reflecting, with a mirror image of the galaxy's wings)."""
    angles = angle.to(images.dtype) * (2.0 * math.pi)
    return rotate_by(images, angles, mirror.to(images.dtype) < 0.5, padding_mode="border")


spin = Family(_two_uniforms, _apply_spin)


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


def _families(strategy: str) -> list[Family]:
    """The families `strategy` chooses from ([] for "none")."""
    if strategy == "none":
        return []
    families = _FAMILIES_BY_STRATEGY.get(strategy)
    if families is None:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENT_STRATEGIES)}, got {strategy!r}")
    return list(families.values())


def _chosen_family(families: list[Family], generator: torch.Generator | None) -> int:
    device = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(len(families), (1,), generator=generator, device=device).item())


def augment(images: torch.Tensor, strategy: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """One randomly chosen family of `strategy` applied to an NCHW batch; "none" returns the
    batch itself. Differentiable with respect to `images`."""
    families = _families(strategy)
    if not families:
        return images
    if images.dim() != 4:
        raise ValueError(f"augmentation needs an NCHW batch, got shape {tuple(images.shape)}")
    return families[_chosen_family(families, generator)](images, generator)


@dataclass(frozen=True)
class PlannedAugmentation:
    """One step's augmentation as data rather than as a choice in Python: a weight per family
    (1 for the chosen one, 0 for the others) and every family's draws (the chosen one's first,
    exactly as `augment` draws them, then the others' from the same generator: they only have
    to give finite pixels). A CUDA graph can replay `apply_planned` with new plans copied into
    the same buffers, where it could not replay a Python branch."""

    weights: torch.Tensor
    draws: tuple[Draws, ...]

    def tensors(self) -> list[torch.Tensor]:
        return [self.weights, *(tensor for draws in self.draws for tensor in draws)]


def plan_augmentation(
    strategy: str, n: int, height: int, width: int, generator: torch.Generator | None
) -> PlannedAugmentation:
    families = _families(strategy)
    if not families:
        return PlannedAugmentation(torch.zeros(0), ())
    choice = _chosen_family(families, generator)
    chosen = families[choice].draw(n, height, width, generator)
    draws = tuple(
        chosen if index == choice else family.draw(n, height, width, generator) for index, family in enumerate(families)
    )
    weights = torch.zeros(len(families))
    weights[choice] = 1.0
    return PlannedAugmentation(weights, draws)


def apply_planned(images: torch.Tensor, strategy: str, weights: torch.Tensor, draws: tuple[Draws, ...]) -> torch.Tensor:
    """The batch `augment` gives for the same draws, to the bit: every family runs and all but
    the chosen one are multiplied by zero (x + 0 * y is x for finite y), so the gradient with
    respect to `images` is the chosen family's too."""
    families = _families(strategy)
    if not families:
        return images
    weights = weights.to(images.dtype)
    mixed = families[0].apply(images, *draws[0]) * weights[0]
    for index, family in enumerate(families[1:], start=1):
        mixed = mixed + family.apply(images, *draws[index]) * weights[index]
    return mixed
