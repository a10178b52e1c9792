"""Every image of a data source, labelled or not, with whatever labels it already has.

Training reads only labelled images; exploring needs all of them, because the unlabelled
ones are the point. Labels ride along so that clusters can be scored against them and a
map can be coloured by them, with -1 for an image nobody has labelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem, open_catalog, read_item
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.labelled import UNLABELLED, LabelledData
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing, choose_preprocessing

PROJECT_SUFFIX = ".gsproj"


def open_inventory(path: str | Path) -> LabelledData:
    """All images of a project (*.gsproj), a folder (per class or flat), a CSV list or a Galaxy10
    HDF5 file. A project's images that only a model labelled count as unlabelled: its own
    predictions are not ground truth to score clusters against."""
    path = Path(path)
    if path.suffix.lower() == PROJECT_SUFFIX:
        items, names, classes, notes = _project_images(path)
    else:
        items, names, classes, notes = _catalog_images(path)
    if not items:
        raise ModelError(f"{path}: no images to embed")
    known = list(classes) + sorted({name for name in names if name is not None} - set(classes))
    index = {name: i for i, name in enumerate(known)}
    labels = np.array([UNLABELLED if name is None else index[name] for name in names], dtype=np.int64)
    return LabelledData(tuple(items), labels, tuple(known), str(path), tuple(notes))


def _catalog_images(path: Path) -> tuple[list[CatalogItem], list[str | None], list[str], list[str]]:
    try:
        catalog = open_catalog(path)
    except CutoutError as exc:
        raise ModelError(str(exc)) from None
    notes = [f"{counted(len(catalog.skipped), 'unreadable or unsupported file')} left out"] if catalog.skipped else []
    return list(catalog.items), [item.label for item in catalog.items], list(catalog.classes), notes


def _project_images(path: Path) -> tuple[list[CatalogItem], list[str | None], list[str], list[str]]:
    from galaxy_studio.labels.errors import ProjectError
    from galaxy_studio.labels.store import Project

    try:
        with Project.open(path, read_only=True) as project:
            classes = project.classes
            images = project.images()
            labels = project.counted_labels()
    except ProjectError as exc:
        raise ModelError(str(exc)) from None
    items: list[CatalogItem] = []
    names: list[str | None] = []
    missing = 0
    for image in images:
        if image.missing:
            missing += 1
            continue
        label = labels.get(image.id)
        items.append(image.item())
        names.append(None if label is None else label.class_name)
    notes = [f"{counted(missing, 'image')} missing on disk left out"] if missing else []
    return items, names, classes, notes


def display_preprocessing(inventory: LabelledData, *, size: int, crop_fraction: float) -> Preprocessing:
    """The Library's rendering of these images as network input, settled on the first image
    that reads (as training does); channels in [0, 1] until statistics are added."""
    for item in inventory.items[:50]:
        try:
            sample = read_item(item)
        except (CutoutError, OSError):
            continue
        return choose_preprocessing(sample, size=size, crop_fraction=crop_fraction, channels="display")
    raise ModelError(f"{inventory.source}: none of the first {min(50, len(inventory.items))} images could be read")
