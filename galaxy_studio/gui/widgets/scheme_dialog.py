"""The class-scheme choice of File → New Project.

Open folder-per-class data (`train/spirals/ train/non_spirals/`) already names its classes;
offering those names first saves typing a class list and mapping every folder to a built-in
scheme's spelling. Built-in schemes, a CSV of class names and any folder of class folders are
offered too.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from galaxy_studio.labels.folder_scheme import folder_scheme
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, ClassScheme, resolve_scheme

SCHEME_FROM_CSV = "From a CSV file of class names…"
SCHEME_FROM_FOLDER = "From a folder of class folders…"


def folder_names_choice(classes: list[str]) -> str:
    return "The folder names of the open data: " + ", ".join(classes)


def scheme_choices(open_classes: list[str]) -> list[str]:
    """What the scheme list offers, the open data's folder names first when it has some."""
    first = [folder_names_choice(open_classes)] if open_classes else []
    return [*first, *BUILTIN_SCHEMES, SCHEME_FROM_CSV, SCHEME_FROM_FOLDER]


def choose_scheme(parent: QWidget | None, open_classes: list[str], open_source: str) -> ClassScheme | None:
    """Ask for the classes of a new project; None when the user cancels. `open_classes` are
    the class folders of the data open in the library (empty when it has none)."""
    choices = scheme_choices(open_classes)
    choice, ok = QInputDialog.getItem(parent, "Class scheme", "Classes to label with:", choices, 0, False)
    if not ok:
        return None
    if open_classes and choice == choices[0]:
        return ClassScheme(Path(open_source).name or "folders", tuple(open_classes))
    if choice == SCHEME_FROM_CSV:
        choice, _ = QFileDialog.getOpenFileName(parent, "Class names (one per row)", "", "CSV (*.csv);;All files (*)")
        return resolve_scheme(choice) if choice else None
    if choice == SCHEME_FROM_FOLDER:
        folder = QFileDialog.getExistingDirectory(parent, "A folder with one sub-folder per class")
        return folder_scheme(folder) if folder else None
    return resolve_scheme(choice)
