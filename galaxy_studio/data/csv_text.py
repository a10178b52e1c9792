"""Rows of CSV text from files Galaxy Studio did not write, with every parse failure
turned into the reader's own user error naming the file and the line.

Catalogues and label tables come from outside (survey queries, spreadsheets, other tools),
so a reader must expect binary garbage, stray carriage returns and long cells. Python's
`csv` module refuses any field over 128 KiB and reports problems as a bare `csv.Error`;
both used to reach the user as a traceback. Every CSV reader in the package goes through
`csv_rows`, which is also the one place the field limit is raised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from galaxy_studio.errors import UserError

# A catalogue cell may legitimately be long (a JSON blob of photometry, a list of
# neighbours), but a cell of many MiB is a file that is not a table. The limit is
# process-wide in `csv`, so it is set here, once, when the first CSV reader is imported.
FIELD_LIMIT = 8 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)

ErrorFor = Callable[[Path, str], UserError]
"""How a reader reports a problem: (file, "line N: what is wrong") -> its user error."""


def csv_rows(text: str, path: Path, error: ErrorFor) -> list[tuple[int, list[str]]]:
    """(line, row) for every row of `text`, read as comma-, semicolon- or tab-separated.

    `line` is the file line the row ends on. A NUL character (the mark of a binary file)
    or anything `csv` cannot parse raises `error(path, "line N: ...")`.
    """
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise error(path, f"line {line}: contains a NUL byte; this is a binary file, not CSV text")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise error(path, f"line {reader.line_num}: {csv_problem(exc)}") from None
    return rows


def csv_problem(exc: csv.Error) -> str:
    """`csv`'s message in the user's terms where it is one a user cannot act on as worded."""
    text = str(exc)
    if text.startswith("field larger than field limit"):
        return f"a field is longer than {FIELD_LIMIT // (1024 * 1024)} MiB, more than any catalogue cell should hold"
    if text.startswith("new-line character seen in unquoted field"):
        return "a carriage return inside an unquoted field; the file is damaged or not CSV text"
    return f"not valid CSV ({text})"
