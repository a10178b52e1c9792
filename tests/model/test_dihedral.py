"""The sky's symmetry built into a network (#18 §2): galaxy-cnn-d4 gives the same output for
the 8 right-angle turns and mirrors of its input, so training does not turn images by right
angles for it and classification does not average over those views again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.events import Noted
from galaxy_studio.model.architectures import build_model, feature_extractor, linear_head
from galaxy_studio.model.classification import classify_items, open_classifier
from galaxy_studio.model.config import ARCHITECTURE_NAMES, TURN_INVARIANT_ARCHITECTURES
from galaxy_studio.model.data_recipe import choose_data_recipe
from galaxy_studio.model.datasets import load_labelled_data, run_split
from galaxy_studio.model.dihedral import dihedral_views, unturned_mean
from galaxy_studio.model.explain import attribution_map, explainable_copy
from galaxy_studio.model.training import train_classifier

from .conftest import tiny_config


def _with_learned_statistics(name: str, size: int, channels: int = 3, steps: int = 15) -> torch.nn.Module:
    """A network trained for a few steps to tell 16 images apart, in eval mode: its batch norms
    hold running statistics and its outputs differ between images by much more than 1e-5
    (an untrained one answers nearly the same for every image, which would prove nothing)."""
    torch.manual_seed(1)
    model = build_model(name, n_classes=4, in_channels=channels, size=size, width=8)
    images = _lopsided_galaxies(16, size, channels, seed=size)
    labels = torch.arange(16) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval()


def _lopsided_galaxies(count: int, size: int, channels: int, seed: int) -> torch.Tensor:
    """Noise and an elongated blob off the centre at a random place and angle, bright in a
    random mix of channels: images that no turn or mirror leaves as they are, and that
    differ from each other more than noise does."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    images = rng.normal(0.0, 0.3, (count, channels, size, size))
    for image in images:
        y, x = rng.uniform(-size / 4, size / 4, 2)
        angle = rng.uniform(0, np.pi)
        along = (cols - x) * np.cos(angle) + (rows - y) * np.sin(angle)
        across = -(cols - x) * np.sin(angle) + (rows - y) * np.cos(angle)
        blob = np.exp(-(along**2) / (2 * (size / 6) ** 2) - across**2 / (2 * (size / 20) ** 2))
        image += 3.0 * rng.uniform(0.2, 1.0, (channels, 1, 1)) * blob
    return torch.from_numpy(images.astype(np.float32))


def _largest_change_under_turns(model: torch.nn.Module, images: torch.Tensor) -> float:
    with torch.no_grad():
        reference = model(images)
        return max(float((model(view) - reference).abs().max()) for view in dihedral_views(images))


@pytest.mark.parametrize("size", [32, 33])
def test_galaxy_cnn_d4_gives_the_same_output_for_all_eight_turns_and_mirrors(size: int) -> None:
    model = _with_learned_statistics("galaxy-cnn-d4", size)
    images = _lopsided_galaxies(5, size, 3, seed=size)
    views = dihedral_views(images)
    assert len({view.numpy().tobytes() for view in views}) == 8, "the 8 inputs really differ"
    with torch.no_grad():
        reference = model(images)
        probabilities = torch.softmax(reference, dim=1)
        for view in views:
            np.testing.assert_allclose(model(view).numpy(), reference.numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(torch.softmax(model(view), dim=1).numpy(), probabilities.numpy(), atol=1e-5)
        assert float(reference.std(dim=0).max()) > 1e-3, "different images give different outputs"
    plain = _with_learned_statistics("galaxy-cnn", size)
    assert _largest_change_under_turns(plain, images) > 1e-4, "galaxy-cnn alone is not invariant"


def test_the_invariance_holds_for_the_features_and_in_training_mode() -> None:
    """Out-of-distribution scores read the features; batch norm in training mode sees the
    same 8N views of a turned batch, so the loss does not depend on a right-angle turn."""
    model = _with_learned_statistics("galaxy-cnn-d4", 32, channels=1)
    images = _lopsided_galaxies(6, 32, 1, seed=7)
    body, head = feature_extractor(model), linear_head(model)
    with torch.no_grad():
        features = body(images)
        np.testing.assert_allclose(head(features).numpy(), model(images).numpy(), atol=1e-6)
        for view in dihedral_views(images):
            np.testing.assert_allclose(body(view).numpy(), features.numpy(), atol=1e-5)
        model.train()
        training = model(images)
        for view in dihedral_views(images):
            np.testing.assert_allclose(model(view).numpy(), training.numpy(), atol=1e-5)


def test_the_networks_named_turn_invariant_are_exactly_those_that_are() -> None:
    """Training and classification read the torch-free list; it must match the networks
    (untrained ones: the others already change by more than 1e-4)."""
    images = _lopsided_galaxies(2, 32, 3, seed=3)
    changes = {
        name: _largest_change_under_turns(_with_learned_statistics(name, 32, steps=0), images)
        for name in ARCHITECTURE_NAMES
    }
    invariant = tuple(name for name, change in changes.items() if change < 1e-5)
    assert all(change > 1e-4 for name, change in changes.items() if name not in invariant), changes
    assert invariant == TURN_INVARIANT_ARCHITECTURES == ("galaxy-cnn-d4",)


def test_galaxy_cnn_d4_is_turned_by_any_angle_not_by_right_angles(demo_set: Path, tmp_path: Path) -> None:
    labelled = load_labelled_data(str(demo_set))
    train_idx, _, _ = run_split(labelled.labels, (0.7, 0.15, 0.15), 0, None, classes=labelled.classes)
    plain = choose_data_recipe(tiny_config(demo_set, tmp_path / "a"), labelled, train_idx)
    d4 = choose_data_recipe(tiny_config(demo_set, tmp_path / "b", arch="galaxy-cnn-d4"), labelled, train_idx)
    assert plain.rotations == "right-angles" and d4.rotations == "any"
    assert any("turned by any angle for the rest" in note for note in d4.notes)
    asked = choose_data_recipe(
        tiny_config(demo_set, tmp_path / "c", arch="galaxy-cnn-d4", rotations="right-angles"), labelled, train_idx
    )
    assert asked.rotations == "right-angles", "what the user asked for is kept"
    assert any("adds nothing" in note for note in asked.notes)


def test_galaxy_cnn_d4_on_images_that_share_an_orientation_is_named_the_wrong_choice(tmp_path: Path) -> None:
    """Upright strokes (a digit 1) are not turned; a network that cannot tell them from
    lying strokes is no network for them, and the run says so."""
    rng = np.random.default_rng(2)
    rows, cols = np.mgrid[:48, :48] - 24
    for label, width in (("thin", 2.0), ("thick", 5.0)):
        (tmp_path / label).mkdir()
        for index in range(20):
            angle = np.pi / 2 + rng.normal(0, 0.15)
            along = cols * np.cos(angle) + rows * np.sin(angle)
            across = -cols * np.sin(angle) + rows * np.cos(angle)
            image = 200 * np.exp(-(along**2) / 120.0 - across**2 / (2 * width**2)) + rng.normal(20, 3, (48, 48))
            Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(tmp_path / label / f"{index}.png")
    labelled = load_labelled_data(str(tmp_path))
    train_idx = np.arange(len(labelled.items))
    recipe = choose_data_recipe(tiny_config(tmp_path, tmp_path / "run", arch="galaxy-cnn-d4"), labelled, train_idx)
    assert recipe.rotations == "none"
    assert any("a 6 from a 9" in note and "choose galaxy-cnn" in note for note in recipe.notes)


def test_a_galaxy_cnn_d4_run_classifies_without_test_time_views_and_says_so(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = train_classifier(tiny_config(demo_set, tmp_path / "d4", arch="galaxy-cnn-d4", epochs=2, width=None))
    assert result.metrics["rotations"] == "any"
    classifier = open_classifier(result.checkpoint)
    convs = [module for module in classifier.model.modules() if isinstance(module, torch.nn.Conv2d)]
    assert {conv.out_channels for conv in convs} == {8}, "the default width survives the checkpoint"
    items = [CatalogItem(str(path)) for path in sorted(demo_set.rglob("*.jpg"))[:3]]
    events: list[object] = []
    asked = classify_items(classifier, items, tta=True, device="cpu", emit=events.append)[0]
    plain = classify_items(classifier, items, device="cpu")[0]
    assert [p.probabilities for p in asked] == [p.probabilities for p in plain]
    assert any(isinstance(event, Noted) and "8 times slower" in event.text for event in events)
    capsys.readouterr()
    assert main(["classify", result.run_dir, str(items[0].path), "--out", str(tmp_path / "p.csv"), "--tta"]) == 0
    assert "test-time augmentation would give the same probabilities 8 times slower" in capsys.readouterr().err


@pytest.mark.parametrize("size", [32, 33])
def test_pooling_before_the_views_computes_what_pooling_each_view_would(size: int) -> None:
    """On an even side the 2x2 average pooling runs once, before the views are made: the
    same numbers as pooling every view, for a quarter of the pixels to turn and copy."""
    model = _with_learned_statistics("galaxy-cnn-d4", size, steps=0)
    pooling = model[0]
    images = _lopsided_galaxies(3, size, 3, seed=11)
    with torch.no_grad():
        each_view = pooling.trunk(pooling.pool(torch.cat(dihedral_views(images)))).view(8, 3, -1).mean(dim=0)
        np.testing.assert_allclose(pooling(images).numpy(), each_view.numpy(), atol=1e-5)


def test_turning_the_views_back_recovers_the_map() -> None:
    maps = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(unturned_mean(torch.cat(dihedral_views(maps))), maps)


@pytest.mark.parametrize("size", [32, 33])
def test_grad_cam_of_the_turn_invariant_network_turns_with_the_image(size: int) -> None:
    """Its Grad-CAM is the mean over the 8 views' maps, each turned back: the map of a turned
    cutout is the turned map (with the unturned view's map alone it would not be)."""
    model = explainable_copy(_with_learned_statistics("galaxy-cnn-d4", size))
    image = _lopsided_galaxies(1, size, 3, seed=3)[0]
    sky = torch.zeros_like(image)
    target = int(model(image[None]).argmax())
    plain = attribution_map(model, image, target, "gradcam", sky=sky)
    assert plain.max() > 0
    for k in (1, 2, 3):
        turned = attribution_map(model, torch.rot90(image, k, dims=(-2, -1)), target, "gradcam", sky=sky)
        assert np.allclose(turned, np.rot90(plain, k), atol=1e-5 * plain.max())
    mirrored = attribution_map(model, torch.flip(image, dims=(-1,)), target, "gradcam", sky=sky)
    assert np.allclose(mirrored, plain[:, ::-1], atol=1e-5 * plain.max())
