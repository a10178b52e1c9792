"""Labels into and out of a project: CSV, JSON, a folder per class, Galaxy10-layout HDF5
and Galaxy Zoo vote tables.

Imports are all-or-nothing where it matters: a class the project does not have (in any
spelling, stored mapping or `renames`) refuses the whole file (listing the project's
classes), so a typo never lands half an import; a name the user maps to skip is left out
and counted. Rows
that cannot be used one by one (a file that is gone, a bad number) are skipped and listed
in the report. Exports write to a temporary name and rename, so a failed export never
leaves a truncated file that looks complete. CSV and JSON carry everything a label has,
so exporting and importing them gives back the same labels.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from galaxy_studio.atomic_files import replacing
from galaxy_studio.count_text import counted, noun_for
from galaxy_studio.data.catalog import LABEL_COLUMNS, PATH_COLUMNS, CatalogItem, scan_folder
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.display import default_settings, fit_into_square, render_rgb
from galaxy_studio.data.formats import read_cutout
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES, open_galaxy10
from galaxy_studio.data.json_text import read_json
from galaxy_studio.data.tables import TableColumn, build_table, write_table
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore
from galaxy_studio.labels.class_mapping import ClassMapping, LabelCounts, map_class_names
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.gz_votes import ImageLocator, answer_indices, choose_class
from galaxy_studio.labels.records import SOURCES, ImageRecord, ImportedLabel, LabelRecord
from galaxy_studio.labels.store import Project
from galaxy_studio.labels.tables import CsvTable, cell, read_csv_table
from galaxy_studio.path_text import from_text, to_text

if TYPE_CHECKING:
    from astropy.table import Table

LABELS_FORMAT = "galaxy-studio-labels"
LABEL_SCHEMA: tuple[TableColumn, ...] = (
    TableColumn("path", str, None, "the image file (a file: URI where its name is not text)"),
    TableColumn("index", int, None, "the image's row in an HDF5 file; empty for an image file"),
    TableColumn("class", str, None, "the class name"),
    TableColumn("class_index", int, None, "the class's 0-based position in the project's classes"),
    TableColumn("labeller", str, None, "who gave the label"),
    TableColumn("source", str, None, "how the label was made: " + ", ".join(SOURCES)),
    TableColumn("confidence", float, "", "the labeller's or the model's confidence, where given"),
    TableColumn("timestamp", str, None, "when the label was given (ISO 8601, UTC)"),
)
CSV_COLUMNS: tuple[str, ...] = tuple(column.name for column in LABEL_SCHEMA)
INDEX_COLUMNS: tuple[str, ...] = ("index", "row_index")
CLASS_INDEX_COLUMNS: tuple[str, ...] = ("class_index", "ans")
GALAXY10_SIDE = 256
_POSITION_COLUMNS = ("ra", "dec", "redshift", "pxscale")
_NO_IMAGE = "no image found for this row"
_UNSAFE_IN_NAMES = str.maketrans({char: "_" for char in '/\\:*?"<>|'})


@dataclass(frozen=True)
class ExchangeReport:
    """What an import or export did: counts, labels per class, and what was skipped and why."""

    action: str
    file: str
    labels: int
    images_added: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)
    counts: LabelCounts | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = f"{self.action}: {counted(self.labels, 'label')}"
        if self.images_added:
            text += f", {counted(self.images_added, 'new image')}"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        if self.counts is not None:
            text += "; " + self.counts.describe()
        return f"{text} ({self.file})"


@dataclass(frozen=True)
class _RawLabel:
    """One row of a CSV or JSON label file, still as text."""

    where: str
    path: str
    index: str
    class_text: str
    labeller: str
    source: str
    confidence: str
    timestamp: str


# -- imports -----------------------------------------------------------------------------


def import_csv(
    project: Project,
    path: str | Path,
    *,
    labeller: str | None = None,
    renames: Mapping[str, str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """A table (CSV, or ECSV, FITS or VOTable by its name) with a path column and a class
    column (a class name, or its 0-based position in the project's classes). Optional:
    `index` (row of an HDF5 file), `labeller`, `source`, `confidence`, `timestamp`, as
    `export_table` writes them. Without a labeller column the labels go under `labeller`, by
    default the file's name."""
    table = read_csv_table(path)
    path_column = _required_column(table, PATH_COLUMNS, "path")
    class_column = table.column(*LABEL_COLUMNS)
    if class_column is None:
        class_column = _required_column(table, CLASS_INDEX_COLUMNS + LABEL_COLUMNS, "class")
    index_column = table.column(*INDEX_COLUMNS)
    labeller_column = table.column("labeller", "labeler", "user")
    source_column = table.column("source")
    confidence_column = table.column("confidence", "probability")
    time_column = table.column("timestamp", "time")
    raw = [
        _RawLabel(
            where=table.where(number),
            path=cell(row, path_column),
            index=cell(row, index_column),
            class_text=cell(row, class_column),
            labeller=cell(row, labeller_column),
            source=cell(row, source_column),
            confidence=cell(row, confidence_column),
            timestamp=cell(row, time_column),
        )
        for number, row in enumerate(table.rows)
    ]
    return _import_raw(project, table.path, "import csv", raw, labeller, renames, emit, cancel)


def import_json(
    project: Project,
    path: str | Path,
    *,
    labeller: str | None = None,
    renames: Mapping[str, str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """A file written by `export_json`."""
    path = Path(path)
    document = read_json(path, ProjectError)
    if not isinstance(document, dict) or document.get("format") != LABELS_FORMAT:
        raise ProjectError(path, f'not a Galaxy Studio label file (no "format": "{LABELS_FORMAT}")')
    entries = document.get("labels")
    if not isinstance(entries, list):
        raise ProjectError(path, 'has no "labels" list')

    def text(entry: Any, key: str) -> str:
        value = entry.get(key) if isinstance(entry, dict) else None
        return "" if value is None else (repr(value) if isinstance(value, float) else str(value))

    raw = [
        _RawLabel(
            where=f"{path.name} label {number + 1}",
            path=text(entry, "path"),
            index=text(entry, "index"),
            class_text=text(entry, "class"),
            labeller=text(entry, "labeller"),
            source=text(entry, "source"),
            confidence=text(entry, "confidence"),
            timestamp=text(entry, "timestamp"),
        )
        for number, entry in enumerate(entries)
    ]
    return _import_raw(project, path, "import json", raw, labeller, renames, emit, cancel)


def import_folders(
    project: Project,
    folder: str | Path,
    *,
    labeller: str | None = None,
    renames: Mapping[str, str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """A folder with one sub-folder per class (the sub-folder name is the class)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProjectError(folder, "is not a folder")
    catalog = scan_folder(folder, class_folders=True)
    skipped = list(catalog.skipped)
    pairs = []
    mapping = _mapping(project, (item.label for item in catalog.items if item.label), renames)
    passed: list[str] = []
    for item in catalog.items:
        if item.label is None:
            skipped.append((item.path, "not inside a class folder"))
        elif item.label in mapping.skipped:
            passed.append(item.label)
        else:
            pairs.append((item, item.label))
    _refuse_unknown(project, folder, [mapping.class_of(label) for _, label in pairs], "folder")
    name = labeller or folder.name
    labels = [ImportedLabel(item, mapping.class_of(label), name) for item, label in pairs]
    outside = [label for _, label in pairs]
    return _stored(project, folder, "import folders", labels, skipped, emit, cancel, mapping, outside, passed)


def import_galaxy10(
    project: Project,
    path: str | Path,
    *,
    labeller: str | None = None,
    renames: Mapping[str, str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """The `ans` labels of a Galaxy10-layout HDF5 file, one image per row. `ans` indexes the
    file's `class_names` attribute (written by `export_galaxy10`), else the ten Galaxy10
    DECaLS classes."""
    path = Path(os.path.abspath(path))
    try:
        file = open_galaxy10(path)
    except CutoutError as exc:
        raise ProjectError(path, exc.problem) from None
    answers = file.labels()
    if answers is None:
        raise ProjectError(path, "has no 'ans' dataset, so there are no labels to import")
    names = _hdf5_class_names(path) or list(GALAXY10_CLASSES)
    mapping = _mapping(project, names, renames)
    outside = [names[value] if 0 <= value < len(names) else f"ans={value}" for value in answers.tolist()]
    passed = [label for label in outside if label in mapping.skipped]
    rows = [(row, label) for row, label in enumerate(outside) if label not in mapping.skipped]
    _refuse_unknown(project, path, [mapping.class_of(label) for _, label in rows], "class")
    name = labeller or path.name
    labels = [ImportedLabel(CatalogItem(str(path), index=row), mapping.class_of(label), name) for row, label in rows]
    taken = [label for _, label in rows]
    return _stored(project, path, "import galaxy10", labels, [], emit, cancel, mapping, taken, passed)


def import_gz_votes(
    project: Project,
    path: str | Path,
    answers: Sequence[tuple[str, str]],
    *,
    threshold: float = 0.5,
    images: str | Path | None = None,
    id_map: str | Path | None = None,
    labeller: str | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """A Galaxy Zoo vote table (see gz_votes.py): `answers` maps answer columns to classes.
    Images are looked for under `images` (default: the table's folder, recursively)."""
    if not answers:
        raise ProjectError(Path(path), "choose at least one answer column and the class it stands for")
    table = read_csv_table(path)
    chosen = answer_indices(table, answers)
    _refuse_unknown(project, project.path, [class_name for _, class_name in answers], "class")
    folder = Path(images) if images else table.path.parent
    locator = ImageLocator(table, folder, Path(id_map) if id_map else None)
    name = labeller or table.path.name
    labels: list[ImportedLabel] = []
    skipped: list[tuple[str, str]] = []
    for number, row in enumerate(table.rows):
        where = table.where(number)
        image = locator.locate(row)
        if image is None:
            skipped.append((where, _NO_IMAGE))
            continue
        choice = choose_class(row, chosen, threshold)
        if isinstance(choice, str):
            skipped.append((image, choice))
            continue
        labels.append(ImportedLabel(CatalogItem(image), choice[0], name, confidence=choice[1]))
    if table.rows and not labels and all(reason == _NO_IMAGE for _, reason in skipped):
        raise ProjectError(
            table.path,
            f"no image found for any row ({locator.describe()})",
            "point {images} at the image folder, or pass {id_map} with a CSV that maps the table's ids to file names",
        )
    return _stored(project, table.path, "import gz-votes", labels, skipped, emit, cancel)


def label_file_format(path: str | Path) -> str:
    """The import format of a label file by its kind: a folder of class folders, Galaxy10
    HDF5, a JSON label file, else a table ("csv": CSV, or ECSV, FITS or VOTable by its name)."""
    path = Path(path)
    if path.is_dir():
        return "folders"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return "galaxy10"
    return "json" if suffix == ".json" else "csv"


def import_label_file(
    project: Project,
    path: str | Path,
    *,
    labeller: str | None = None,
    renames: Mapping[str, str] | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """Import a CSV, JSON, class-folder or Galaxy10 label file, chosen by `label_file_format`."""
    importer = {
        "csv": import_csv,
        "json": import_json,
        "folders": import_folders,
        "galaxy10": import_galaxy10,
    }[label_file_format(path)]
    return importer(project, path, labeller=labeller, renames=renames, emit=emit, cancel=cancel)


def count_class_names(project: Project, path: str | Path) -> Counter[str]:
    """How many labels of a label file carry each class name, before any mapping, so that the
    user can settle the names that differ from the project's before anything is imported. A
    CSV class given as a position in the project's classes counts as that class."""
    path = Path(path)
    fmt = label_file_format(path)
    classes = project.classes
    if fmt == "folders":
        if not path.is_dir():
            raise ProjectError(path, "is not a folder")
        return Counter(item.label for item in scan_folder(path, class_folders=True).items if item.label)
    if fmt == "galaxy10":
        try:
            answers = open_galaxy10(path).labels()
        except CutoutError as exc:
            raise ProjectError(path, exc.problem) from None
        names = _hdf5_class_names(path) or list(GALAXY10_CLASSES)
        values = [] if answers is None else answers.tolist()
        return Counter(names[value] if 0 <= value < len(names) else f"ans={value}" for value in values)
    if fmt == "json":
        document = read_json(path, ProjectError)
        entries = document.get("labels") if isinstance(document, dict) else None
        texts = [str(entry.get("class")) for entry in entries or [] if isinstance(entry, dict) and entry.get("class")]
    else:
        table = read_csv_table(path)
        column = table.column(*LABEL_COLUMNS)
        if column is None:
            column = _required_column(table, CLASS_INDEX_COLUMNS + LABEL_COLUMNS, "class")
        texts = [text for row in table.rows if (text := cell(row, column))]
    return Counter(_class_of(text, classes) or text for text in texts)


# -- exports -----------------------------------------------------------------------------


def labels_table(project: Project, *, labeller: str | None = None, consensus: bool = False) -> Table:
    """Every labeller's current labels (or one labeller's, or the consensus), one per row,
    with the project's scheme and classes in the metadata."""
    classes = project.classes
    rows = [
        (
            to_text(image.path),
            image.index,
            label.class_name,
            classes.index(label.class_name),
            label.labeller,
            label.source,
            label.confidence,
            _iso(label.timestamp),
        )
        for image, label in _chosen_labels(project, labeller, consensus)
    ]
    meta = {"FORMAT": LABELS_FORMAT, "SCHEME": project.scheme_name, "CLASSES": ",".join(classes)}
    return build_table(rows, LABEL_SCHEMA, meta=meta)


def export_table(
    project: Project,
    out: str | Path,
    *,
    fmt: str | None = None,
    labeller: str | None = None,
    consensus: bool = False,
) -> ExchangeReport:
    """The labels as a CSV, ECSV, FITS or VOTable table (`fmt`, else by the name of `out`);
    `import_csv` reads each of them back."""
    out = Path(out)
    table = labels_table(project, labeller=labeller, consensus=consensus)
    try:
        chosen = write_table(table, out, fmt=fmt, line_end="\r\n")
    except OSError as exc:
        raise ProjectError(out, f"cannot write: {exc.strerror or exc}") from None
    per_class = Counter(str(name) for name in table["class"])
    return ExchangeReport(f"export {chosen}", str(out), len(table), per_class=dict(per_class))


def export_csv(
    project: Project, out: str | Path, *, labeller: str | None = None, consensus: bool = False
) -> ExchangeReport:
    """Every labeller's current labels (or one labeller's, or the consensus), one per row."""
    return export_table(project, out, fmt="csv", labeller=labeller, consensus=consensus)


def export_json(
    project: Project, out: str | Path, *, labeller: str | None = None, consensus: bool = False
) -> ExchangeReport:
    out = Path(out)
    rows = _chosen_labels(project, labeller, consensus)
    document = {
        "format": LABELS_FORMAT,
        "version": 1,
        "project": str(project.path),
        "scheme": project.scheme_name,
        "classes": project.classes,
        "labels": [
            {
                "path": to_text(image.path),
                "index": image.index,
                "class": label.class_name,
                "labeller": label.labeller,
                "source": label.source,
                "confidence": label.confidence,
                "timestamp": _iso(label.timestamp),
            }
            for image, label in rows
        ],
    }
    _write_atomically(out, lambda handle: json.dump(document, handle, indent=1))
    return _export_report("export json", out, rows)


def export_folders(
    project: Project,
    out: str | Path,
    *,
    labeller: str | None = None,
    link: bool = False,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """A new folder with a sub-folder per class holding copies of (or symbolic links to) the
    images: the consensus labels, or `labeller`'s. Galaxy10 rows are written as PNG files of
    their stored pixels. Characters that cannot be in folder names become "_"."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProjectError(out, "already exists and is not an empty folder; choose a new folder")
    rows = _chosen_labels(project, labeller, consensus=labeller is None)
    try:
        for class_name in project.classes:
            (out / _folder_name(class_name)).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(out, f"cannot create the folders: {exc.strerror or exc}") from None
    used: set[Path] = set()
    written: list[tuple[ImageRecord, LabelRecord]] = []
    skipped: list[tuple[str, str]] = []
    for done, (image, label) in enumerate(rows):
        cancel.raise_if_set()
        emit(Progressed(done, len(rows), "Exporting images"))
        if not os.path.isfile(image.path):
            skipped.append((image.path, "file not found"))
            continue
        target = _unique_target(out / _folder_name(label.class_name), image, used)
        try:
            if image.index is not None:
                _save_png(_stored_pixels(image), target)
            elif link:
                os.symlink(image.path, target)
            else:
                shutil.copy2(image.path, target)
        except (OSError, CutoutError) as exc:
            skipped.append((image.path, str(exc.strerror if isinstance(exc, OSError) else exc.problem)))
            continue
        used.add(target)
        written.append((image, label))
    emit(Progressed(len(rows), len(rows), "Exporting images"))
    return _export_report("export folders", out, written, skipped)


def export_galaxy10(
    project: Project,
    out: str | Path,
    *,
    labeller: str | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> ExchangeReport:
    """An HDF5 file in the Galaxy10 DECaLS layout for training code that expects it.

    `images` (N, 256, 256, 3) uint8 drawn by the display pipeline with each image's default
    settings (Galaxy10 rows keep their stored pixels), `ans` the class's position in the
    project, `ra`/`dec`/`redshift`/`pxscale` where known (else NaN), and the class names in
    the `class_names` attribute. Labels are the consensus, or `labeller`'s.
    """
    out = Path(out)
    classes = project.classes
    if len(classes) > 256:
        raise ProjectError(out, "the Galaxy10 layout stores classes as uint8: at most 256 classes")
    rows = _chosen_labels(project, labeller, consensus=labeller is None)
    side = GALAXY10_SIDE
    written: list[tuple[ImageRecord, LabelRecord]] = []
    skipped: list[tuple[str, str]] = []
    positions: dict[str, list[float]] = {key: [] for key in _POSITION_COLUMNS}
    import h5py  # loaded with the first HDF5 file, not with the GUI's File menu

    with _atomic_path(out) as partial, h5py.File(partial, "w") as handle:
        images = handle.create_dataset(
            "images",
            shape=(0, side, side, 3),
            maxshape=(None, side, side, 3),
            dtype=np.uint8,
            chunks=(1, side, side, 3),
            compression="gzip",
            compression_opts=4,
        )
        for done, (image, label) in enumerate(rows):
            cancel.raise_if_set()
            emit(Progressed(done, len(rows), "Writing Galaxy10 file"))
            try:
                pixels, position = _galaxy10_pixels(image, side)
            except CutoutError as exc:
                skipped.append((image.name if image.index is not None else image.path, exc.problem))
                continue
            images.resize(len(written) + 1, axis=0)
            images[len(written)] = pixels
            for key in _POSITION_COLUMNS:
                positions[key].append(position[key])
            written.append((image, label))
        answers = [classes.index(label.class_name) for _, label in written]
        handle.create_dataset("ans", data=np.array(answers, np.uint8))
        for key in _POSITION_COLUMNS:
            handle.create_dataset(key, data=np.array(positions[key], np.float64))
        handle.attrs["class_names"] = np.array(classes, dtype=h5py.string_dtype())
        handle.attrs["source_paths"] = np.array([image.name for image, _ in written], dtype=h5py.string_dtype())
    emit(Progressed(len(rows), len(rows), "Writing Galaxy10 file"))
    return _export_report("export galaxy10", out, written, skipped)


# -- shared parts ------------------------------------------------------------------------


def _required_column(table: CsvTable, names: Sequence[str], what: str) -> int:
    column = table.column(*names)
    if column is None:
        raise ProjectError(
            table.path,
            f"no {what} column (expected one of {', '.join(names)}; found: {', '.join(table.header) or 'none'})",
        )
    return column


def _import_raw(
    project: Project,
    source_file: Path,
    action: str,
    raw: list[_RawLabel],
    labeller: str | None,
    renames: Mapping[str, str] | None,
    emit: EventSink,
    cancel: CancelToken,
) -> ExchangeReport:
    """Parse rows of text into labels; one bad row is skipped, an unknown class stops all."""
    classes = project.classes
    known = {(image.path, image.index) for image in project.images()}
    base = source_file.parent
    default_labeller = labeller or source_file.name
    labels: list[ImportedLabel] = []
    skipped: list[tuple[str, str]] = []
    unknown: list[str] = []
    mapping = _mapping(project, (row.class_text for row in raw if row.class_text), renames)
    outside: list[str] = []
    passed: list[str] = []
    for row in raw:
        if not row.path:
            skipped.append((row.where, "no path"))
            continue
        try:
            index = int(row.index) if row.index else None
            confidence = float(row.confidence) if row.confidence else None
            timestamp = _timestamp(row.timestamp) if row.timestamp else None
        except ValueError as exc:
            skipped.append((row.where, f"not a number or time: {exc}"))
            continue
        file_path = _resolve(base, row.path)
        if (file_path, index) not in known and not os.path.isfile(file_path):
            skipped.append((file_path, "file not found"))
            continue
        source = row.source or "import"
        if source not in SOURCES:
            skipped.append((row.where, f"source {source!r} is not one of {', '.join(SOURCES)}"))
            continue
        if not row.class_text:
            skipped.append((row.where, "no class"))
            continue
        if row.class_text in mapping.skipped:
            passed.append(row.class_text)
            continue
        class_name = _class_of(mapping.class_of(row.class_text), classes)
        if class_name is None:
            unknown.append(row.class_text)
            continue
        item = CatalogItem(file_path, index=index)
        name = row.labeller or default_labeller
        labels.append(ImportedLabel(item, class_name, name, source, confidence, timestamp))
        outside.append(row.class_text)
    _refuse_unknown(project, source_file, unknown, "class")
    return _stored(project, source_file, action, labels, skipped, emit, cancel, mapping, outside, passed)


def _class_of(text: str, classes: list[str]) -> str | None:
    """A class name as it is, or a 0-based position in the project's classes."""
    if text in classes:
        return text
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
        return classes[int(text)]
    return None


def _refuse_unknown(project: Project, source_file: Path, names: list[str], what: str) -> None:
    classes = project.classes
    unknown = Counter(name for name in names if name not in classes)
    if unknown:
        listed = ", ".join(f"{name!r} ({count}x)" for name, count in unknown.most_common(10))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise ProjectError(
            source_file,
            f"{what} {noun_for(len(unknown), 'name')} not in the project: {listed}{more}; the project's classes are: "
            f"{', '.join(classes)}; add them to the project or map them to its classes; nothing was imported",
        )


def _mapping(project: Project, names: Iterable[str], renames: Mapping[str, str] | None) -> ClassMapping:
    """The file's class names read as the project's: `renames`, same name, stored alias, match."""
    return map_class_names(names, project.classes, renames, project.class_aliases())


def _stored(
    project: Project,
    source_file: Path,
    action: str,
    labels: list[ImportedLabel],
    skipped: list[tuple[str, str]],
    emit: EventSink,
    cancel: CancelToken,
    mapping: ClassMapping | None = None,
    outside: list[str] | None = None,
    passed: list[str] | None = None,
) -> ExchangeReport:
    """Store the labels; `outside` holds each label's name in the file (for the counts) and
    `passed` the names of the labels left out because the user maps them to skip."""
    added, written, not_found = project.import_labels(labels, emit=emit, cancel=cancel)
    gone = {path for path, _ in not_found}
    kept = [os.path.abspath(label.item.path) not in gone for label in labels]
    per_class = Counter(label.class_name for label, keep in zip(labels, kept, strict=True) if keep)
    counts = None
    if mapping is not None:
        names = [name for name, keep in zip(outside or [], kept, strict=True) if keep] + list(passed or [])
        counts = LabelCounts.tally(names, mapping, project.classes)
    return ExchangeReport(
        action,
        str(source_file),
        written,
        added,
        {name: per_class[name] for name in project.classes if per_class[name]},
        skipped + not_found,
        dict(counts.mapped_names) if counts is not None else {},
        counts,
    )


def _chosen_labels(project: Project, labeller: str | None, consensus: bool) -> list[tuple[ImageRecord, LabelRecord]]:
    images = {image.id: image for image in project.images()}
    if labeller is not None:
        labels = list(project.labels(labeller).values())
        if not labels and labeller not in project.labellers():
            known = ", ".join(project.labellers()) or "none"
            raise ProjectError(project.path, f"no labels by {labeller!r}; labellers: {known}")
    elif consensus:
        labels = list(project.labels().values())
    else:
        labels = project.all_labels()
    return [(images[label.image_id], label) for label in labels]


def _export_report(
    action: str,
    out: Path,
    rows: list[tuple[ImageRecord, LabelRecord]],
    skipped: list[tuple[str, str]] | None = None,
) -> ExchangeReport:
    per_class = Counter(label.class_name for _, label in rows)
    return ExchangeReport(action, str(out), len(rows), 0, dict(per_class), skipped or [])


def _resolve(base: Path, text: str) -> str:
    """An absolute path: as written (relative ones from the label file's folder), else the
    file of that name beside the label file, which rescues files written on another machine."""
    text = from_text(text)
    text = text.replace("\\", "/") if os.sep == "/" else text
    candidate = base / Path(text).expanduser()
    if candidate.exists() or not (base / candidate.name).is_file():
        return os.path.abspath(candidate)
    return os.path.abspath(base / candidate.name)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def _timestamp(text: str) -> float:
    """Seconds since 1970 from a number or an ISO 8601 time (UTC when no zone is given)."""
    try:
        return float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@contextmanager
def _atomic_path(out: Path) -> Iterator[Path]:
    """A temporary path beside `out` that replaces it only when the block succeeds; a file
    that cannot be written is a ProjectError naming the export."""
    try:
        with replacing(out) as partial:
            yield partial
    except OSError as exc:
        raise ProjectError(out, f"cannot write: {exc.strerror or exc}") from None


def _write_atomically(out: Path, write: Callable[[TextIO], None]) -> None:
    with _atomic_path(out) as partial, open(partial, "w", encoding="utf-8", newline="") as handle:
        write(handle)


def _hdf5_class_names(path: Path) -> list[str] | None:
    import h5py

    with h5py.File(path, "r") as handle:
        names = handle.attrs.get("class_names")
    if names is None:
        return None
    return [
        name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name) for name in np.asarray(names).ravel()
    ]


def _folder_name(class_name: str) -> str:
    return class_name.translate(_UNSAFE_IN_NAMES).strip(". ") or "_"


def _unique_target(folder: Path, image: ImageRecord, used: set[Path]) -> Path:
    """The image's own name in the class folder; a Galaxy10 row becomes <file>_<row>.png,
    and a clash with an earlier image gets the image id appended."""
    name = os.path.basename(image.path)
    if image.index is not None:
        name = f"{Path(name).stem}_{image.index:06d}.png"
    target = folder / name
    if target in used or target.exists():
        stem, suffix = _split_suffix(name)
        target = folder / f"{stem}-{image.id}{suffix}"
    return target


def _split_suffix(name: str) -> tuple[str, str]:
    for double in (".fits.gz", ".fits.fz", ".fit.gz", ".fts.gz"):
        if name.lower().endswith(double):
            return name[: -len(double)], name[-len(double) :]
    stem, suffix = os.path.splitext(name)
    return stem, suffix


def _stored_pixels(image: ImageRecord) -> np.ndarray:
    """A Galaxy10 row's pixels exactly as stored (uint8 RGB)."""
    cutout = open_galaxy10(image.path).read(image.index or 0)
    return np.clip(np.rint(cutout.data), 0, 255).astype(np.uint8)


def _save_png(pixels: np.ndarray, target: Path) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(target, format="PNG")


def _read_image(image: ImageRecord) -> Cutout:
    if image.index is not None:
        return open_galaxy10(image.path).read(image.index)
    hdu: int | str | None = None
    if image.hdu is not None:
        hdu = int(image.hdu) if image.hdu.lstrip("-").isdigit() else image.hdu
    return read_cutout(image.path, hdu=hdu)


def _galaxy10_pixels(image: ImageRecord, side: int) -> tuple[np.ndarray, dict[str, float]]:
    """side x side uint8 RGB and the sky position (NaN where unknown) for one image."""
    cutout = _read_image(image)
    position = dict.fromkeys(_POSITION_COLUMNS, math.nan)
    if cutout.format == "galaxy10":
        pixels = np.clip(np.rint(cutout.data), 0, 255).astype(np.uint8)
        for key in _POSITION_COLUMNS:
            value = cutout.meta.get(key)
            position[key] = math.nan if value is None else float(value)
    else:
        pixels = render_rgb(cutout, default_settings(cutout))
        centre = cutout.centre_sky_position()
        if centre is not None:
            position["ra"], position["dec"] = centre
            position["pxscale"] = _pixel_scale_arcsec(cutout)
    height, width = pixels.shape[:2]
    if (height, width) != (side, side):
        position["pxscale"] *= max(height, width) / side
        pixels = fit_into_square(pixels, side)
    return pixels, position


def _pixel_scale_arcsec(cutout: Cutout) -> float:
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(cutout.wcs.celestial)
    return float(np.mean(scales) * 3600.0)
