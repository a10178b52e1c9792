"""What SAMP applications tell Galaxy Studio, as small immutable events, and the checks that
turn a raw SAMP message into one of them.

A SAMP message is a dict of strings sent by another program; TOPCAT, DS9 and Aladin send
well-formed ones, but any client on the hub may send anything. `parse_message` therefore
checks every parameter the event needs and raises MalformedMessage naming what is wrong,
so the client can log a line, answer the sender with the reason and carry on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

TABLE_VOTABLE = "table.load.votable"
TABLE_FITS = "table.load.fits"
TABLE_HIGHLIGHT = "table.highlight.row"
TABLE_SELECT = "table.select.rowList"
POINT_AT_SKY = "coord.pointAt.sky"
IMAGE_FITS = "image.load.fits"
HUB_SHUTDOWN = "samp.hub.event.shutdown"
HUB_DISCONNECT = "samp.hub.disconnect"

RECEIVED_MTYPES = (TABLE_VOTABLE, TABLE_FITS, TABLE_HIGHLIGHT, TABLE_SELECT, POINT_AT_SKY)
HUB_MTYPES = (HUB_SHUTDOWN, HUB_DISCONNECT)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class MalformedMessage(ValueError):
    """A SAMP message Galaxy Studio cannot act on; the text says which parameter and why."""


@dataclass(frozen=True)
class HubConnected:
    """Registered with a hub; `hub` is where it listens."""

    hub: str


@dataclass(frozen=True)
class HubLost:
    """The hub went away (shut down, crashed, or dropped this client); `reason` in words."""

    reason: str


@dataclass(frozen=True)
class TableOffered:
    """Another application sent a table: `url` to read it from, its `table_id` (used again by
    row highlights) and a display `name`."""

    sender: str
    url: str
    table_id: str
    name: str
    format: str


@dataclass(frozen=True)
class RowsChosen:
    """Rows of a table were highlighted (one row) or selected (any number) elsewhere.

    Either `table_id` or `url` (or both) identify the table, as the SAMP MTypes allow."""

    sender: str
    table_id: str
    url: str
    rows: tuple[int, ...]


@dataclass(frozen=True)
class SkyPointed:
    """Another application points at a sky position (degrees, ICRS)."""

    sender: str
    ra: float
    dec: float


SampEvent = HubConnected | HubLost | TableOffered | RowsChosen | SkyPointed


def parse_message(sender: str, mtype: str, params: Any) -> TableOffered | RowsChosen | SkyPointed:
    """The event for one received message, or MalformedMessage saying what is wrong."""
    if not isinstance(params, dict):
        raise MalformedMessage(f"{mtype}: the parameters are not a map")
    if mtype in (TABLE_VOTABLE, TABLE_FITS):
        url = _local_url(params, "url")
        table_id = _text(params, "table-id", required=False) or url
        name = _text(params, "name", required=False) or _name_of(url)
        return TableOffered(sender, url, table_id, name, "votable" if mtype == TABLE_VOTABLE else "fits")
    if mtype == TABLE_HIGHLIGHT:
        table_id, url = _table_reference(params)
        return RowsChosen(sender, table_id, url, (_row(params.get("row"), "row"),))
    if mtype == TABLE_SELECT:
        table_id, url = _table_reference(params)
        rows = params.get("row-list")
        if not isinstance(rows, list):
            raise MalformedMessage(f"{mtype}: row-list is missing or not a list")
        return RowsChosen(sender, table_id, url, tuple(_row(value, "row-list") for value in rows))
    if mtype == POINT_AT_SKY:
        ra, dec = _number(params, "ra"), _number(params, "dec")
        if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0):
            raise MalformedMessage(f"{mtype}: ra={ra} dec={dec} is not a sky position")
        return SkyPointed(sender, ra, dec)
    raise MalformedMessage(f"{mtype}: not a message Galaxy Studio subscribes to")


def _text(params: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise MalformedMessage(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(f"{key} is not a string")
    return value


def _local_url(params: dict[str, Any], key: str) -> str:
    """A URL Galaxy Studio may read: a file, or HTTP served from this computer (TOPCAT serves
    tables it holds in memory that way). Anything else is refused: SAMP here is loopback only."""
    url = _text(params, key)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return url
    if parsed.scheme in ("http", "https") and parsed.hostname in LOOPBACK_HOSTS:
        return url
    raise MalformedMessage(f"{key}={url!r} is neither a file nor served from this computer")


def _table_reference(params: dict[str, Any]) -> tuple[str, str]:
    table_id = _text(params, "table-id", required=False)
    url = _text(params, "url", required=False)
    if not table_id and not url:
        raise MalformedMessage("neither table-id nor url says which table")
    return table_id, url


def _row(value: Any, key: str) -> int:
    """SAMP sends integers as strings; rows are 0-based."""
    try:
        row = int(str(value))
    except ValueError:
        raise MalformedMessage(f"{key}: {value!r} is not a row number") from None
    if row < 0:
        raise MalformedMessage(f"{key}: {row} is negative")
    return row


def _number(params: dict[str, Any], key: str) -> float:
    value = params.get(key)
    try:
        number = float(str(value))
    except ValueError:
        raise MalformedMessage(f"{key}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise MalformedMessage(f"{key}: {value!r} is not finite")
    return number


def _name_of(url: str) -> str:
    path = urlparse(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or url
