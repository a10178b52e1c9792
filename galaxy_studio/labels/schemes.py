"""Class schemes: the classes a project sorts galaxies into, and how they look on screen.

The keyboard gives classes 1-9 then 0 as keys, so the order of a scheme is part of how
fast people label; colours stay fixed per position so a badge means the same class on
every screen.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.labels.class_names import duplicate_names
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.tables import cell, read_csv_table


@dataclass(frozen=True)
class ClassScheme:
    name: str
    classes: tuple[str, ...]


# The nine Galaxy Zoo 2 classes of the STM paper (Guan et al. 2023), from the GZ2 decision
# tree: smooth by roundness, edge-on by bulge, face-on discs by bar x spiral arms.
GZ2_9_CLASSES: tuple[str, ...] = (
    "Smooth Round",
    "Smooth In-between",
    "Smooth Cigar",
    "Edge-on Bulge",
    "Edge-on No Bulge",
    "Barred Spiral",
    "Barred No Spiral",
    "Unbarred Spiral",
    "Unbarred No Spiral",
)

BUILTIN_SCHEMES: dict[str, ClassScheme] = {
    "galaxy10": ClassScheme("galaxy10", GALAXY10_CLASSES),
    "gz2-9": ClassScheme("gz2-9", GZ2_9_CLASSES),
    "spiral": ClassScheme("spiral", ("spiral", "non-spiral")),
}

CLASS_KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")

# Okabe & Ito's colour-blind-safe set (its blue and vermillion lightened just enough for a
# contrast ratio above 4.5 against the dark UI), then three of Paul Tol's "light" colours:
# under simulated protanopia, deuteranopia and tritanopia any two of the ten stay apart
# (CIELAB distance 9.8 or more). Classes past ten get golden-angle hues of the same lightness.
_BADGE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (58, 146, 195),
    (215, 102, 13),
    (204, 121, 167),
    (238, 136, 102),
    (255, 170, 187),
    (153, 221, 255),
)
_GOLDEN_ANGLE = 0.381966


def class_key(index: int) -> str | None:
    """The key that assigns class `index` (0-based): "1".."9", "0", and none past ten."""
    return CLASS_KEYS[index] if 0 <= index < len(CLASS_KEYS) else None


def class_colour(index: int) -> tuple[int, int, int]:
    if index < 0:
        raise ValueError(f"class index must be 0 or more, got {index}")
    if index < len(_BADGE_COLOURS):
        return _BADGE_COLOURS[index]
    hue = (0.11 + index * _GOLDEN_ANGLE) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, 0.72, 0.8)
    return round(red * 255), round(green * 255), round(blue * 255)


def resolve_scheme(text: str) -> ClassScheme:
    """A built-in scheme by name, a CSV file with one class name per row, or a folder of class
    folders (its sub-folder names become the classes).

    The CSV may start with a header cell "class" or "name"; the scheme is named after the
    file so a project remembers where its classes came from.
    """
    if text in BUILTIN_SCHEMES:
        return BUILTIN_SCHEMES[text]
    path = Path(text)
    if path.is_dir():
        from galaxy_studio.labels.folder_scheme import folder_scheme

        return folder_scheme(path)
    if not path.is_file():
        known = ", ".join(BUILTIN_SCHEMES)
        raise ProjectError(
            path, f"is neither a built-in scheme ({known}), a CSV file of class names nor a folder of class folders"
        )
    table = read_csv_table(path, header=False)
    names = [cell(row, 0) for row in table.rows]
    if names and names[0].lower() in ("class", "name"):
        names = names[1:]
    names = [name for name in names if name]
    if not names:
        raise ProjectError(path, "lists no class names (one class per row expected)")
    twice = duplicate_names(names)
    if twice:
        raise ProjectError(path, f"lists a class twice: {', '.join(twice)}")
    return ClassScheme(path.stem, tuple(names))
