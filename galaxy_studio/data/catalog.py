"""What the user opened (folders, CSV lists, Galaxy10 files, single images) as a list of items.

Building a catalogue touches names and small label columns only, never pixels, so
a folder of 20,000 cutouts or the 17,736-row Galaxy10 file opens at once. Files
that cannot be used are listed in `skipped` with the reason instead of failing the
whole catalogue; a file that only turns out to be bad when read raises CutoutError
from read_item while the rest still read.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from galaxy_studio.data.csv_text import csv_row_stream, csv_rows
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.formats import (
    RASTER_FORMATS,
    UNSUPPORTED_IMAGE,
    detect_format,
    format_from_name,
    read_cutout,
)
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES, class_name, open_galaxy10
from galaxy_studio.data.tables import TableFormatError, fits_holds_table, format_from_suffix, read_table_text
from galaxy_studio.path_text import from_text, readable

UNSUPPORTED_FILE = "not a supported image (FITS, JPEG, PNG, TIFF, HDF5, CSV)"
PATH_COLUMNS: tuple[str, ...] = ("path", "file", "filename", "filepath", "image", "fits", "jpeg")
LABEL_COLUMNS: tuple[str, ...] = ("label", "class", "morphology", "category")
_IMAGE_FORMATS = RASTER_FORMATS | {"fits"}


@dataclass(frozen=True)
class CatalogItem:
    """One image: a file, or one row of a Galaxy10 HDF5 file."""

    path: str
    index: int | None = None
    label: str | None = None
    group: str = ""
    ra: float | None = None
    dec: float | None = None

    @property
    def name(self) -> str:
        """The file name (with its row), shown readably: a byte that is not UTF-8 as U+FFFD."""
        base = readable(os.path.basename(self.path))
        return base if self.index is None else f"{base}[{self.index}]"


@dataclass
class Catalog:
    items: list[CatalogItem] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""

    def merge(self, other: Catalog) -> Catalog:
        """Both catalogues one after the other; classes keep first-seen order without repeats."""
        sources = [source for source in dict.fromkeys((self.source, other.source)) if source]
        return Catalog(
            items=self.items + other.items,
            classes=list(dict.fromkeys(self.classes + other.classes)),
            skipped=self.skipped + other.skipped,
            source="; ".join(sources),
        )


def open_catalog(path: str | Path) -> Catalog:
    """A folder, CSV list (or ECSV, FITS or VOTable table), Galaxy10 HDF5 or single image as
    a Catalog.

    A file that is none of these gives an empty catalogue naming it in `skipped`;
    a table or HDF5 file that cannot be used as a catalogue raises CutoutError.
    """
    path = Path(path)
    if path.is_dir():
        return scan_folder(path)
    if not path.exists():
        raise CutoutError(path, "file not found")
    absolute = os.path.abspath(path)
    if path.stat().st_size == 0:
        return Catalog(skipped=[(absolute, "file is empty (0 bytes)")], source=str(path))
    fmt = detect_format(path)
    if fmt == "csv":
        return read_csv_catalog(path)
    if format_from_suffix(path) in ("ecsv", "votable") or (fmt == "fits" and fits_holds_table(path)):
        return read_table_catalog(path)
    if fmt == "hdf5":
        return _galaxy10_catalog(Path(absolute), group="")
    if fmt in _IMAGE_FORMATS:
        return Catalog(items=[CatalogItem(absolute)], source=str(path))
    return Catalog(skipped=[(absolute, _unsupported_reason(path))], source=str(path))


def scan_folder(path: str | Path, *, class_folders: bool | None = None) -> Catalog:
    """Every image under `path`, recursively, in sorted order, judged by file name only.

    With class_folders=None, first-level sub-folders are taken as classes when the
    root holds no images itself and at least two sub-folders hold some (the
    train/<class>/ layout). Galaxy10 HDF5 files found on the way are expanded. A folder
    name that is not UTF-8 gives its class name in readable form (path_text.readable): a
    class is text, its files keep their exact paths.
    """
    root = Path(os.path.abspath(path))
    if not root.is_dir():
        raise CutoutError(root, "is not a folder")
    images: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    expanded: list[Catalog] = []
    for directory, file_path, fmt in _folder_files(root):
        group = readable(Path(directory).relative_to(root).as_posix())
        group = "" if group == "." else group
        if fmt in _IMAGE_FORMATS:
            images.append((file_path, group))
        elif fmt == "hdf5":
            expanded.append(_galaxy10_part(Path(file_path), group))
        elif fmt == "csv":
            skipped.append((file_path, "CSV list: open it on its own to use it"))
        else:
            skipped.append((file_path, UNSUPPORTED_FILE))
    holders = sorted({group.split("/")[0] for _, group in images if group})
    if class_folders is None:
        class_folders = len(holders) >= 2 and all(group for _, group in images)
    items = [
        CatalogItem(file_path, label=(group.split("/")[0] or None) if class_folders else None, group=group)
        for file_path, group in images
    ]
    catalog = Catalog(items, holders if class_folders else [], skipped, str(path))
    for part in expanded:
        catalog = catalog.merge(part)
    return catalog


def read_csv_catalog(path: str | Path) -> Catalog:
    """Items listed in a CSV file, with optional label and ra/dec columns.

    Relative paths are resolved against the CSV's folder; a path that does not exist
    there is also looked for by its bare file name next to the CSV, which rescues
    lists written for another folder layout. When several path columns exist (say
    a JPEG and a FITS column) the one whose files exist most often is used.
    """
    path = Path(path)
    if not path.is_file():
        raise CutoutError(path, "file not found")
    rows = _csv_rows(path)
    if not rows:
        raise CutoutError(path, "CSV file is empty")
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise CutoutError(path, "CSV file has a header but no rows")
    return _listed_catalog(path, [name.strip() for name in rows[0]], body, first_row=2)


def read_table_catalog(path: str | Path) -> Catalog:
    """Items listed in an ECSV, FITS or VOTable table (TOPCAT's and astropy's formats, and
    the app's own classify output), read like a CSV list: a path column, optional label and
    ra/dec columns."""
    path = Path(path)
    try:
        header, rows = read_table_text(path)
    except TableFormatError as exc:
        raise CutoutError(path, exc.problem) from None
    return _listed_catalog(path, header, rows, first_row=1)


def _list_columns(path: Path, header: list[str]) -> tuple[dict[str, int], list[int]]:
    """A list's columns by lower-case name (the first of a repeated name wins) and those that
    may hold paths; a list without any cannot be classified, so it is refused here."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.lower(), index)
    path_columns = [columns[name] for name in PATH_COLUMNS if name in columns]
    if not path_columns:
        raise CutoutError(
            path,
            f"no path column (expected one of {', '.join(PATH_COLUMNS)}; found: {', '.join(header) or 'none'})",
        )
    return columns, path_columns


def _listed_catalog(path: Path, header: list[str], body: list[list[str]], *, first_row: int) -> Catalog:
    """The items of a table's rows (`first_row` is the first body row's number in messages)."""
    columns, path_columns = _list_columns(path, header)
    base = Path(os.path.abspath(path.parent))
    resolved = {column: [_resolve(base, _cell(row, column)) for row in body] for column in path_columns}
    path_column = max(path_columns, key=lambda column: sum(found for _, found in resolved[column]))
    label_column = next((columns[name] for name in LABEL_COLUMNS if name in columns), None)
    catalog = Catalog(source=str(path))
    for line, (row, (file_path, found)) in enumerate(zip(body, resolved[path_column]), start=first_row):
        if not _cell(row, path_column).strip():
            catalog.skipped.append((str(path), f"row {line}: empty path"))
            continue
        if not found:
            catalog.skipped.append((file_path, "file not found"))
            continue
        if format_from_name(file_path) not in _IMAGE_FORMATS:
            catalog.skipped.append((file_path, UNSUPPORTED_IMAGE))
            continue
        label = _cell(row, label_column).strip() or None
        catalog.items.append(
            CatalogItem(
                file_path,
                label=label,
                group=_relative_group(base, file_path),
                ra=_number(_cell(row, columns.get("ra"))),
                dec=_number(_cell(row, columns.get("dec"))),
            )
        )
    catalog.classes = list(dict.fromkeys(item.label for item in catalog.items if item.label))
    return catalog


def catalog_from_paths(paths: Iterable[str | Path]) -> Catalog:
    """Files and folders dropped on the window or picked in a dialog, as one catalogue.

    Nothing raises: what cannot be used, including a broken CSV or HDF5 file, is
    listed in `skipped` with the reason. A dialog may pass thousands of files, so the
    parts are concatenated once rather than merged pairwise.
    """
    items: list[CatalogItem] = []
    classes: list[str] = []
    skipped: list[tuple[str, str]] = []
    sources: list[str] = []
    for path in paths:
        sources.append(str(path))
        try:
            part = open_catalog(path)
        except CutoutError as exc:
            skipped.append((exc.source, exc.problem))
            continue
        items += part.items
        classes += part.classes
        skipped += part.skipped
    source = "; ".join(sources) if len(sources) <= 3 else f"{sources[0]} and {len(sources) - 1} more"
    return Catalog(items, list(dict.fromkeys(classes)), skipped, source)


@dataclass(frozen=True)
class SkippedInput:
    """An input that cannot be classified (`where`: its file, or a catalogue and its row) and
    why: a survey run reports it in its place and goes on, rather than failing hours in."""

    where: str
    reason: str


CatalogEntry = CatalogItem | SkippedInput

# How many rows of a CSV list decide which of several path columns is used: the one whose
# files exist most often among them (a whole-list vote, as read_csv_catalog takes, would
# have to hold the whole list).
_PATH_VOTE_ROWS = 256


def iter_catalog_items(paths: Iterable[str | Path]) -> Iterator[CatalogEntry]:
    """Every image under `paths`, one at a time and always in the same order, for lists too
    long to hold (a survey's millions of cutouts): folders are walked lazily in sorted order
    (Galaxy10 files expanded where they are met), CSV lists read row by row, Galaxy10 HDF5
    files row by row. An input that cannot be used is yielded as a SkippedInput in its place.
    ECSV, FITS and VOTable lists are read whole (astropy reads a table at once); their items
    are then yielded in turn."""
    for path in paths:
        yield from _entries_of(Path(path))


def _entries_of(path: Path) -> Iterator[CatalogEntry]:
    absolute = os.path.abspath(path)
    if path.is_dir():
        yield from _walk_folder(Path(absolute))
        return
    if not path.exists():
        yield SkippedInput(absolute, "file not found")
        return
    if path.stat().st_size == 0:
        yield SkippedInput(absolute, "file is empty (0 bytes)")
        return
    fmt = detect_format(path)
    if fmt == "csv":
        yield from _guarded(path, _csv_list_entries(path))
    elif fmt == "hdf5":
        yield from _guarded(path, _galaxy10_entries(Path(absolute)))
    elif format_from_suffix(path) in ("ecsv", "votable") or (fmt == "fits" and fits_holds_table(path)):
        yield from _guarded(path, _table_list_entries(path))
    elif fmt in _IMAGE_FORMATS:
        yield CatalogItem(absolute)
    else:
        yield SkippedInput(absolute, _unsupported_reason(path))


def _guarded(path: Path, entries: Iterator[CatalogEntry]) -> Iterator[CatalogEntry]:
    """A list that turns out to be unusable (no path column, not HDF5 after all) ends in one
    SkippedInput naming it; the entries it gave before stand."""
    try:
        yield from entries
    except CutoutError as exc:
        yield SkippedInput(os.path.abspath(path), exc.problem)


def _walk_folder(root: Path) -> Iterator[CatalogEntry]:
    """A folder's images in scan_folder's order of folders and names, one directory listing
    in memory at a time."""
    for _, file_path, fmt in _folder_files(root):
        if fmt in _IMAGE_FORMATS:
            yield CatalogItem(file_path)
        elif fmt == "hdf5":
            yield from _guarded(Path(file_path), _galaxy10_entries(Path(file_path)))
        elif fmt == "csv":
            yield SkippedInput(file_path, "CSV list: give it on its own to use it")
        else:
            yield SkippedInput(file_path, UNSUPPORTED_FILE)


def _folder_files(root: Path) -> Iterator[tuple[str, str, str]]:
    """(directory, path, format by name) of a folder's files, hidden ones left out, folders
    and names in sorted order: the one order of a scanned folder and a streamed survey."""
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield directory, os.path.join(directory, name), format_from_name(name)


def _galaxy10_entries(path: Path) -> Iterator[CatalogEntry]:
    """One item per row; pixels are read only when the row is classified. The ra and dec
    columns are read whole (8 bytes a row)."""
    file = open_galaxy10(path)
    ra, dec = file.column("ra"), file.column("dec")
    for index in range(len(file)):
        yield CatalogItem(
            str(path),
            index=index,
            ra=float(ra[index]) if ra is not None and index < len(ra) else None,
            dec=float(dec[index]) if dec is not None and index < len(dec) else None,
        )


def _csv_list_entries(path: Path) -> Iterator[CatalogEntry]:
    """A CSV list's rows as items, read lazily. A file that is not UTF-8 (judged from its
    start) is read as Latin-1, like read_csv_catalog does."""
    with path.open("rb") as stream:
        start = stream.read(64 * 1024)
    try:
        start.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        encoding = "utf-8-sig" if exc.start >= len(start) - 3 else "latin-1"
    rows = csv_row_stream(path, encoding, CutoutError)
    header = next(rows, None)
    if header is None:
        raise CutoutError(path, "CSV file is empty")
    body = ((line, row) for line, row in rows if any(cell.strip() for cell in row))
    yield from _listed_entries(path, [name.strip() for name in header[1]], body)


def _table_list_entries(path: Path) -> Iterator[CatalogEntry]:
    try:
        header, body = read_table_text(path)
    except TableFormatError as exc:
        raise CutoutError(path, exc.problem) from None
    yield from _listed_entries(path, header, enumerate(body, start=1))


def _listed_entries(path: Path, header: list[str], rows: Iterator[tuple[int, list[str]]]) -> Iterator[CatalogEntry]:
    """Items of a list's (line, row) pairs, with ra/dec when it has them; the path column is
    chosen by a vote of the first rows when there are several."""
    columns, path_columns = _list_columns(path, header)
    base = Path(os.path.abspath(path.parent))
    first = list(itertools.islice(rows, _PATH_VOTE_ROWS))
    path_column = max(path_columns, key=lambda column: sum(_resolve(base, _cell(row, column))[1] for _, row in first))
    for line, row in itertools.chain(first, rows):
        file_path, found = _resolve(base, _cell(row, path_column))
        if not file_path:
            yield SkippedInput(str(path), f"row {line}: empty path")
        elif not found:
            yield SkippedInput(file_path, "file not found")
        elif format_from_name(file_path) not in _IMAGE_FORMATS:
            yield SkippedInput(file_path, UNSUPPORTED_IMAGE)
        else:
            ra, dec = _number(_cell(row, columns.get("ra"))), _number(_cell(row, columns.get("dec")))
            yield CatalogItem(file_path, ra=ra, dec=dec)


def item_position(item: CatalogItem) -> tuple[float, float] | None:
    """Where an item lies (ICRS degrees): the catalogue's ra/dec when it gives both, else the
    centre of a FITS file's WCS, read from its headers; None when neither is known."""
    if item.ra is not None and item.dec is not None:
        return item.ra, item.dec
    if item.index is not None or format_from_name(item.path) != "fits":
        return None
    from galaxy_studio.data.fits import fits_centre_icrs

    return fits_centre_icrs(item.path)


def read_item(item: CatalogItem, *, max_side: int | None = None) -> Cutout:
    if item.index is not None:
        return open_galaxy10(item.path).read(item.index, max_side=max_side)
    return read_cutout(item.path, max_side=max_side)


def _galaxy10_catalog(path: Path, group: str) -> Catalog:
    """One item per image; reads `ans`, `ra` and `dec` only, never pixels."""
    file = open_galaxy10(path)
    labels = file.labels()
    ra = file.column("ra")
    dec = file.column("dec")
    names = [class_name(int(value)) for value in labels] if labels is not None else []
    items = [
        CatalogItem(
            str(path),
            index=index,
            label=names[index] if index < len(names) else None,
            group=group,
            ra=float(ra[index]) if ra is not None and index < len(ra) else None,
            dec=float(dec[index]) if dec is not None and index < len(dec) else None,
        )
        for index in range(len(file))
    ]
    classes = list(GALAXY10_CLASSES) if labels is not None else []
    return Catalog(items, classes, [], str(path))


def _galaxy10_part(path: Path, group: str) -> Catalog:
    try:
        part = _galaxy10_catalog(path, group)
    except CutoutError as exc:
        return Catalog(skipped=[(str(path), exc.problem)])
    part.source = ""
    return part


def _unsupported_reason(path: Path) -> str:
    claimed = format_from_name(path)
    if claimed in _IMAGE_FORMATS:
        return f"{UNSUPPORTED_IMAGE}: the content does not match its {claimed.upper()} name"
    return UNSUPPORTED_FILE


def _csv_rows(path: Path) -> list[list[str]]:
    """Rows of a CSV in UTF-8 (with or without BOM) or, failing that, Latin-1; , ; or tab."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        return []
    return [row for _, row in csv_rows(text, path, CutoutError)]


def _cell(row: list[str], column: int | None) -> str:
    if column is None or column >= len(row):
        return ""
    return row[column]


def _resolve(base: Path, value: str) -> tuple[str, bool]:
    """(absolute path, whether it exists): as written, else the bare file name next to the CSV."""
    text = from_text(value.strip())
    if os.sep == "/":
        text = text.replace("\\", "/")
    if not text:
        return "", False
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = base / candidate
    if candidate.is_file():
        return os.path.abspath(candidate), True
    beside = base / candidate.name
    if beside.is_file():
        return os.path.abspath(beside), True
    return os.path.abspath(candidate), False


def _relative_group(base: Path, file_path: str) -> str:
    folder = Path(file_path).parent
    if folder == base or not folder.is_relative_to(base):
        return ""
    return folder.relative_to(base).as_posix()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
