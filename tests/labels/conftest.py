"""Small image folders and projects for the labelling tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project

LABEL_SAMPLES = Path(__file__).parent / "samples"


def write_pngs(folder: Path, count: int, *, prefix: str = "galaxy", seed: int = 0, side: int = 16) -> list[Path]:
    """`count` PNG files with different random pixels (so their content hashes differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}{number:04d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def label_samples() -> Path:
    """Real Galaxy Zoo vote-table excerpts with their images (see samples/README.md)."""
    return LABEL_SAMPLES


@pytest.fixture
def spiral_project(tmp_path: Path) -> Iterator[Project]:
    """A spiral / non-spiral project with six images in tmp_path/images."""
    write_pngs(tmp_path / "images", 6)
    project = Project.create(tmp_path / "spiral.gsproj", BUILTIN_SCHEMES["spiral"])
    project.add_paths([tmp_path / "images"])
    yield project
    project.close()


@pytest.fixture
def open_project() -> Iterator[Callable[..., Project]]:
    """Project.open that closes what it opened when the test ends."""
    opened: list[Project] = []

    def open_(path: Path, **options: Any) -> Project:
        project = Project.open(path, **options)
        opened.append(project)
        return project

    yield open_
    for project in opened:
        project.close()


def snapshot(project: Project) -> set[tuple[object, ...]]:
    """Every current label as (path, index, class, labeller, source, confidence, timestamp)."""
    images = {image.id: image for image in project.images()}
    return {
        (
            images[label.image_id].path,
            images[label.image_id].index,
            label.class_name,
            label.labeller,
            label.source,
            label.confidence,
            label.timestamp,
        )
        for label in project.all_labels()
    }


@pytest.fixture
def labelled(tmp_path: Path) -> Iterator[Project]:
    """Six images labelled by two people, a model and an import, with confidences."""
    write_pngs(tmp_path / "images", 6)
    project = Project.create(tmp_path / "source.gsproj", BUILTIN_SCHEMES["spiral"])
    project.add_paths([tmp_path / "images"])
    a, b, c, d, e, _ = [image.id for image in project.images()]
    project.label(a, "spiral", labeller="ada")
    project.label(a, "non-spiral", labeller="bob")
    project.label(b, "non-spiral", labeller="ada")
    project.label(c, "spiral", labeller="net", source="model", confidence=0.8125)
    project.label(d, "non-spiral", labeller="net", source="model", confidence=1 / 3)
    project.label(e, "spiral", labeller="bob")
    yield project
    project.close()
