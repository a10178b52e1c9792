"""The bounds that keep distilled images within what the real images hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.distill.pixel_bounds import PixelBounds, clipped_at_white
from galaxy_studio.distill.readability import as_pictures, percentile_range
from galaxy_studio.model.preprocessing import Preprocessing

CPU = torch.device("cpu")


def _real_images(count: int = 300, size: int = 8, *, white: float | None = 2.0) -> np.ndarray:
    """Normalised colour images: a smooth brightness that varies from image to image (the broad
    pattern whitening shrinks most) over a little noise, clipped at `white` as a camera clips
    bright skies (None: not clipped)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    broad = rng.normal(size=(count, 1, 1, 1)).astype(np.float32) * (ramp[None, None, :, None] + 1.0)
    images = broad + rng.normal(scale=0.1, size=(count, 3, size, size)).astype(np.float32)
    return images if white is None else np.minimum(images, white)


def _broadest_pattern(pictures: np.ndarray) -> np.ndarray:
    """(1, C, H, W): the unit pattern of largest variance, signed to brighten."""
    flat = pictures.reshape(len(pictures), -1)
    broadest = np.linalg.eigh(np.cov(flat, rowvar=False))[1][:, -1].reshape(1, *pictures.shape[1:])
    return broadest * np.sign(broadest.sum())


def _display_prep() -> Preprocessing:
    return Preprocessing(size=8, channels="display", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_unwhitened_images_are_clipped_to_each_channels_range() -> None:
    real = _real_images()
    bounds = PixelBounds(real, None, _display_prep(), CPU)
    low, high = percentile_range(real)
    images = torch.from_numpy(real[:8] * 3.0)
    inside = (images >= torch.from_numpy(low).float()) & (images <= torch.from_numpy(high).float())
    before = images.clone()
    bounds.keep(images)
    assert torch.equal(images[inside], before[inside])
    assert np.allclose(images.numpy(), np.clip(before.numpy(), low, high))
    assert bounds.brightest is None


def test_pictures_of_data_clipped_at_white_are_kept_no_brighter_than_white() -> None:
    real_pictures = _real_images()
    zca = ZcaWhitening.fit(real_pictures)
    prep = _display_prep()
    real = zca.whiten(real_pictures)
    bounds = PixelBounds(real, zca, prep, CPU)
    assert bounds.brightest is not None
    brightest = bounds.brightest.numpy()
    assert np.allclose(brightest, 2.0, atol=1e-4)
    # Brighter along the broadest pattern: a small step in whitened values, a large one in the
    # pictures, which the whitened bound lets through.
    images = torch.from_numpy((real[:4] + 6.0 * _broadest_pattern(real_pictures)).astype(np.float32))
    low, high = percentile_range(real)
    assert np.mean((images.numpy() >= low) & (images.numpy() <= high)) > 0.85
    assert np.mean(as_pictures(images.numpy(), zca, prep) > brightest) > 0.3

    bounds.keep(images)

    pictures = as_pictures(images.numpy(), zca, prep)
    assert np.all(pictures <= brightest + 1e-3)
    assert np.isclose(pictures, brightest, atol=1e-3).mean() > 0.3, "the excess is taken off, no more"


def test_pictures_within_range_are_left_to_the_whitened_bound_and_darker_than_black_stays() -> None:
    real_pictures = _real_images()
    zca = ZcaWhitening.fit(real_pictures)
    real = zca.whiten(real_pictures)
    prep = _display_prep()
    bounds = PixelBounds(real, zca, prep, CPU)
    low, high = percentile_range(real)
    calm = torch.from_numpy(0.5 * real[:8])
    expected = np.clip(calm.numpy(), low, high)
    bounds.keep(calm)
    assert np.array_equal(calm.numpy(), expected.astype(np.float32))
    black = -np.asarray(prep.mean) / np.asarray(prep.std)
    dark = torch.from_numpy((real[:4] - 6.0 * _broadest_pattern(real_pictures)).astype(np.float32))
    assert np.all(zca.unwhiten(dark.numpy()).min(axis=(0, 2, 3)) < black)
    bounds.keep(dark)
    assert np.all(zca.unwhiten(dark.numpy()).min(axis=(0, 2, 3)) < black), "no floor at black"


def test_data_whose_brightest_pixels_are_rare_gets_no_ceiling() -> None:
    real_pictures = _real_images(white=None)
    zca = ZcaWhitening.fit(real_pictures)
    real = zca.whiten(real_pictures)
    assert clipped_at_white(as_pictures(real, zca, _display_prep())) is None
    bounds = PixelBounds(real, zca, _display_prep(), CPU)
    assert bounds.brightest is None
    low, high = percentile_range(real)
    images = torch.from_numpy(real[:4] * 3.0)
    expected = np.clip(images.numpy(), low, high)
    bounds.keep(images)
    assert np.array_equal(images.numpy(), expected.astype(np.float32))


def test_only_the_channels_clipped_at_white_get_a_ceiling() -> None:
    pictures = _real_images(white=None)
    pictures[:, 1] = np.minimum(pictures[:, 1], 1.5)
    ceiling = clipped_at_white(pictures)
    assert ceiling is not None
    assert np.isinf(ceiling[0, 0, 0, 0]) and np.isinf(ceiling[0, 2, 0, 0])
    assert ceiling[0, 1, 0, 0] == pytest.approx(1.5)
