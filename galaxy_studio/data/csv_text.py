"""Rows of CSV text from files Galaxy Studio did not write, with every parse failure
turned into the reader's own user error naming the file and the line.

Catalogues and label tables come from outside (survey queries, spreadsheets, other tools),
so a reader must expect binary garbage, stray carriage returns and long cells. Python's
`csv` module refuses any field over 128 KiB and reports problems as a bare `csv.Error`;
both used to reach the user as a traceback. Every CSV reader in the package goes through
`csv_rows` (or `csv_row_stream`, its lazy form), in this module, which is also the one place
the field limit is raised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from galaxy_studio.errors import UserError

# A catalogue cell may legitimately be long (a JSON blob of photometry, a list of
# neighbours), but a cell of many MiB is a file that is not a table. The limit is
# process-wide in `csv`, so it is set here, once, when the first CSV reader is imported.
FIELD_LIMIT = 8 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)

# How much of a file's start the dialect is sniffed from.
_SNIFF_CHARS = 8192

ErrorFor = Callable[[Path, str], UserError]
"""How a reader reports a problem: (file, "line N: what is wrong") -> its user error."""


def csv_rows(text: str, path: Path, error: ErrorFor) -> list[tuple[int, list[str]]]:
    """(line, row) for every row of `text`, read as comma-, semicolon- or tab-separated.

    `line` is the file line the row ends on. A NUL character (the mark of a binary file)
    or anything `csv` cannot parse raises `error(path, "line N: ...")`.
    """
    nul = text.find("\x00")
    if nul >= 0:
        raise error(path, _binary_problem(text.count("\n", 0, nul) + 1))
    reader = csv.reader(io.StringIO(text), _sniffed_dialect(text))
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise error(path, f"line {reader.line_num}: {_problem(exc)}") from None
    return rows


def csv_row_stream(path: Path, encoding: str, error: ErrorFor) -> Iterator[tuple[int, list[str]]]:
    """(line, row) for every row of the file at `path`, read lazily, for lists too long to
    hold as text: the same dialects, NUL check and messages as `csv_rows`. The NUL check is one
    pass over the bytes, in blocks, before any row is given (quick beside reading the rows),
    so a binary file is named as such rather than failing as some stranger problem."""
    _refuse_binary(path, error)
    with path.open("rb") as stream:
        # Enough bytes for _SNIFF_CHARS characters of any encoding (4 bytes at most each).
        start = stream.read(4 * _SNIFF_CHARS).decode(encoding, errors="replace")
    with path.open("rb") as lines:
        reader = csv.reader((line.decode(encoding, errors="replace") for line in lines), _sniffed_dialect(start))
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            raise error(path, f"line {reader.line_num}: {_problem(exc)}") from None


def _refuse_binary(path: Path, error: ErrorFor) -> None:
    lines_before = 0
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            nul = block.find(b"\x00")
            if nul >= 0:
                raise error(path, _binary_problem(lines_before + block.count(b"\n", 0, nul) + 1))
            lines_before += block.count(b"\n")


def _sniffed_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma, semicolon or tab, as the text's start shows; plain CSV when it shows none."""
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _binary_problem(line: int) -> str:
    return f"line {line}: contains a NUL byte; this is a binary file, not CSV text"


def _problem(exc: csv.Error) -> str:
    """`csv`'s message in the user's terms where it is one a user cannot act on as worded."""
    text = str(exc)
    if text.startswith("field larger than field limit"):
        return f"a field is longer than {FIELD_LIMIT // (1024 * 1024)} MiB, more than any catalogue cell should hold"
    if text.startswith("new-line character seen in unquoted field"):
        return "a carriage return inside an unquoted field; the file is damaged or not CSV text"
    return f"not valid CSV ({text})"
