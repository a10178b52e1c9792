"""Labelled data from every source, the stratified split, and the Dataset's augmentation."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from galaxy_studio.data.catalog import open_catalog
from galaxy_studio.events import Cancelled, CancelToken, Progressed
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.labels.store import Project
from galaxy_studio.model.datasets import (
    GalaxyDataset,
    centre_crop,
    load_labelled_data,
    prepare_pixels,
    rotate_and_crop,
    stratified_split,
)
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing

from .conftest import DEMO_CLASSES, DEMO_PER_CLASS


def test_a_folder_per_class_gives_items_labels_and_classes(demo_set: Path) -> None:
    data = load_labelled_data(demo_set)
    assert data.classes == tuple(sorted(DEMO_CLASSES))
    assert len(data) == 3 * DEMO_PER_CLASS
    assert np.bincount(data.labels).tolist() == [DEMO_PER_CLASS] * 3
    for item, label in zip(data.items, data.labels):
        assert Path(item.path).parent.name == data.classes[label]


def test_a_csv_with_a_label_column(demo_set: Path, tmp_path: Path) -> None:
    table = tmp_path / "list.csv"
    files = sorted(demo_set.rglob("*.jpg"))[::9]
    with table.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "class"])
        for index, path in enumerate(files):
            writer.writerow([str(path), "" if index == 0 else path.parent.name])
    data = load_labelled_data(table)
    assert len(data) == len(files) - 1
    assert data.notes == ("1 unlabelled image left out",)
    assert set(data.classes) == {path.parent.name for path in files[1:]}


def test_a_galaxy10_file_uses_its_class_names(tmp_path: Path) -> None:
    path = tmp_path / "g10.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=np.zeros((6, 16, 16, 3), np.uint8))
        handle.create_dataset("ans", data=np.array([2, 2, 9, 9, 5, 2], np.uint8))
    data = load_labelled_data(path)
    assert data.classes == ("Round Smooth", "Barred Spiral", "Edge-on with Bulge")
    assert data.labels.tolist() == [0, 0, 2, 2, 1, 0]
    assert [item.index for item in data.items] == list(range(6))


def test_a_project_gives_its_consensus_labels_but_not_a_models(demo_set: Path, tmp_path: Path) -> None:
    project_path = tmp_path / "spirals.gsproj"
    items = [item for item in open_catalog(demo_set).items if item.label != DEMO_CLASSES[2]]
    with Project.create(project_path, ClassScheme("two", (DEMO_CLASSES[1], DEMO_CLASSES[0]))) as project:
        project.add_items(items)
        ids = [image.id for image in project.images()]
        project.label(ids[0], DEMO_CLASSES[1], labeller="ada")
        project.clear_label(ids[1], labeller="import")
        project.clear_label(ids[2], labeller="import")
        project.label(ids[2], DEMO_CLASSES[0], labeller="net", source="model")
    data = load_labelled_data(project_path)
    assert data.classes == (DEMO_CLASSES[1], DEMO_CLASSES[0]), "the project's class order"
    assert len(data) == len(items) - 2
    assert data.classes[data.labels[0]] == DEMO_CLASSES[1], "the person's label wins over the import"
    assert set(data.notes) == {"1 unlabelled image left out", "1 image labelled only by a model left out"}


def test_unlabelled_or_single_class_data_is_refused(demo_set: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted(demo_set.rglob("*.jpg"))[:3]:
        shutil.copy(path, flat / f"{path.parent.name[:4]}-{path.name}")
    with pytest.raises(ModelError, match="no labelled images"):
        load_labelled_data(flat)
    single = tmp_path / "single.csv"
    single.write_text("path,label\n" + "".join(f"{path},spiral\n" for path in sorted(demo_set.rglob("*.jpg"))[:4]))
    with pytest.raises(ModelError, match="one class"):
        load_labelled_data(single)


def test_labels_outside_a_models_classes_are_named(demo_set: Path) -> None:
    with pytest.raises(ModelError, match=DEMO_CLASSES[2]):
        load_labelled_data(demo_set, classes=list(DEMO_CLASSES[:2]))


def test_the_split_keeps_class_proportions_and_is_seeded() -> None:
    labels = np.repeat([0, 1, 2], [100, 40, 10])
    train, val, test = stratified_split(labels, (0.7, 0.15, 0.15), seed=5)
    assert np.bincount(labels[test]).tolist() == [15, 6, 2]
    assert np.bincount(labels[val]).tolist() == [15, 6, 2]
    assert np.bincount(labels[train]).tolist() == [70, 28, 6]
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(150)), "a partition"
    again = stratified_split(labels, (0.7, 0.15, 0.15), seed=5)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    other = stratified_split(labels, (0.7, 0.15, 0.15), seed=6)
    assert not np.array_equal(test, other[2])


def test_more_images_of_one_class_leave_the_others_split_alone() -> None:
    before = stratified_split(np.repeat([0, 1], [50, 50]), seed=1)
    after = stratified_split(np.repeat([0, 1], [50, 80]), seed=1)
    assert np.array_equal(before[2][:8], after[2][:8]), "class 0 draws the same test images"


def test_a_class_too_small_for_every_part_is_refused() -> None:
    with pytest.raises(ModelError, match=r"4 per class are needed \(class 1 has 1\)"):
        stratified_split(np.array([0, 0, 0, 0, 0, 0, 1]), seed=0)
    with pytest.raises(ModelError, match="fractions"):
        stratified_split(np.array([0, 1]), (0.5, 0.5, 0.5))


def test_rotation_and_flip_geometry() -> None:
    images = torch.arange(2 * 3 * 46 * 46, dtype=torch.float32).reshape(2, 3, 46, 46) / 1000
    crop = centre_crop(images, 32)
    assert torch.allclose(rotate_and_crop(images, [0.0, 0.0], [False, False], 32), crop, atol=1e-4)
    assert torch.allclose(
        rotate_and_crop(images, [math.pi / 2] * 2, [False] * 2, 32), torch.rot90(crop, 1, (2, 3)), atol=1e-4
    )
    assert torch.allclose(rotate_and_crop(images, [0.0] * 2, [True] * 2, 32), torch.flip(crop, (3,)), atol=1e-4)
    turned = rotate_and_crop(images, [math.pi / 4] * 2, [False] * 2, 32)
    assert turned.shape == (2, 3, 32, 32)
    assert not torch.allclose(turned, crop, atol=0.1)


def test_augmentation_replays_by_seed_epoch_and_index() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 3, 45, 45), dtype=np.uint8)
    prep = Preprocessing(size=32, channels="display").with_statistics([0.5] * 3, [0.25] * 3)
    dataset = GalaxyDataset(pixels, np.arange(6) % 2, prep, rotations="any", seed=7)
    dataset.set_epoch(3)
    batch = dataset.__getitems__([4, 1, 5])
    assert torch.equal(batch[1][0], dataset[1][0]), "a batch draws what single images draw"
    assert [label for _, label in batch] == [0, 1, 1]
    dataset.set_epoch(4)
    assert not torch.equal(dataset[1][0], batch[1][0]), "another epoch, another rotation"
    dataset.set_epoch(3)
    assert torch.equal(dataset[4][0], batch[0][0])
    plain = GalaxyDataset(pixels[:, :, 6:38, 6:38], np.zeros(6), prep, rotations="none")
    assert torch.equal(plain[2][0], torch.from_numpy((pixels[2, :, 6:38, 6:38] / np.float32(255) - 0.5) / 0.25))


def test_images_are_prepared_in_parallel_and_a_broken_one_is_left_out(demo_set: Path, tmp_path: Path) -> None:
    items = list(open_catalog(demo_set).items[:10])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(Path(items[0].path).read_bytes()[:200])
    items[3] = type(items[3])(str(broken), label=items[3].label)
    events: list[object] = []
    prep = Preprocessing(size=16, crop_fraction=1.0)
    pixels, failed = prepare_pixels(items, prep, threads=2, emit=events.append)
    assert pixels.shape == (10, 3, 16, 16) and failed == [3]
    assert not pixels[3].any() and pixels[4].any()
    assert [e for e in events if isinstance(e, Progressed)][-1] == Progressed(10, 10, "preparing images")


def test_preparing_images_can_be_cancelled(demo_set: Path) -> None:
    token = CancelToken()
    token.set()
    with pytest.raises(Cancelled):
        prepare_pixels(list(open_catalog(demo_set).items), Preprocessing(size=16), cancel=token)
