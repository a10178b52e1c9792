"""Explanations: every method gives a map at the cutout's resolution; the maps pass the
model-randomisation sanity check and Grad-CAM looks at the galaxy, not the sky."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import render_rgb
from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.classification import open_classifier
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.explain import (
    METHODS,
    attribution_map,
    explain_cutout,
    explainable_copy,
    map_to_cutout,
    overlay_rgb,
)
from galaxy_studio.model.preprocessing import Preprocessing, prepare_cutout
from galaxy_studio.model.training import TrainResult

SANITY_IMAGES = 12


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (ties broken by position: maps are continuous)."""
    ranks = [np.argsort(np.argsort(np.asarray(v, np.float64).ravel())).astype(np.float64) for v in (first, second)]
    a, b = (r - r.mean() for r in ranks)
    return float((a * b).sum() / math.sqrt(float((a * a).sum() * (b * b).sum())))


def central_mass(values: np.ndarray, radius_fraction: float) -> tuple[float, float]:
    """(share of the map inside a centred disc of radius `radius_fraction` x half the side,
    the disc's share of the area)."""
    height, width = values.shape
    y, x = np.mgrid[0:height, 0:width]
    inside = (x + 0.5 - width / 2) ** 2 + (y + 0.5 - height / 2) ** 2 <= (radius_fraction * min(height, width) / 2) ** 2
    return float(values[inside].sum() / values.sum()), float(inside.mean())


def demo_items(demo_set: Path, count: int) -> list[CatalogItem]:
    files = sorted(demo_set.rglob("*.jpg"))
    return [CatalogItem(str(f)) for f in files[:: len(files) // count][:count]]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_a_finite_non_negative_map_at_the_cutout_resolution(
    method: str, trained_run: TrainResult, demo_set: Path
) -> None:
    classifier = open_classifier(trained_run.checkpoint)
    cutout = read_item(demo_items(demo_set, 1)[0])
    values = explain_cutout(explainable_copy(classifier.model), classifier.prep, cutout, 1, method)
    assert values.shape == (cutout.height, cutout.width) and values.dtype == np.float32
    assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() > 0.0
    overlay = overlay_rgb(render_rgb(cutout), values, opacity=0.6, colour_map="viridis")
    assert overlay.shape == (cutout.height, cutout.width, 3) and not np.array_equal(overlay, render_rgb(cutout))


def test_the_target_class_changes_the_map(trained_run: TrainResult, demo_set: Path) -> None:
    classifier = open_classifier(trained_run.checkpoint)
    model = explainable_copy(classifier.model)
    image = prepare_cutout(read_item(demo_items(demo_set, 1)[0]), classifier.prep)
    maps = [attribution_map(model, image, target, "saliency") for target in range(3)]
    assert not np.allclose(maps[0], maps[1]) and not np.allclose(maps[1], maps[2])


def test_explaining_leaves_the_classifier_untouched(trained_run: TrainResult, demo_set: Path) -> None:
    model, _ = load_classifier(trained_run.checkpoint)
    relus = [m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    twin = explainable_copy(model)
    assert all(not m.inplace for m in twin.modules() if isinstance(m, torch.nn.ReLU))
    assert [m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU)] == relus


@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_model_randomisation_changes_the_maps(method: str, trained_run: TrainResult, demo_set: Path) -> None:
    """Adebayo et al.: a map that survives re-initialising the weights explains the image, not the model."""
    classifier = open_classifier(trained_run.checkpoint)
    trained = explainable_copy(classifier.model)
    torch.manual_seed(11)
    spec = ArchitectureSpec.from_dict(load_classifier(trained_run.checkpoint)[1]["architecture"])
    random = explainable_copy(model_from_spec(spec))
    correlations = []
    for item in demo_items(demo_set, SANITY_IMAGES):
        image = prepare_cutout(read_item(item), classifier.prep)
        target = classifier.classes.index(Path(item.path).parent.name)
        correlations.append(rank_correlation(attribution_map(trained, image, target, method),
                                             attribution_map(random, image, target, method)))
    assert float(np.mean(correlations)) < 0.5, correlations


def test_grad_cam_mass_leans_towards_the_central_galaxy(trained_run: TrainResult, demo_set: Path) -> None:
    """The demo galaxies sit in the middle of their stamps. On the tiny 32 px test network the
    last convolution is a 4 x 4 grid whose cells all see most of the image, so the map is
    coarse: measured 0.25 of the mass in the central disc of 0.20 of the area. This asserts
    the lean towards the galaxy, not that most of the mass is on it."""
    classifier = open_classifier(trained_run.checkpoint)
    model = explainable_copy(classifier.model)
    shares = []
    for item in demo_items(demo_set, SANITY_IMAGES):
        cutout = read_item(item)
        values = explain_cutout(model, classifier.prep, cutout, classifier.classes.index(Path(item.path).parent.name),
                                "gradcam")
        if values.sum() > 0:
            shares.append(central_mass(values, 0.5))
    mass = float(np.mean([m for m, _ in shares]))
    area = shares[0][1]
    assert len(shares) >= SANITY_IMAGES - 2
    assert mass > 1.15 * area, (mass, area)


def test_the_map_covers_the_crop_region_and_is_zero_outside() -> None:
    prep = Preprocessing(size=8, crop_fraction=0.5, mean=(0.0,), std=(1.0,), channels="bands", bands=("r",))
    cutout = Cutout(np.zeros((40, 60, 1), np.float32), bands=["r"], source="x", format="raster")
    full = map_to_cutout(np.ones((8, 8), np.float32), prep, cutout)
    assert full.shape == (40, 60)
    rows, cols = np.nonzero(full)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 29, 20, 39)


def test_unknown_method_and_colour_map_are_named() -> None:
    model = explainable_copy(model_from_spec(ArchitectureSpec("galaxy-cnn", 2, 3, 16, 8)))
    with pytest.raises(ModelError, match="unknown explanation method 'lime'"):
        attribution_map(model, np.zeros((3, 16, 16), np.float32), 0, "lime")
    with pytest.raises(ModelError, match="unknown colour map 'rainbow'"):
        overlay_rgb(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32), colour_map="rainbow")
