"""Galaxy Zoo vote tables: volunteers' answer fractions per galaxy, turned into one class.

The user picks which answer columns stand for which class and a threshold; the class with
the largest fraction wins when it reaches the threshold, and that fraction becomes the
label's confidence. Answers mapped to the same class add up (bar_strong + bar_weak ->
"barred"). Three real layouts are supported:

- Galaxy Zoo DECaLS: `iauname` (and `png_loc` in DR5), `*_fraction` and `*_debiased`
  columns; the PNG files are named after the iauname.
- Galaxy Zoo 2 (Hart et al. 2016): `dr7objid`, `*_fraction` / `*_debiased`; the images are
  named by an asset id, so a mapping CSV (objid -> asset_id) is needed.
- Kaggle Galaxy Challenge: `GalaxyID` and `ClassN.M` fractions; files named by the GalaxyID.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from galaxy_studio.data.catalog import PATH_COLUMNS
from galaxy_studio.data.formats import FITS_SUFFIXES, RASTER_SUFFIXES
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.tables import CsvTable, cell, read_csv_table
from galaxy_studio.path_text import from_text

ID_COLUMNS: tuple[str, ...] = ("iauname", "galaxyid", "dr7objid", "objid", "asset_id", "id", "name")
LOCATION_COLUMNS: tuple[str, ...] = (*PATH_COLUMNS, "png_loc", "jpg_loc", "file_loc")
ANSWER_SUFFIXES: tuple[str, ...] = ("_fraction", "_debiased")
_IMAGE_SUFFIXES = tuple(sorted(FITS_SUFFIXES + RASTER_SUFFIXES, key=len, reverse=True))


def answer_columns(header: Sequence[str]) -> list[str]:
    """The columns that look like vote fractions, for a user to choose from."""
    return [name for name in header if name.lower().endswith(ANSWER_SUFFIXES)]


def answer_indices(table: CsvTable, answers: Sequence[tuple[str, str]]) -> list[tuple[int, str]]:
    """(column index, class) per chosen answer; ProjectError naming a column that is absent."""
    chosen = []
    for column, class_name in answers:
        index = table.column(column)
        if index is None:
            near = (
                [name for name in table.header if column.lower() in name.lower()]
                or answer_columns(table.header)
                or table.header
            )
            raise ProjectError(
                table.path,
                f"has no column {column!r}; answer columns include: {', '.join(near[:12]) or 'none'}",
            )
        chosen.append((index, class_name))
    return chosen


def choose_class(row: list[str], answers: list[tuple[int, str]], threshold: float) -> tuple[str, float] | str:
    """(class, fraction) for the winning class, or the reason there is none.

    Empty cells (GZ leaves `*_debiased` blank where it could not debias) count as no vote;
    a row with no value in any chosen column is skipped rather than read as zero.
    """
    scores: dict[str, float] = {}
    seen = False
    for column, class_name in answers:
        text = cell(row, column)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            seen = True
            scores[class_name] = scores.get(class_name, 0.0) + value
        else:
            scores.setdefault(class_name, 0.0)
    if not seen:
        return "no value in the chosen answer columns"
    best = max(scores, key=lambda name: scores[name])
    if scores[best] < threshold:
        return f"best answer {best!r} at {scores[best]:.3g} is below the threshold {threshold:g}"
    return best, min(scores[best], 1.0)


class ImageLocator:
    """Finds each row's image: by a path column, else by an id matched to file names.

    Files are indexed once by their name without the image suffix ("J081412.47+220853.0"
    for "J081412.47+220853.0.png", "100008" for "100008.jpg"). With a mapping file, ids
    are first translated (GZ2's dr7objid -> asset_id); its two columns are recognised by
    their values: one matches the table's ids, the other the image names.
    """

    def __init__(self, table: CsvTable, images: Path, id_map: Path | None = None) -> None:
        self.table = table
        self.images = images
        self._by_stem: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        for path in _image_files(images):
            name = os.path.basename(path)
            self._by_name.setdefault(name, path)
            self._by_stem.setdefault(_stem(name), path)
        self.location_columns = [i for i in (table.column(name) for name in LOCATION_COLUMNS) if i is not None]
        self.id_columns = [i for i in (table.column(name) for name in ID_COLUMNS) if i is not None]
        self._translation = self._read_id_map(id_map) if id_map is not None else {}

    def locate(self, row: list[str]) -> str | None:
        for column in self.location_columns:
            text = from_text(cell(row, column)).replace("\\", "/")
            if not text:
                continue
            for base in (self.table.path.parent, self.images):
                candidate = os.path.abspath(os.path.join(base, os.path.expanduser(text)))
                if os.path.isfile(candidate):
                    return candidate
            found = self._by_name.get(os.path.basename(text))
            if found:
                return found
        for column in self.id_columns:
            value = cell(row, column)
            if value:
                found = self._by_stem.get(self._translation.get(value, value))
                if found:
                    return found
        return None

    def describe(self) -> str:
        """What was looked for, for the message when nothing matched."""
        columns = [self.table.header[i] for i in self.location_columns + self.id_columns]
        return (
            f"looked for files named after {', '.join(columns) or 'no id or path column'} "
            f"among {len(self._by_stem)} images under {self.images}"
        )

    def _read_id_map(self, path: Path) -> dict[str, str]:
        mapping = read_csv_table(path)
        ids = {cell(row, column) for row in self.table.rows for column in self.id_columns} - {""}
        width = len(mapping.header)

        def overlap(column: int, values: set[str] | dict[str, str]) -> int:
            return sum(1 for row in mapping.rows if cell(row, column) in values)

        key = max(range(width), key=lambda column: overlap(column, ids), default=None)
        value = max(
            (column for column in range(width) if column != key),
            key=lambda column: overlap(column, self._by_stem),
            default=None,
        )
        if key is None or value is None or not overlap(key, ids) or not overlap(value, self._by_stem):
            raise ProjectError(
                path,
                "cannot use it as an id mapping: no column matches the vote table's ids "
                "and another the image file names",
            )
        return {cell(row, key): cell(row, value) for row in mapping.rows if cell(row, key)}


def _stem(name: str) -> str:
    lowered = name.lower()
    for suffix in _IMAGE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _image_files(folder: Path) -> list[str]:
    found = []
    for directory, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [
            os.path.abspath(os.path.join(directory, name))
            for name in sorted(files)
            if name.lower().endswith(_IMAGE_SUFFIXES) and not name.startswith(".")
        ]
    return found
