"""The one table of a survey classification, merged from its chunk files.

CSV and ECSV are written chunk by chunk, so that memory does not grow with the survey: each
chunk becomes a small table whose rows are appended under the header of the first. The file
equals the one `write_predictions` writes for all rows at once, since each row's text depends
on that row alone. FITS, VOTable and Parquet have no such appendable form in astropy, so
their table is built whole in memory (about 100 bytes a row plus one float per class).
The output is written under a temporary name and renamed into place: a reader sees the
finished table or none.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from galaxy_studio.atomic_files import replacing
from galaxy_studio.data.tables import TABLE_FORMATS, csv_text, table_format, write_table
from galaxy_studio.model.classification import ClassifyResult, Prediction, predictions_table
from galaxy_studio.model.errors import ModelError

SURVEY_FORMATS: tuple[str, ...] = (*TABLE_FORMATS, "parquet")
_STREAMED = ("csv", "ecsv")


def survey_format(out: str | Path, fmt: str | None) -> str:
    """The output's format: `fmt`, else its name's (.parquet included), else CSV."""
    if fmt == "parquet" or (fmt is None and Path(out).suffix.lower() == ".parquet"):
        require_parquet()
        return "parquet"
    return table_format(out, fmt)


def require_parquet() -> None:
    """Parquet is written by pyarrow, an optional dependency; say how to get it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ModelError(
            "writing Parquet needs pyarrow, which is not installed",
            "install it (pip install 'galaxy-studio[parquet]' or pip install pyarrow), or write another format "
            f"({', '.join(TABLE_FORMATS)})",
        ) from None


def write_survey_table(
    out: str | Path,
    fmt: str,
    model: str,
    classes: Sequence[str],
    chunks: Iterable[Sequence[Prediction]],
) -> None:
    """Write the predictions of `chunks` (in order) to `out` in `fmt`, whole or not at all."""
    with replacing(out) as partial:
        if fmt in _STREAMED:
            with open(partial, "w", encoding="utf-8", newline="") as stream:
                _stream_rows(stream, fmt, model, classes, chunks)
        else:
            rows = [prediction for chunk in chunks for prediction in chunk]
            table = predictions_table(ClassifyResult(model, tuple(classes), tuple(rows)))
            if fmt == "parquet":
                table.write(partial, format="parquet", overwrite=True)
            else:
                write_table(table, partial, fmt=fmt)


def _stream_rows(
    stream: IO[str], fmt: str, model: str, classes: Sequence[str], chunks: Iterable[Sequence[Prediction]]
) -> None:
    """The first non-empty chunk's header, then every chunk's rows (the merge writes only when
    some chunk holds a prediction)."""
    started = False
    for chunk in chunks:
        if not chunk:
            continue
        head, body = _split_header(_chunk_text(fmt, model, classes, chunk), fmt)
        if not started:
            stream.write(head)
            started = True
        stream.write(body)


def _chunk_text(fmt: str, model: str, classes: Sequence[str], rows: Sequence[Prediction]) -> str:
    table = predictions_table(ClassifyResult(model, tuple(classes), tuple(rows)))
    if fmt == "csv":
        return csv_text(table)
    buffer = io.StringIO()
    table.write(buffer, format="ascii.ecsv")
    return buffer.getvalue()


def _split_header(text: str, fmt: str) -> tuple[str, str]:
    """(header, rows) of a table's text: CSV's first line; ECSV's comment lines and the line
    of column names after them. A cell with a line break is quoted within the rows."""
    start = 0
    while fmt == "ecsv" and text.startswith("#", start):
        start = text.index("\n", start) + 1
    end = text.index("\n", start) + 1
    return text[:end], text[end:]
