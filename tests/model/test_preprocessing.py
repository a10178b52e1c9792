"""From cutouts to network input: crop, channels, normalisation, and what a checkpoint records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.data.formats import read_cutout
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import (
    Preprocessing,
    channel_statistics,
    choose_preprocessing,
    decode_side,
    extract_channels,
    normalise,
    prepare_cutout,
)


def _cutout(data: np.ndarray, bands: list[str], fmt: str = "fits") -> Cutout:
    return Cutout(data=data.astype(np.float32), bands=bands, source="test", format=fmt)


def test_a_real_jpeg_becomes_a_normalised_square(samples: Path) -> None:
    cutout = read_cutout(next((samples / "gz-spiral" / "spirals").glob("*.jpg")))
    prep = choose_preprocessing(cutout, size=64, crop_fraction=0.5, channels="display")
    pixels = extract_channels(cutout, prep)
    assert pixels.shape == (3, 64, 64) and pixels.dtype == np.uint8
    mean, std = channel_statistics(pixels[None], prep)
    ready = prepare_cutout(cutout, prep.with_statistics(mean, std))
    assert ready.shape == (3, 64, 64) and ready.dtype == np.float32
    assert np.allclose(ready.mean(axis=(1, 2)), 0.0, atol=1e-4)
    assert np.allclose(ready.std(axis=(1, 2)), 1.0, atol=1e-3)


def test_the_crop_keeps_the_centre() -> None:
    data = np.zeros((100, 100, 1))
    data[40:60, 40:60] = 1.0  # a bright square filling the central 20%
    prep = Preprocessing(size=20, crop_fraction=0.2, channels="bands", bands=("band0",))
    inner = extract_channels(_cutout(data, ["band0"]), prep)[0]
    wide = extract_channels(_cutout(data, ["band0"]), Preprocessing(20, 1.0, "bands", bands=("band0",)))[0]
    assert inner.min() > inner.max() - 1e-3, "the 20% crop sees only the square"
    assert wide[0, 0] < wide[10, 10], "the full frame sees the dark surroundings too"


def test_the_rotation_margin_surrounds_the_same_crop(samples: Path) -> None:
    cutout = read_cutout(next((samples / "gz-spiral" / "non_spirals").glob("*.jpg")))
    prep = choose_preprocessing(cutout, size=64, crop_fraction=0.5, channels="display")
    plain = extract_channels(cutout, prep).astype(np.float32)
    wide = extract_channels(cutout, prep, context=math.sqrt(2)).astype(np.float32)
    assert wide.shape == (3, 91, 91)
    start = (91 - 64) // 2
    centre = wide[:, start : start + 64, start : start + 64]
    assert np.abs(centre - plain).mean() < 3.0, "same pixels up to resampling"


def test_a_margin_beyond_the_image_is_mirrored_not_black() -> None:
    data = np.full((40, 40, 1), 5.0)
    data += np.random.default_rng(0).normal(0, 1, data.shape)
    prep = Preprocessing(size=32, crop_fraction=1.0, channels="bands", bands=("band0",))
    wide = extract_channels(_cutout(data, ["band0"]), prep, context=math.sqrt(2))[0]
    assert wide.shape == (45, 45)
    assert np.abs(wide[:4, :4]).mean() > 0.1 and np.abs(wide).mean() < 5


def test_bands_mode_reads_the_named_bands_in_order_with_asinh() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(100.0, 2.0, (32, 32, 3))
    data[:, :, 2] += 1000.0  # z has a bright source everywhere: asinh keeps it bounded
    prep = Preprocessing(size=16, crop_fraction=1.0, channels="bands", bands=("z", "g"))
    pixels = extract_channels(_cutout(data, ["g", "r", "z"]), prep)
    assert pixels.shape == (2, 16, 16) and pixels.dtype == np.float32
    assert np.abs(pixels).max() < 10, "sky-subtracted asinh of the signal-to-noise stays small"


def test_a_cutout_without_the_models_bands_is_a_clear_error() -> None:
    prep = Preprocessing(size=16, crop_fraction=1.0, channels="bands", bands=("g", "r", "z"))
    with pytest.raises(ModelError, match=r"reads bands g, r, z but this cutout has R, G, B"):
        prepare_cutout(_cutout(np.zeros((20, 20, 3)), ["R", "G", "B"], "jpeg"), prep)


def test_display_settings_that_do_not_fit_are_a_clear_error() -> None:
    prep = Preprocessing(size=16, crop_fraction=1.0, display=DisplaySettings(bands=(0, 1, 2)))
    with pytest.raises(ModelError, match="display settings do not fit"):
        prepare_cutout(_cutout(np.zeros((20, 20, 1)), ["band0"]), prep)


def test_the_recipe_round_trips_through_json() -> None:
    prep = Preprocessing(
        size=48,
        crop_fraction=0.6,
        channels="display",
        display=DisplaySettings(stretch="asinh", interval="99%", bands=(2, 1, 0)),
    ).with_statistics([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])
    assert Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict()))) == prep
    bands = Preprocessing(size=32, channels="bands", bands=("g", "r"))
    assert Preprocessing.from_dict(json.loads(json.dumps(bands.to_dict()))) == bands


def test_normalise_treats_one_image_and_a_batch_alike() -> None:
    prep = Preprocessing(size=8, channels="display").with_statistics([0.5, 0.4, 0.3], [0.1, 0.2, 0.3])
    batch = np.random.default_rng(2).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    assert np.array_equal(normalise(batch, prep)[2], normalise(batch[2], prep))
    assert normalise(batch, prep)[0, 1, 0, 0] == pytest.approx((batch[0, 1, 0, 0] / 255 - 0.4) / 0.2, rel=1e-5)


def test_decoding_may_be_reduced_to_the_crops_resolution() -> None:
    assert decode_side(Preprocessing(size=64, crop_fraction=0.5)) == 128
    assert decode_side(Preprocessing(size=64, crop_fraction=0.5), context=math.sqrt(2)) == 182


def test_impossible_recipes_are_refused() -> None:
    with pytest.raises(ModelError, match="crop fraction"):
        Preprocessing(crop_fraction=0.0)
    with pytest.raises(ModelError, match="channels"):
        Preprocessing(channels="magic")
    with pytest.raises(ModelError, match="band names"):
        Preprocessing(channels="bands")
