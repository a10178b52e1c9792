"""The training recipe follows the data (#21 §1): the crop from the sources' extent, a stretch
that keeps sparse maps' sources, padding that invents no sources, augmentation that keeps the
noise of unaugmented images, no turning of images that share an orientation, and the choice
of keeping the epoch that gets most right."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.cli.options import option_arguments
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import default_settings, interval_limits, render_rgb
from galaxy_studio.events import Noted, Warned
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.classification import classify_items, open_classifier
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.datasets import right_angle_views, rotate_and_crop
from galaxy_studio.model.preferred_orientation import orientation_check
from galaxy_studio.model.preprocessing import Preprocessing, sky_padded
from galaxy_studio.model.source_extent import SMALLEST_CROP, choose_crop
from galaxy_studio.model.training import _State, _track_best, train_classifier
from galaxy_studio.settings import settings_of

from .conftest import tiny_config


def _sources(side: int, radius: float, rng: np.random.Generator, neighbours: int = 0) -> np.ndarray:
    """A grey stamp: noise, a pair of blobs `radius` (fraction of the half side) from the
    centre at a random angle, and optional bright neighbours anywhere."""
    image = rng.normal(10.0, 1.0, (side, side))
    rows, cols = np.mgrid[:side, :side]
    angle = rng.uniform(0, 2 * math.pi)
    spots = [
        (radius * math.cos(angle), radius * math.sin(angle)),
        (-radius * math.cos(angle), -radius * math.sin(angle)),
    ]
    spots += [tuple(rng.uniform(-1, 1, 2)) for _ in range(neighbours)]
    for dx, dy in spots:
        x, y = side / 2 + dx * side / 2, side / 2 + dy * side / 2
        image += 50.0 * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * 2.0**2))
    return image


def test_the_crop_keeps_how_far_the_sources_reach() -> None:
    rng = np.random.default_rng(0)
    compact = choose_crop([_sources(96, 0.05, rng) for _ in range(40)])
    lobes = choose_crop([_sources(96, 0.85, rng) for _ in range(40)])
    middle = choose_crop([_sources(96, 0.4, rng) for _ in range(40)])
    assert compact.fraction == SMALLEST_CROP
    assert lobes.fraction >= 0.9, "lobes at 85% of the half side: (nearly) the whole stamp"
    assert 0.4 <= middle.fraction <= 0.6, middle
    assert "chosen from the data" in middle.reason() and "of 40 training images" in middle.reason()


def test_neighbours_anywhere_do_not_widen_the_crop() -> None:
    rng = np.random.default_rng(1)
    alone = choose_crop([_sources(96, 0.3, rng) for _ in range(60)])
    crowded = choose_crop([_sources(96, 0.3, rng, neighbours=1) for _ in range(60)])
    assert crowded.fraction <= alone.fraction + 0.05, "a neighbour as bright as each lobe, at a random place"


def test_blank_stamps_keep_the_whole_stamp() -> None:
    choice = choose_crop([np.zeros((32, 32)) for _ in range(5)])
    assert (choice.fraction, choice.images) == (1.0, 0)


def test_a_sparse_map_keeps_its_sources_shaded() -> None:
    """Jy/beam values with 99.9% of the pixels at zero: the 99.5% interval collapses; it used
    to fall back to a range of 1 (in Jy!) and showed the whole source black."""
    image = np.zeros((100, 100, 1), np.float32)
    image[50, 50] = 1e-2
    image[40:43, 40:43] = 5e-4
    cutout = Cutout(data=image, bands=["radio"], source="map.fits", format="fits")
    assert interval_limits(image, "99.5%") == pytest.approx((0.0, 1e-2))
    rgb = render_rgb(cutout, default_settings(cutout))[::-1]
    assert rgb[50, 50, 0] == 255 and 20 < rgb[41, 41, 0] < 255, "the faint patch is grey, not black or white"


def test_optical_data_keep_the_percentile_stretch() -> None:
    rng = np.random.default_rng(2)
    cutout = Cutout(
        data=_sources(64, 0.5, rng)[:, :, None] * np.ones(3), bands=["g", "r", "z"], source="g.fits", format="fits"
    )
    cutout.data[20:44, 20:44] += 30.0
    assert default_settings(cutout).interval == "99.5%"


def test_padding_shows_empty_sky_not_mirrored_sources() -> None:
    """A lobe touching the edge used to be mirrored into the corners of every rotated view."""
    rng = np.random.default_rng(3)
    plane = np.clip(rng.normal(20, 2, (64, 64)), 0, 255).astype(np.uint8)
    plane[28:36, 58:64] = 250
    padded = sky_padded(plane, 20)
    assert padded.shape == (104, 104) and padded.dtype == np.uint8
    assert np.array_equal(padded[20:84, 20:84], plane)
    outside = padded[:, 84:]
    assert outside.max() < 60, "no copy of the lobe beyond the edge"
    assert abs(float(outside.mean()) - 20.0) < 1.0 and 1.0 < float(outside.std()) < 3.0, "the sky's level and noise"
    assert np.array_equal(sky_padded(plane, 20), padded), "a cutout always pads the same way"


def test_turned_training_views_keep_the_pixels_and_their_noise() -> None:
    """Interpolated rotations smoothed the noise of training images that validation never sees
    (point sources on noise: validation accuracy fell to chance while training reached 96%).
    Right-angle views move pixels; turns by any angle take the nearest pixel's value."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(8, 1, 64, 64, generator=generator)
    views = right_angle_views(images, [(k % 4, k >= 4) for k in range(8)])
    for image, view in zip(images, views, strict=True):
        assert torch.equal(image.flatten().sort().values, view.flatten().sort().values)
    wide = torch.randn(8, 1, 91, 91, generator=generator)
    turned = rotate_and_crop(wide, [0.3, 1.0, 2.0, 3.0, 4.0, 5.0, 0.7, 1.3], [False, True] * 4, 64)
    assert abs(float(turned.std()) - float(wide.std())) < 0.03, "the noise keeps its spread"
    assert bool(torch.isin(turned, wide).all()), "every value is one of the image's own pixels"


def _state(loss: float = math.inf) -> _State:
    model = torch.nn.Linear(2, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    return _State(model, optimiser, torch.optim.lr_scheduler.StepLR(optimiser, 1), torch.amp.GradScaler(enabled=False))


def test_keep_balanced_accuracy_keeps_the_epoch_that_gets_most_right(tmp_path: Path) -> None:
    """A network growing confident raises the validation loss while it gets more right: the
    lowest loss (epoch 2, near chance) is what the default keeps, `--keep balanced-accuracy`
    the epoch that gets most right."""
    curve = [(1.30, 0.30), (1.20, 0.35), (1.40, 0.60), (1.60, 0.72), (1.90, 0.70), (2.10, 0.72)]
    by_score, by_loss = _state(), _state()
    for epoch, (loss, score) in enumerate(curve, start=1):
        _track_best(TrainConfig("d", "o", keep="balanced-accuracy"), by_score, epoch, loss, score)
        _track_best(TrainConfig("d", "o"), by_loss, epoch, loss, score)
    assert by_score.best_epoch == 4, "epoch 6 ties on accuracy with a higher loss"
    assert by_loss.best_epoch == 2


def test_patience_waits_while_either_the_loss_or_the_score_improves() -> None:
    config = TrainConfig("d", "o", patience=2, keep="balanced-accuracy")
    state = _state()
    for epoch, (loss, score) in enumerate([(1.0, 0.5), (1.1, 0.6), (1.2, 0.7), (0.9, 0.7), (1.3, 0.6)], start=1):
        _track_best(config, state, epoch, loss, score)
        assert not state.stopped_early
    _track_best(config, state, 6, 1.4, 0.6)
    assert state.stopped_early and state.best_epoch == 4


def test_crop_auto_on_the_command_line_and_in_the_record(demo_set: Path, tmp_path: Path) -> None:
    parse = option_arguments(settings_of(TrainConfig)["crop_fraction"])["type"]
    assert parse("auto") == 0 and parse("AUTO") == 0 and parse("0.7") == pytest.approx(0.7)
    events: list[object] = []
    result = train_classifier(tiny_config(demo_set, tmp_path / "run", epochs=1, crop_fraction=None), emit=events.append)
    notes = [event.text for event in events if isinstance(event, Noted)]
    assert len(notes) == 3 and "chosen from the data" in notes[0] and notes[1].startswith("channels:")
    assert notes[2].startswith("augmentation:") and "any angle" in notes[2]
    assert result.metrics["rotations"] == "right-angles"
    assert result.metrics["preprocessing_notes"] == notes
    crop = float(notes[0].split()[1])
    assert Preprocessing.from_dict(load_classifier(result.checkpoint)[1]["preprocessing"]).crop_fraction == crop


def _stroke(side: int, angle: float, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.mgrid[:side, :side] - side / 2
    along = cols * math.cos(angle) + rows * math.sin(angle)
    across = -cols * math.sin(angle) + rows * math.cos(angle)
    return 100.0 * np.exp(-(along**2) / 80.0 - across**2 / 4.0) + rng.normal(0, 1, (side, side))


def test_images_that_share_an_orientation_are_not_turned() -> None:
    """Upright strokes (a digit 1) turned by a right angle are another figure; galaxies at any
    angle are the same galaxy."""
    rng = np.random.default_rng(4)
    upright = orientation_check([_stroke(48, math.pi / 2 + rng.normal(0, 0.2), rng) for _ in range(60)])
    anyhow = orientation_check([_stroke(48, rng.uniform(0, math.pi), rng) for _ in range(60)])
    assert upright.oriented and upright.z > 6 and "no rotations" in upright.reason()
    assert not anyhow.oriented and anyhow.z < 3 and "any angle" in anyhow.reason()


def test_a_model_trained_without_turning_is_not_turned_at_test_time(demo_set: Path, tmp_path: Path) -> None:
    result = train_classifier(tiny_config(demo_set, tmp_path / "upright", epochs=1, augment=False))
    assert result.metrics["rotations"] == "none"
    classifier = open_classifier(result.checkpoint)
    item = CatalogItem(str(next(demo_set.rglob("*.jpg"))))
    events: list[object] = []
    asked = classify_items(classifier, [item], tta=True, device="cpu", emit=events.append)[0][0]
    plain = classify_items(classifier, [item], device="cpu")[0][0]
    assert asked.probabilities == plain.probabilities
    assert any(isinstance(event, Warned) and "share an orientation" in event.text for event in events)
