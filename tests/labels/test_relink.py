"""Moved image folders are found again by content; what cannot be found is marked missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project

from .conftest import write_pngs


def labelled_project(root: Path) -> tuple[Path, dict[str, str]]:
    """A project in root/ with images in root/survey/raw, each labelled; returns name -> class."""
    files = write_pngs(root / "survey" / "raw", 5)
    path = root / "p.gsproj"
    expected = {}
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([root / "survey"])
        for number, file in enumerate(files):
            class_name = project.classes[number % 2]
            project.label(project.image_id(file) or -1, class_name, labeller="ada")
            expected[file.name] = class_name
    return path, expected


def labels_by_name(project: Project) -> dict[str, str]:
    names = {image.id: Path(image.path).name for image in project.images()}
    return {names[i]: label.class_name for i, label in project.labels("ada").items()}


def test_moving_the_image_folder_within_the_project_folder_relinks_on_open(tmp_path: Path) -> None:
    path, expected = labelled_project(tmp_path)
    (tmp_path / "archive" / "2024").mkdir(parents=True)
    shutil.move(tmp_path / "survey" / "raw", tmp_path / "archive" / "2024" / "cutouts")
    with Project.open(path) as project:
        images = project.images()
        assert not any(image.missing for image in images)
        assert all(image.path.startswith(str(tmp_path / "archive" / "2024" / "cutouts")) for image in images)
        assert [image.rel_path for image in images] == [f"archive/2024/cutouts/galaxy{n:04d}.png" for n in range(5)]
        assert labels_by_name(project) == expected
        assert project.warnings == []


def test_moving_the_project_with_its_images_relinks_by_relative_path(tmp_path: Path) -> None:
    path, expected = labelled_project(tmp_path / "old")
    shutil.move(tmp_path / "old", tmp_path / "new")
    with Project.open(tmp_path / "new" / "p.gsproj") as project:
        assert all(image.path.startswith(str(tmp_path / "new" / "survey")) for image in project.images())
        assert labels_by_name(project) == expected


def test_images_moved_elsewhere_are_missing_until_relinked_from_that_folder(tmp_path: Path) -> None:
    path, expected = labelled_project(tmp_path / "work")
    shutil.move(tmp_path / "work" / "survey", tmp_path / "external")
    with Project.open(path) as project:
        assert all(image.missing for image in project.images())
        assert project.stats().missing == 5
        assert any("5 images not found" in warning for warning in project.warnings)
        assert project.relink([tmp_path / "nowhere"]) == 0
        assert project.relink([tmp_path / "external"]) == 5
        assert not any(image.missing for image in project.images())
        assert labels_by_name(project) == expected


def test_a_changed_file_is_not_taken_for_the_moved_one(tmp_path: Path) -> None:
    path, _ = labelled_project(tmp_path / "work")
    moved = tmp_path / "external"
    shutil.move(tmp_path / "work" / "survey" / "raw", moved)
    target = moved / "galaxy0000.png"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    with Project.open(path) as project:
        assert project.relink([moved]) == 4
        missing = [Path(image.path).name for image in project.images() if image.missing]
        assert missing == ["galaxy0000.png"]


def test_a_renamed_file_is_found_by_content(tmp_path: Path) -> None:
    path, _ = labelled_project(tmp_path / "work")
    raw = tmp_path / "work" / "survey" / "raw"
    (raw / "galaxy0003.png").rename(tmp_path / "work" / "renamed.png")
    with Project.open(path) as project:
        assert project.image_id(tmp_path / "work" / "renamed.png") is not None
        assert not any(image.missing for image in project.images())


def test_all_rows_of_a_moved_galaxy10_file_are_relinked_together(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    h5 = tmp_path / "data" / "Galaxy10.h5"
    with h5py.File(h5, "w") as handle:
        handle["images"] = np.arange(3 * 4 * 4 * 3, dtype=np.uint8).reshape(3, 4, 4, 3)
    path = tmp_path / "p.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["galaxy10"]) as project:
        project.add_paths([h5])
    (tmp_path / "moved").mkdir()
    shutil.move(h5, tmp_path / "moved" / "Galaxy10.h5")
    with Project.open(path) as project:
        images = project.images()
        assert [image.index for image in images] == [0, 1, 2]
        assert {image.path for image in images} == {str(tmp_path / "moved" / "Galaxy10.h5")}
