"""Differentiable augmentation: shapes, reproducibility, gradients and what each family does."""

from __future__ import annotations

import math

import pytest
import torch

from galaxy_studio.distill.augment import (
    AUGMENT_STRATEGIES,
    CROP_PAD,
    DSA_FAMILIES,
    GALAXY_FAMILIES,
    apply_planned,
    augment,
    colour_jitter,
    crop_shift,
    cutout,
    flip,
    plan_augmentation,
    rotate_by,
    spin,
)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 5, c: int = 3, size: int = 9, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=seeded(100), dtype=dtype)


@pytest.mark.parametrize("strategy", AUGMENT_STRATEGIES)
def test_every_strategy_keeps_shape_and_dtype(strategy: str) -> None:
    images = batch(4, 2, 12, torch.float64)
    for seed in range(12):
        out = augment(images, strategy, generator=seeded(seed))
        assert out.shape == images.shape and out.dtype == images.dtype
        assert torch.isfinite(out).all()


def test_none_is_the_identity() -> None:
    images = batch()
    assert augment(images, "none", generator=seeded(0)) is images


@pytest.mark.parametrize("strategy", ["dsa", "galaxy"])
def test_the_same_seed_gives_the_same_output_and_other_seeds_differ(strategy: str) -> None:
    images = batch()
    first = [augment(images, strategy, generator=seeded(seed)) for seed in range(10)]
    again = [augment(images, strategy, generator=seeded(seed)) for seed in range(10)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    distinct = {tuple(out.flatten()[:50].tolist()) for out in first}
    assert len(distinct) >= 8


def test_one_generator_advances_between_calls() -> None:
    generator = seeded(4)
    images = batch()
    outputs = [augment(images, "galaxy", generator=generator) for _ in range(6)]
    assert not all(torch.equal(outputs[0], out) for out in outputs[1:])


@pytest.mark.parametrize("name", sorted(GALAXY_FAMILIES))
def test_every_family_is_differentiable_in_the_pixels(name: str) -> None:
    family = GALAXY_FAMILIES[name]
    images = batch(2, 2, 6, torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: family(x, seeded(7)), (images,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("strategy", ["dsa", "galaxy"])
def test_gradients_reach_the_images_through_augment(strategy: str) -> None:
    images = batch(3, 3, 8).requires_grad_(True)
    weights = torch.randn(3, 3, 8, 8, generator=seeded(1))
    for seed in range(8):
        (grad,) = torch.autograd.grad((augment(images, strategy, generator=seeded(seed)) * weights).sum(), images)
        assert grad.shape == images.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_galaxy_adds_spin_to_the_dsa_families() -> None:
    assert set(DSA_FAMILIES) == {"color", "crop", "cutout", "flip", "scale", "rotate"}
    assert set(GALAXY_FAMILIES) == set(DSA_FAMILIES) | {"spin"}


def test_a_quarter_turn_moves_pixels_exactly() -> None:
    images = batch(2, 3, 7)
    turned = rotate_by(images, torch.full((2,), math.pi / 2))
    assert torch.allclose(turned, torch.rot90(images, -1, dims=(2, 3)), atol=1e-5)


def test_a_mirror_then_half_turn_is_an_up_down_flip() -> None:
    images = batch(1, 1, 6)
    out = rotate_by(images, torch.tensor([math.pi]), torch.tensor([True]))
    assert torch.allclose(out, images.flip(2), atol=1e-5)


def test_spin_leaves_a_round_galaxy_round() -> None:
    size = 21
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    radius2 = coords.view(-1, 1) ** 2 + coords.view(1, -1) ** 2
    blob = torch.exp(-radius2 / (2 * 3.0**2)).expand(8, 1, size, size).contiguous()
    out = spin(blob, seeded(3))
    # bilinear resampling of a sigma-3 peak costs about 1/(8 sigma^2) per axis
    assert (out - blob).abs().max() < 0.03
    # corners come from the sky at the border, not from a reflection of the galaxy's wings
    assert out[:, :, [0, 0, -1, -1], [0, -1, 0, -1]].max() < 0.01
    # and an elongated one really turns: its second moments change with the angle
    bar = torch.exp(-(coords.view(1, -1) ** 2 / 30.0 + coords.view(-1, 1) ** 2 / 2.0)).expand(8, 1, size, size)
    turned = spin(bar.contiguous(), seeded(3))
    spread_x = (turned * coords.view(1, -1) ** 2).sum(dim=(1, 2, 3)) / turned.sum(dim=(1, 2, 3))
    assert spread_x.max() - spread_x.min() > 2.0


def test_flip_mirrors_some_images_and_keeps_the_others() -> None:
    images = batch(40, 1, 5)
    out = flip(images, seeded(2))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 8 <= sum(mirrored) <= 32


def test_crop_shifts_by_whole_pixels_within_the_padding() -> None:
    size = 16
    shift = int(size * CROP_PAD + 0.5)
    images = torch.rand(10, 1, size, size, generator=seeded(5)) + 1.0
    out = crop_shift(images, seeded(6))
    for original, shifted in zip(images, out):
        matches = [
            (dy, dx)
            for dy in range(-shift, shift + 1)
            for dx in range(-shift, shift + 1)
            if torch.equal(
                shifted[0, max(0, -dy) : size - max(0, dy), max(0, -dx) : size - max(0, dx)],
                original[0, max(0, dy) : size + min(0, dy), max(0, dx) : size + min(0, dx)],
            )
        ]
        assert len(matches) == 1
        dy, dx = matches[0]
        assert int((shifted == 0).sum()) == size * size - (size - abs(dy)) * (size - abs(dx))


def test_cutout_zeroes_at_most_a_half_size_square() -> None:
    size = 12
    images = torch.ones(30, 2, size, size)
    out = cutout(images, seeded(8))
    zeros = (out == 0).all(dim=1)
    counts = zeros.sum(dim=(1, 2))
    assert counts.max() == (size // 2) ** 2 and counts.min() > 0
    assert torch.equal(out[:, 0] == 0, out[:, 1] == 0)
    for mask in zeros:
        rows, cols = mask.nonzero(as_tuple=True)
        assert mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()


def test_colour_only_shifts_a_flat_grey_image_by_the_brightness_range() -> None:
    images = torch.full((50, 3, 4, 4), 0.3)
    out = colour_jitter(images, seeded(9))
    per_image = out.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert (per_image[:, 0] - 0.3).abs().max() <= 0.5 + 1e-6
    assert (per_image[:, 0] - 0.3).std() > 0.1


def test_bad_strategy_or_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="augmentation must be one of"):
        augment(batch(), "sideways", generator=seeded(0))
    with pytest.raises(ValueError, match="NCHW"):
        augment(torch.zeros(3, 8, 8), "dsa", generator=seeded(0))


@pytest.mark.parametrize("strategy", AUGMENT_STRATEGIES)
def test_a_planned_augmentation_is_the_augmented_batch_to_the_bit(strategy: str) -> None:
    """The CUDA-graph path (every family run, all but one weighted by zero) must give what
    `augment` gives for the same generator, pixels and gradients alike."""
    images = batch(4, 3, 11).requires_grad_(True)
    weights = torch.randn(4, 3, 11, 11, generator=seeded(2))
    chosen = set()
    for seed in range(40):
        eager = augment(images, strategy, generator=seeded(seed))
        plan = plan_augmentation(strategy, 4, 11, 11, seeded(seed))
        planned = apply_planned(images, strategy, plan.weights, plan.draws)
        assert torch.equal(planned, eager)
        (eager_grad,) = torch.autograd.grad((eager * weights).sum(), images)
        (planned_grad,) = torch.autograd.grad((planned * weights).sum(), images)
        assert torch.equal(planned_grad, eager_grad)
        chosen.add(int(plan.weights.argmax()) if plan.weights.numel() else -1)
        assert plan.weights.sum() == (0 if strategy == "none" else 1)
    assert len(chosen) == {"dsa": 6, "galaxy": 7, "none": 1}[strategy]
