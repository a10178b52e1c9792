"""The Gaussian blur that keeps image updates broad."""

from __future__ import annotations

import torch

from galaxy_studio.distill.smoothing import blur_radius, blurred


def test_a_blur_keeps_flat_images_and_the_mean_and_damps_pixel_noise() -> None:
    flat = torch.full((1, 3, 12, 12), 2.5)
    torch.testing.assert_close(blurred(flat, 1.0), flat)
    noise = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    smoothed = blurred(noise, 2.0)
    assert smoothed.shape == noise.shape
    assert smoothed.std() < 0.25 * noise.std()
    torch.testing.assert_close(smoothed.mean(), noise.mean(), atol=0.02, rtol=0)


def test_a_broad_gradient_passes_almost_unchanged_and_channels_stay_apart() -> None:
    ramp = torch.linspace(-1, 1, 32).expand(32, 32)
    images = torch.stack([ramp, -ramp, torch.zeros(32, 32)])[None]
    smoothed = blurred(images, 1.0)
    torch.testing.assert_close(smoothed[..., 4:-4], images[..., 4:-4], atol=1e-5, rtol=0)
    assert smoothed[0, 2].abs().max() == 0


def test_no_blur_is_the_identity_and_the_radius_is_three_sigma() -> None:
    images = torch.randn(1, 1, 8, 8)
    assert blurred(images, 0.0) is images
    assert [blur_radius(sigma) for sigma in (0.1, 1.0, 1.5, 2.0)] == [1, 3, 5, 6]
