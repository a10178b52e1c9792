"""Which cutout each row of a table shared over SAMP stands for.

Kept apart from the table readers and writers (which need astropy) because the window asks
it on every selection: row highlights must not load astropy before anything else does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from galaxy_studio.data.catalog import CatalogItem

ItemKey = tuple[str, int | None]


def item_key(item: CatalogItem) -> ItemKey:
    """A cutout's identity across catalogues: its file, and its row in an HDF5 file."""
    return (item.path, item.index)


@dataclass(frozen=True)
class LinkedTable:
    """A table shared over SAMP and the cutout each of its rows stands for (None: no cutout)."""

    table_id: str
    url: str
    name: str
    keys: tuple[ItemKey | None, ...]

    def matches(self, table_id: str, url: str) -> bool:
        return bool(table_id) and table_id == self.table_id or bool(url) and url == self.url

    def rows_of(self, key: ItemKey) -> list[int]:
        return [row for row, row_key in enumerate(self.keys) if row_key == key]

    def keys_of(self, rows: Sequence[int]) -> list[ItemKey]:
        """The cutouts of `rows`, in row order, without rows past the end or without a cutout."""
        found = (self.keys[row] for row in rows if 0 <= row < len(self.keys))
        return list(dict.fromkeys(key for key in found if key is not None))
