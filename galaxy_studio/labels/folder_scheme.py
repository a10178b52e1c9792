"""A class scheme read from open folder-per-class data: the sub-folder names are the classes.

Someone starting from `train/spirals/ train/non_spirals/` should not have to type a class
list that the folders already hold, nor map every folder to a built-in scheme's spelling.
"""

from __future__ import annotations

from pathlib import Path

from galaxy_studio.data.catalog import scan_folder
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.schemes import ClassScheme


def folder_classes(folder: str | Path) -> list[str]:
    """The class folders of a folder-per-class layout (those holding images), in sorted
    order; empty when `folder` is not laid out that way."""
    try:
        return list(scan_folder(folder).classes)
    except CutoutError:
        return []


def folder_scheme(folder: str | Path) -> ClassScheme:
    """The scheme whose classes are `folder`'s class folders, named after the folder."""
    path = Path(folder)
    classes = folder_classes(path)
    if not classes:
        raise ProjectError(
            path, "holds no class folders (expected at least two sub-folders with images and no images beside them)"
        )
    return ClassScheme(path.resolve().name, tuple(classes))
