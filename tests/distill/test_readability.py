"""Readability of prototypes: real images pass, saturated noise and far-away images do not."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_studio.distill.readability import describe_readability, measure_readability


def real_images(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, 3, 8, 8)).astype(np.float32)


def test_real_images_read_as_real() -> None:
    real = real_images()
    measures = measure_readability(real_images(10, seed=1), real)
    assert measures["outside_fraction"] < 0.004
    assert measures["std_ratio"] == pytest.approx(1.0, abs=0.1)
    assert measures["nearest_ratio"] == pytest.approx(1.0, abs=0.15)
    assert measures["readable"]


def test_saturated_colour_noise_is_not_readable() -> None:
    real = real_images()
    noise = 13.0 * real_images(10, seed=2)  # the report: a spread of 13 sigma
    measures = measure_readability(noise, real)
    assert measures["outside_fraction"] > 0.5 and measures["std_ratio"] == pytest.approx(13.0, rel=0.1)
    assert measures["nearest_ratio"] > 5.0 and not measures["readable"]
    assert "NOT readable" in describe_readability(measures)


def test_copies_of_training_images_sit_on_the_data() -> None:
    real = real_images()
    assert measure_readability(real[:5], real)["nearest_ratio"] == pytest.approx(0.0, abs=1e-6)


def test_a_sky_a_shade_below_the_real_black_is_not_counted() -> None:
    real = np.clip(real_images(), 0.0, None)  # a clipped sky: half the pixels at exactly 0
    darker = real[:5] - 0.03 * real.max()
    brighter = real[:5] * 4.0
    assert measure_readability(darker, real)["outside_fraction"] == 0.0
    assert measure_readability(brighter, real)["outside_fraction"] > 0.05


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="same image shape"):
        measure_readability(np.zeros((2, 3, 8, 8)), np.zeros((5, 1, 8, 8)))
