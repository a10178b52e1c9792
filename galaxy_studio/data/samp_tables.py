"""The files SAMP passes around, and what a table's rows mean in Galaxy Studio.

SAMP sends URLs, not data: a cutout goes to DS9 as a FITS file (the original when it is one,
else one written here with its WCS), a table goes to TOPCAT as a VOTable written here. A
table that comes back from TOPCAT is read and turned into cutouts: by its path column, or
by matching its RA/Dec columns to the cutouts open. Either way a `LinkedTable` remembers
which cutout each row stands for, so row highlights and selections can travel both ways.
"""

from __future__ import annotations

import io
import math
import os
import time
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.data.catalog import LABEL_COLUMNS, PATH_COLUMNS, Catalog, CatalogItem
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.display import origin_lower
from galaxy_studio.data.formats import format_from_name
from galaxy_studio.data.samp_links import ItemKey, LinkedTable, item_key
from galaxy_studio.data.tables import write_table

# A received RA/Dec row and an open cutout within this distance are the same galaxy.
MATCH_RADIUS_ARCSEC = 3.0
READ_TIMEOUT_S = 10.0
# Files written for other programs are kept this long (they read them once, at once).
STALE_AFTER_S = 24 * 3600.0
RA_COLUMNS = ("ra", "raj2000", "ra_icrs", "_raj2000", "ra_deg", "alpha_j2000")
DEC_COLUMNS = ("dec", "dej2000", "de_icrs", "_dej2000", "dec_deg", "delta_j2000", "decj2000")


@dataclass(frozen=True)
class ReceivedTable:
    """A table read from another application: a new catalogue when it lists files (else
    None, and its rows were matched to the cutouts already open), with its row links."""

    link: LinkedTable
    catalog: Catalog | None
    summary: str


# Sending ----------------------------------------------------------------------------------


def table_of_items(items: Sequence[CatalogItem], labels: Sequence[str | None] | None = None) -> Table:
    """The cutouts a panel lists as a table TOPCAT can plot: name, path, HDF5 row, label,
    RA/Dec (blank where unknown)."""
    labels = labels if labels is not None else [item.label for item in items]
    return Table(
        [
            [item.name for item in items],
            [item.path for item in items],
            MaskedColumn(
                [item.index if item.index is not None else -1 for item in items],
                mask=[item.index is None for item in items],
            ),
            [label or "" for label in labels],
            _degrees([item.ra for item in items], "deg"),
            _degrees([item.dec for item in items], "deg"),
        ],
        names=("name", "path", "row", "label", "ra", "dec"),
    )


def table_of_rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A table shown as text (a Qt table of predictions) with each column typed: a column
    whose every non-blank cell is a number (or a percentage) becomes float, blank as NaN."""
    names = _column_names(headers)
    columns: list[Any] = []
    for index in range(len(names)):
        cells = [row[index].strip() if index < len(row) else "" for row in rows]
        numbers = [_cell_number(cell) for cell in cells]
        if any(cell for cell in cells) and all(number is not None or not cell for number, cell in zip(numbers, cells)):
            columns.append(np.array([math.nan if number is None else number for number in numbers], dtype=float))
        else:
            columns.append(cells)
    return Table(columns, names=names) if names else Table()


def with_items(table: Table, items: Sequence[CatalogItem | None]) -> Table:
    """`table` plus path and RA/Dec columns of the cutout each row stands for."""
    table = table.copy()
    if "path" not in table.colnames:
        table["path"] = [item.path if item is not None else "" for item in items]
    for name in ("ra", "dec"):
        if name not in table.colnames:
            table[name] = _degrees([getattr(item, name) if item is not None else None for item in items], "deg")
    return table


def write_votable(table: Table, path: Path) -> Path:
    """`table` as a VOTable at `path` (written whole or not at all), as every table the app
    writes (data/tables.py); astropy's notes on column types are not the user's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_table(table, path, fmt="votable")
    return path


def remove_stale_files(folder: Path, older_than_s: float = STALE_AFTER_S) -> int:
    """Delete files sent more than `older_than_s` ago from `folder` (the receiving program has
    long read them); returns how many went. Each send writes a new file, so without this the
    folder would only grow."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue  # gone already, or not ours to delete: harmless either way
    return removed


def fits_to_send(item: CatalogItem, cutout: Cutout, folder: Path) -> Path:
    """A FITS file DS9 and Aladin can load for `cutout`: its own file when the cutout is that
    file's primary image read whole, else one written into `folder` (several bands as a cube:
    DS9 loads only the first HDU), with the WCS when known and raster rows flipped so that
    DS9 shows the image the way Galaxy Studio does."""
    whole_primary = cutout.meta.get("hdu") == 0 and cutout.n_bands == 1 and cutout.scale == 1
    if item.index is None and cutout.format == "fits" and whole_primary:
        return Path(cutout.source)
    folder.mkdir(parents=True, exist_ok=True)
    data = cutout.data
    lower = origin_lower(cutout)
    planes = np.moveaxis(data if lower else data[::-1], 2, 0)
    header = fits.Header()
    if cutout.wcs is not None:
        header.update((cutout.wcs if lower else flipped_rows(cutout.wcs, cutout.height)).to_header())
    for band, name in enumerate(cutout.bands, start=1):
        header[f"BAND{band}"] = name
    header["ORIGIN"] = "Galaxy Studio"
    stem = Path(item.path).name + (f"-{item.index}" if item.index is not None else "")
    path = folder / f"{stem}.fits"
    image = planes[0] if len(planes) == 1 else planes
    hdu = fits.PrimaryHDU(np.ascontiguousarray(image), header=header)
    write_atomically(path, hdu.writeto, durable=False)
    return path


def flipped_rows(wcs: Any, height: int) -> Any:
    """The same sky on the grid whose rows are in reverse order (row y becomes height-1-y)."""
    flipped = wcs.deepcopy()
    flipped.wcs.crpix[1] = height + 1 - wcs.wcs.crpix[1]
    if flipped.wcs.has_cd():
        flipped.wcs.cd[:, 1] *= -1
    else:
        flipped.wcs.pc[:, 1] *= -1
    flipped.wcs.set()
    return flipped


def display_position(cutout: Cutout, ra: float, dec: float) -> tuple[float, float] | None:
    """Where (ra, dec) is in the viewer (x right, y down, pixel centres at integers), or None
    when the cutout has no WCS or the point falls outside it."""
    if cutout.wcs is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = cutout.wcs.all_world2pix([[ra, dec]], 0)[0]
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    if not (-0.5 <= x < cutout.width - 0.5 and -0.5 <= y < cutout.height - 0.5):
        return None
    return float(x), float(cutout.height - 1 - y if origin_lower(cutout) else y)


# Receiving --------------------------------------------------------------------------------


def read_table(url: str, table_format: str) -> Table:
    """The table at a file or loopback HTTP URL; CutoutError names the URL and the problem."""
    parsed = urlparse(url)
    try:
        if parsed.scheme == "file":
            source: Any = unquote(parsed.path)
        else:
            with urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response:
                source = io.BytesIO(response.read())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Table.read(source, format="votable" if table_format == "votable" else "fits")
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise CutoutError(url, f"cannot read the table ({error})") from None
    return table


def receive_table(table: Table, url: str, table_id: str, name: str, open_items: Sequence[CatalogItem]) -> ReceivedTable:
    """What a received table means: the cutouts its path column lists (as a new catalogue),
    else the open cutouts its RA/Dec columns match; CutoutError when it has neither."""
    columns = {column.lower(): column for column in table.colnames}
    path_column = next((columns[name] for name in PATH_COLUMNS if name in columns), None)
    if path_column is not None:
        return _catalogue_of_paths(table, url, table_id, name, path_column, columns)
    ra_column = next((columns[n] for n in RA_COLUMNS if n in columns), None) or _ucd_column(table, "pos.eq.ra")
    dec_column = next((columns[n] for n in DEC_COLUMNS if n in columns), None) or _ucd_column(table, "pos.eq.dec")
    if ra_column is None or dec_column is None:
        raise CutoutError(
            name,
            f"the table has neither a path column ({', '.join(PATH_COLUMNS)}) nor RA/Dec columns; "
            f"found: {', '.join(table.colnames[:12]) or 'none'}",
        )
    ra = _float_column(table[ra_column])
    dec = _float_column(table[dec_column])
    keys = match_positions(ra, dec, open_items)
    matched = sum(key is not None for key in keys)
    summary = (
        f"{name}: {matched} of {len(table)} rows matched open cutouts within {MATCH_RADIUS_ARCSEC:g}″"
        if open_items
        else f"{name}: {len(table)} rows with RA/Dec, but no cutouts are open to match them to"
    )
    return ReceivedTable(LinkedTable(table_id, url, name, tuple(keys)), None, summary)


def match_positions(ra: np.ndarray, dec: np.ndarray, items: Sequence[CatalogItem]) -> list[ItemKey | None]:
    """For each (ra, dec), the nearest open cutout with a known position within
    MATCH_RADIUS_ARCSEC, or None."""
    placed = [item for item in items if item.ra is not None and item.dec is not None]
    if not placed or len(ra) == 0:
        return [None] * len(ra)
    item_vectors = _unit_vectors(np.array([item.ra for item in placed]), np.array([item.dec for item in placed]))
    row_vectors = _unit_vectors(ra, dec)
    keys: list[ItemKey | None] = []
    limit = math.cos(math.radians(MATCH_RADIUS_ARCSEC / 3600.0))
    for vector in row_vectors:
        if not np.all(np.isfinite(vector)):
            keys.append(None)
            continue
        cosines = item_vectors @ vector
        best = int(np.argmax(cosines))
        keys.append(item_key(placed[best]) if cosines[best] >= limit else None)
    return keys


def _catalogue_of_paths(
    table: Table, url: str, table_id: str, name: str, path_column: str, columns: dict[str, str]
) -> ReceivedTable:
    parsed = urlparse(url)
    base = Path(unquote(parsed.path)).parent if parsed.scheme == "file" else Path.cwd()
    label_column = next((columns[n] for n in LABEL_COLUMNS if n in columns), None)
    ra_column = next((columns[n] for n in RA_COLUMNS if n in columns), None)
    dec_column = next((columns[n] for n in DEC_COLUMNS if n in columns), None)
    row_column = columns.get("row")
    catalog = Catalog(source=name)
    keys: list[ItemKey | None] = []
    for row_number, row in enumerate(table):
        text = _text(row[path_column])
        path = Path(text).expanduser() if text else None
        if path is not None and not path.is_absolute():
            path = base / path
        if path is None or not path.is_file():
            catalog.skipped.append((str(path or f"{name} row {row_number}"), "file not found"))
            keys.append(None)
            continue
        if format_from_name(path.name) not in {"fits", "jpeg", "png", "tiff", "hdf5"}:
            catalog.skipped.append((str(path), "not a supported image"))
            keys.append(None)
            continue
        index = _int_or_none(row[row_column]) if row_column is not None else None
        if format_from_name(path.name) == "hdf5" and index is None:
            catalog.skipped.append((str(path), "an HDF5 file needs a row column"))
            keys.append(None)
            continue
        item = CatalogItem(
            os.path.abspath(path),
            index=index if format_from_name(path.name) == "hdf5" else None,
            label=(_text(row[label_column]) or None) if label_column is not None else None,
            ra=_float_or_none(row[ra_column]) if ra_column is not None else None,
            dec=_float_or_none(row[dec_column]) if dec_column is not None else None,
        )
        catalog.items.append(item)
        keys.append(item_key(item))
    catalog.classes = list(dict.fromkeys(item.label for item in catalog.items if item.label))
    summary = f"{name}: {len(catalog.items)} of {len(table)} rows are cutouts"
    if catalog.skipped:
        summary += f" ({len(catalog.skipped)} skipped)"
    return ReceivedTable(LinkedTable(table_id, url, name, tuple(keys)), catalog, summary)


def _degrees(values: Sequence[float | None], unit: str) -> MaskedColumn:
    return MaskedColumn(
        [math.nan if value is None else float(value) for value in values],
        mask=[value is None for value in values],
        unit=unit,
    )


def _column_names(headers: Sequence[str]) -> list[str]:
    names: list[str] = []
    for header in headers:
        base = header.strip() or f"col{len(names) + 1}"
        name, number = base, 2
        while name in names:
            name, number = f"{base}_{number}", number + 1
        names.append(name)
    return names


def _cell_number(cell: str) -> float | None:
    text = cell.rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        return None


def _text(value: Any) -> str:
    if value is np.ma.masked:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, np.ma.MaskError):
        return None
    return number if math.isfinite(number) else None


def _int_or_none(value: Any) -> int | None:
    number = _float_or_none(value)
    return int(number) if number is not None and number >= 0 else None


def _float_column(column: Any) -> np.ndarray:
    values: Any = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
    return np.asarray(values, dtype=float)


def _ucd_column(table: Table, ucd: str) -> str | None:
    """A column marked with UCD `ucd` (pos.eq.ra;meta.main first), as TOPCAT and VizieR mark them."""
    marked = [name for name in table.colnames if ucd in str(table[name].meta.get("ucd", "")).lower()]
    main = [name for name in marked if "meta.main" in str(table[name].meta.get("ucd", "")).lower()]
    return (main or marked or [None])[0]


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    ra_rad, dec_rad = np.radians(np.asarray(ra, dtype=float)), np.radians(np.asarray(dec, dtype=float))
    return np.column_stack([np.cos(dec_rad) * np.cos(ra_rad), np.cos(dec_rad) * np.sin(ra_rad), np.sin(dec_rad)])
