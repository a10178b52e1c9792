"""Tables that carry labels, read strictly: CSV, and ECSV, FITS or VOTable by their names.

A label file decides what a galaxy is, so a file in an unexpected encoding is refused
with the reason rather than guessed at: a wrong guess would silently turn class names
into names that match nothing (or, worse, something else). The other table formats are
read by astropy and handed on as the same header and rows of text, so every label reader
takes the tables the app exports (`data.tables`).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from galaxy_studio.data.csv_text import csv_rows
from galaxy_studio.data.tables import TableFormatError, format_from_suffix, read_table_text
from galaxy_studio.labels.errors import ProjectError


@dataclass(frozen=True)
class CsvTable:
    """A table file's header and its non-blank rows; `line(i)` is row i's line in a CSV file
    (its row, counted from 1, in another table format: `unit` says which)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    unit: str = "line"

    def column(self, *names: str) -> int | None:
        """Index of the first header among `names` (case-insensitive), or None."""
        lowered = [name.strip().lower() for name in self.header]
        for name in names:
            if name.lower() in lowered:
                return lowered.index(name.lower())
        return None

    def line(self, row: int) -> int:
        return self.lines[row]

    def where(self, row: int) -> str:
        """Row `row` for a message: "labels.csv line 7", "labels.fits row 6"."""
        return f"{self.path.name} {self.unit} {self.lines[row]}"


def decode_text(path: Path) -> str:
    """The file as text: UTF-8 (with or without BOM) or UTF-16 with a BOM, else ProjectError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(path, "file not found") from None
    except IsADirectoryError:
        raise ProjectError(path, "is a folder, not a CSV file") from None
    except OSError as exc:
        raise ProjectError(path, f"cannot read: {exc.strerror or exc}") from None
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    nul = -1 if utf16 else raw.find(b"\x00", 0, 4096)
    if nul >= 0:
        raise ProjectError(path, f"line {_line_at(raw, nul)}: contains a NUL byte; this is a binary file, not CSV text")
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ProjectError(
            path,
            f"line {_line_at(raw, exc.start)}: not {'UTF-16' if utf16 else 'UTF-8'} text "
            f"(byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8 CSV and try again",
        ) from None


def _line_at(raw: bytes, offset: int) -> int:
    """The 1-based line of byte `offset` (counting \\n; a UTF-16 line number is approximate)."""
    return raw.count(b"\n", 0, offset) + 1


def cell(row: list[str], column: int | None) -> str:
    """The stripped cell, or "" when the row is short or the column absent."""
    if column is None or column >= len(row):
        return ""
    return row[column].strip()


def read_csv_table(path: str | Path, *, header: bool = True) -> CsvTable:
    """Rows of a comma-, semicolon- or tab-separated file, or of an ECSV, FITS or VOTable file
    (by its name); blank rows dropped."""
    path = Path(path)
    if format_from_suffix(path) not in (None, "csv"):
        return _read_astropy_table(path)
    text = decode_text(path)
    if not text.strip():
        raise ProjectError(path, "CSV file is empty")
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in csv_rows(text, path, ProjectError):
        if any(value.strip() for value in row):
            rows.append(row)
            lines.append(line)
    if not rows:
        raise ProjectError(path, "CSV file has no values")
    if not header:
        return CsvTable(path, [], rows, lines)
    return CsvTable(path, [name.strip() for name in rows[0]], rows[1:], lines[1:])


def _read_astropy_table(path: Path) -> CsvTable:
    """An ECSV, FITS or VOTable file as text rows: its columns' names are the header."""
    try:
        header, rows = read_table_text(path)
    except TableFormatError as exc:
        raise ProjectError(path, exc.problem) from None
    return CsvTable(path, header, rows, list(range(1, len(rows) + 1)), unit="row")
