"""Tables astronomers load: every table the app writes as CSV, ECSV, FITS or VOTable.

A classify result, a label export or a clustering ends in TOPCAT, astropy or a survey
pipeline as often as in a spreadsheet, so each writer describes its columns once (name,
type, unit, description: a `TableColumn`) and `build_table` turns its rows into an
astropy Table that carries the units and descriptions into every format that can hold
them. `write_table` picks the format from the output's name (.csv .ecsv .fits/.fit/.fts
.xml/.vot/.votable) unless one is given, and writes the file whole or not at all.

CSV stays exactly as the app wrote it before the other formats existed (floats in each
column's own format, missing values as empty cells, yes/no for flags), since scripts and the
app's own readers depend on it. FITS holds only ASCII text: a cell with other characters is
stored as its UTF-8 bytes, which `read_table_text` decodes again; paths that are not text
are already `file:` URIs (`path_text.to_text`), so nothing is lost.

`read_table_text` reads any of the four formats back as a header and rows of text, the
form the catalogue and label readers take.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.atomic_files import replacing, write_bytes_atomically
from galaxy_studio.errors import UserError
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from astropy.table import Table

TABLE_FORMATS: tuple[str, ...] = ("csv", "ecsv", "fits", "votable")
TABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".ecsv": "ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".xml": "votable",
    ".vot": "votable",
    ".votable": "votable",
}
TABLE_GLOBS = " ".join(f"*{suffix}" for suffix in TABLE_SUFFIXES)
"""The table files an open dialog shows beside others (catalogues, label files)."""
TABLE_FILE_FILTERS: tuple[str, ...] = (
    "CSV (*.csv)",
    "ECSV, astropy's CSV with units (*.ecsv)",
    "FITS table (*.fits *.fit *.fts)",
    "VOTable (*.xml *.vot *.votable)",
)
"""The save-dialog filters, in TABLE_FORMATS order (a GUI offers them; `table_format` reads
the chosen name)."""

_ASTROPY_FORMATS = {"ecsv": "ascii.ecsv", "fits": "fits", "votable": "votable"}
_NUMPY_TYPES: dict[type, Any] = {str: np.str_, int: np.int64, float: np.float64, bool: np.bool_}
# What a missing cell holds under its mask (NaN is also what FITS and TOPCAT read as blank).
_FILLERS: dict[type, Any] = {str: "", int: 0, float: math.nan, bool: False}


class TableFormatError(UserError):
    """A table file whose format is unknown or that cannot be read as a table."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class TableColumn:
    """One column: its name, Python type (str, int, float or bool), unit (an astropy unit
    string such as "deg"; "" for a dimensionless number such as a probability; None when a
    unit makes no sense, as for text), what it holds in words, and how CSV and ECSV print a
    float (a format spec such as ".6f"; None prints it in full). `ucd` is the IVOA content
    descriptor a VOTable gives it, by which TOPCAT and Aladin find the sky position."""

    name: str
    dtype: type
    unit: str | None = None
    description: str = ""
    format: str | None = None
    ucd: str | None = None


RA_COLUMN = TableColumn(
    "ra", float, "deg", "right ascension (ICRS) of the cutout's centre, where known", ucd="pos.eq.ra;meta.main"
)
DEC_COLUMN = TableColumn(
    "dec", float, "deg", "declination (ICRS) of the cutout's centre, where known", ucd="pos.eq.dec;meta.main"
)


def table_format(path: str | Path, fmt: str | None = None) -> str:
    """The format to write `path` in: `fmt` when given, else the one its name says, else CSV
    (the app's tables were CSV whatever their name, and scripts name them .txt or .tsv)."""
    if fmt is not None:
        if fmt not in TABLE_FORMATS:
            raise TableFormatError(path, f"unknown table format {fmt!r}; use one of {', '.join(TABLE_FORMATS)}")
        return fmt
    return format_from_suffix(path) or "csv"


def format_from_suffix(path: str | Path) -> str | None:
    """The table format a file's name says, or None."""
    return TABLE_SUFFIXES.get(Path(path).suffix.lower())


def table_path_for_filter(path: str, selected_filter: str) -> tuple[str, str]:
    """The file a save dialog chose and its format: a name with one of the table suffixes
    keeps it and its format; any other name gets the suffix of the filter that was picked
    (CSV when the filter is none of TABLE_FILE_FILTERS)."""
    fmt = format_from_suffix(path)
    if fmt is not None:
        return path, fmt
    fmt = TABLE_FORMATS[TABLE_FILE_FILTERS.index(selected_filter)] if selected_filter in TABLE_FILE_FILTERS else "csv"
    suffix = next(suffix for suffix, named in TABLE_SUFFIXES.items() if named == fmt)
    return path + suffix, fmt


def build_table(
    rows: Iterable[Sequence[Any]], columns: Sequence[TableColumn], *, meta: Mapping[str, Any] | None = None
) -> Table:
    """An astropy Table of `rows` (one value per column, None where unknown, masked in the
    table) with each column's unit, description and print format, and `meta` as the
    table's metadata (FITS header cards, ECSV meta). A path goes in as `path_text.to_text`
    writes it; any other text that is not valid Unicode is shown readably (`readable`)
    rather than failing the whole table."""
    from astropy.table import Column, MaskedColumn, Table

    values = [[readable(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
    for number, row in enumerate(values):
        if len(row) != len(columns):
            raise ValueError(f"row {number} has {len(row)} values for {len(columns)} columns")
    table = Table(meta=dict(meta or {}))
    for position, column in enumerate(columns):
        cells = [row[position] for row in values]
        mask = [cell is None for cell in cells]
        filler = _FILLERS[column.dtype]
        data = np.array([filler if cell is None else cell for cell in cells], dtype=_NUMPY_TYPES[column.dtype])
        if column.dtype is str and not len(data):
            data = data.astype("U1")
        attributes = {
            "unit": column.unit,
            "description": column.description or None,
            "format": column.format,
            "meta": {"ucd": column.ucd} if column.ucd else None,
        }
        # A column with nothing missing stays plain: astropy's text writers handle masked
        # columns cell by cell, several times slower.
        table[column.name] = MaskedColumn(data, mask=mask, **attributes) if any(mask) else Column(data, **attributes)
    return table


def write_table(table: Table, out: str | Path, *, fmt: str | None = None, line_end: str = "\n") -> str:
    """Write `table` to `out` in `fmt` (or the format its name says) and return the format;
    the file is replaced whole or left as it was. `line_end` ends CSV lines (each writer
    keeps the line ends its CSV always had). Raises OSError when it cannot be written."""
    chosen = table_format(out, fmt)
    if chosen == "csv":
        write_bytes_atomically(out, csv_text(table, line_end=line_end).encode("utf-8"))
        return chosen
    if chosen == "fits":
        table = _ascii_for_fits(table)
    with replacing(out) as partial, warnings.catch_warnings():
        # A VOTable column's ID is made from its name ("p_Round Smooth" -> "p_Round_Smooth"):
        # astropy says so for every class, which tells the user nothing.
        from astropy.io.votable.exceptions import VOTableChangeWarning

        warnings.simplefilter("ignore", VOTableChangeWarning)
        table.write(partial, format=_ASTROPY_FORMATS[chosen], overwrite=True)
    return chosen


def csv_text(table: Table, *, line_end: str = "\n") -> str:
    """The table as the app's CSV: a header row, each float in its column's format, a masked
    cell empty, a flag as yes/no."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(table.colnames)
    # Plain Python lists: indexing a masked astropy column cell by cell is 50 times slower.
    columns = [
        (np.ma.getdata(table[name]).tolist(), np.ma.getmaskarray(table[name]).tolist(), table[name].info.format)
        for name in table.colnames
    ]
    for row in range(len(table)):
        writer.writerow("" if mask[row] else _csv_cell(values[row], spec) for values, mask, spec in columns)
    return buffer.getvalue()


def _csv_cell(value: Any, spec: str | None) -> str:
    if isinstance(value, np.bool_ | bool):
        return "yes" if value else "no"
    if isinstance(value, np.floating | float):
        return format(float(value), spec) if spec else repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _ascii_for_fits(table: Table) -> Table:
    """A copy that FITS can hold, which holds only ASCII text: a text cell with other
    characters becomes its UTF-8 bytes (`read_table_text` decodes them); a column name or a
    header value writes them as backslash escapes (p_Spirale \\xe0 bras). Descriptions
    travel in astropy's own header comments, which escape them already."""
    from astropy.table import Column, MaskedColumn

    copy = table.copy(copy_data=False)
    for key, value in table.meta.items():
        if isinstance(value, str):
            copy.meta[key] = _escaped(value)
    for name in table.colnames:
        column = table[name]
        if column.dtype.kind == "U" and not all(str(cell).isascii() for cell in column):
            encoded = np.array([str(cell).encode("utf-8") for cell in column], dtype=bytes)
            mask = np.ma.getmaskarray(column)
            bytes_column = MaskedColumn(encoded, mask=mask) if mask.any() else Column(encoded)
            bytes_column.info.description = column.info.description
            copy[name] = bytes_column
        if not name.isascii():
            copy.rename_column(name, _escaped(name))
    return copy


def _escaped(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def read_table(path: str | Path) -> Table:
    """An ECSV, FITS (the first table HDU) or VOTable file as an astropy Table; a file that
    is none of these, or is damaged, raises TableFormatError naming it."""
    from astropy.table import Table

    path = Path(path)
    fmt = _reading_format(path)
    try:
        if fmt == "fits":
            return Table.read(path, format="fits", hdu=_first_table_hdu(path))
        return Table.read(path, format=_ASTROPY_FORMATS[fmt])
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise TableFormatError(path, f"cannot be read as a {fmt.upper()} table ({exc})") from None


def read_table_text(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """The header and every row of an ECSV, FITS or VOTable file as text: a masked or NaN
    cell is "", a float its shortest exact text, a flag yes/no, bytes decoded as UTF-8. A
    missing file or a table without rows raises TableFormatError, as a damaged one does."""
    if not Path(path).is_file():
        raise TableFormatError(path, "file not found")
    table = read_table(path)
    if not len(table):
        raise TableFormatError(path, "the table has no rows")
    rows: list[list[str]] = [[] for _ in range(len(table))]
    for name in table.colnames:
        column = table[name]
        if column.ndim > 1:
            continue
        mask = np.ma.getmaskarray(column).tolist()
        for number, value in enumerate(np.ma.getdata(column).tolist()):
            rows[number].append("" if mask[number] else _text_cell(value))
    header = [name for name in table.colnames if table[name].ndim == 1]
    return header, rows


def _text_cell(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.floating | float):
        return "" if math.isnan(value) else repr(float(value))
    return _csv_cell(value, None)


def _reading_format(path: Path) -> str:
    fmt = format_from_suffix(path)
    if fmt is None or fmt == "csv":
        raise TableFormatError(path, "not an ECSV, FITS or VOTable file by its name")
    return fmt


def fits_holds_table(path: str | Path) -> bool:
    """Whether a FITS file is a table (a table HDU and no image data), read from its headers;
    a file with an image in its primary HDU (most cutouts) is answered from that one."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdus:
            if hdus[0].header.get("NAXIS", 0) > 0:
                return False
            has_image = any(hdu.is_image and hdu.header.get("NAXIS", 0) > 0 for hdu in hdus)
            has_table = any(isinstance(hdu, fits.BinTableHDU | fits.TableHDU) for hdu in hdus)
    except (OSError, ValueError):
        return False
    return has_table and not has_image


def _first_table_hdu(path: Path) -> int:
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdus:
        for number, hdu in enumerate(hdus):
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                return number
    raise ValueError("it holds no table HDU")
