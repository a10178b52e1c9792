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


def test_pictures_undo_the_whitening_and_floor_displayed_pictures_at_black() -> None:
    from galaxy_studio.distill.init import ZcaWhitening
    from galaxy_studio.distill.readability import as_pictures
    from galaxy_studio.model.preprocessing import Preprocessing

    real = real_images()
    zca = ZcaWhitening.fit(real)
    display = Preprocessing(size=8, mean=(0.2, 0.2, 0.2), std=(0.1, 0.1, 0.1))  # black is -2 in network units
    np.testing.assert_allclose(as_pictures(zca.whiten(real), zca, display), np.maximum(real, -2.0), atol=1e-4)
    bands = Preprocessing(size=8, channels="bands", bands=("g", "r", "z"), mean=(0.0,) * 3, std=(1.0,) * 3)
    np.testing.assert_allclose(as_pictures(real, None, bands), real)
    darker_sky = np.where(real < 0, real - 5.0, real)
    assert not measure_readability(darker_sky, real)["readable"], "unfloored, a darker sky counts"
    floored = measure_readability(as_pictures(darker_sky, None, display), as_pictures(real, None, display))
    assert floored["outside_fraction"] < 0.002 and floored["readable"], "shown as black, as the real sky is"


def galaxies_in_three_bands(n: int, seed: int) -> np.ndarray:
    """Blobs of random position and brightness, the same shape in every band, each band
    with its own faint noise: the bands of a real galaxy agree."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:16, 0:16]
    centres = rng.uniform(4, 12, (n, 2))
    shape = np.exp(-((y - centres[:, 0, None, None]) ** 2 + (x - centres[:, 1, None, None]) ** 2) / 8.0)
    colour = np.array([1.0, 0.9, 0.8])[None, :, None, None]
    images = rng.uniform(0.5, 2.0, (n, 1, 1, 1)) * colour * shape[:, None] + rng.normal(0, 0.02, (n, 3, 16, 16))
    return images.astype(np.float32)


def test_bands_drifted_apart_are_caught_by_their_colours() -> None:
    real = galaxies_in_three_bands(300, seed=0)
    drifted = np.stack([galaxies_in_three_bands(10, seed=s)[:, band] for band, s in enumerate((1, 2, 3))], axis=1)
    measures = measure_readability(drifted, real)
    assert measures["outside_fraction"] < 0.02 and 0.5 < measures["std_ratio"] < 2.0, "each band alone looks real"
    assert measures["colour_outside_fraction"] > 0.15 and not measures["readable"]
    assert "colours no real pixel has" in describe_readability(measures)
    same_colours = measure_readability(galaxies_in_three_bands(10, seed=4), real)
    assert same_colours["colour_outside_fraction"] < 0.01 and same_colours["readable"]


def test_one_band_has_no_colours_to_drift() -> None:
    real = real_images()[:, :1]
    measures = measure_readability(real_images(10, seed=1)[:, :1], real)
    assert measures["colour_outside_fraction"] == 0.0 and measures["readable"]


def test_an_evaluation_from_before_the_colour_measure_still_reads() -> None:
    old = {"outside_fraction": 0.0, "std_ratio": 1.0, "nearest_ratio": 1.0, "readable": True}
    assert "colours" not in describe_readability(old) and describe_readability(old).startswith("Prototypes readable")
