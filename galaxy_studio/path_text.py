"""File names that are not valid UTF-8: stored without loss, written without loss, shown readably.

Linux lets a file name hold any bytes except "/" and NUL. Python hands a name whose bytes are not
UTF-8 over as a str with lone surrogates (PEP 383: the byte 0xFF becomes U+DCFF), which opens the
file again but cannot be encoded as UTF-8: SQLite, a UTF-8 CSV and a UTF-8 terminal all refuse it
with "surrogates not allowed". Such a path has three forms here:

- In the project database (`to_sql`, `from_sql`): the name's own bytes (`os.fsencode`) as a BLOB;
  every other path stays TEXT, so older projects and other SQLite tools read them as before.
- In text that is read back (CSV and JSON exports, the classify CSV): a `file:` URI (RFC 8089) of
  the absolute path with the bytes that are not UTF-8 percent-escaped, e.g.
  ``file:///data/gal%FF.png`` for the bytes ``/data/gal\\xff.png`` (`to_text`, `from_text`). Every
  other path is written as it is (but one that itself begins with "file://"), so files without
  such names do not change. Galaxy Studio's own readers take a `file://` URI wherever they take a
  path, and so read a file dropped from a file manager by its exact name (`path_of_file_url`).
- For people (messages, the GUI): each stray surrogate shown as U+FFFD, the replacement character
  (`readable`); the printed streams of the CLI do the same (`make_streams_readable`), so a message
  that names such a file never crashes the command that prints it.

JSON that only Galaxy Studio reads (run configs, records) needs none of this: `json.dumps` writes
a lone surrogate as the escape ``\\udcff`` and `json.loads` gives it back.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

_STRAY_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
READABLE_ERRORS = "galaxy-studio-readable"
_URI_START = "file://"


def is_text(path: str | os.PathLike[str]) -> bool:
    """Whether the path's name is valid Unicode text (then every text format holds it as it is)."""
    return _STRAY_SURROGATES.search(os.fspath(path)) is None


def readable(text: str | os.PathLike[str]) -> str:
    """`text` (a path, or a message naming one) with each byte that is not UTF-8 shown as U+FFFD."""
    return _STRAY_SURROGATES.sub(REPLACEMENT, os.fspath(text))


def to_sql(path: str | os.PathLike[str]) -> str | bytes:
    """The value that stores `path` in a TEXT column: itself, or its bytes when it is not text."""
    path = os.fspath(path)
    return path if is_text(path) else os.fsencode(path)


def from_sql(value: str | bytes) -> str:
    """The path that `to_sql` stored."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def to_text(path: str | os.PathLike[str]) -> str:
    """How `path` is written into a text file that is read back: as it is when it is text, else
    as the `file:` URI of its absolute path with the bytes that are not UTF-8 percent-escaped
    (so is a path that itself begins with "file:", which would otherwise read as a URI)."""
    path = os.fspath(path)
    if is_text(path) and not path.startswith(_URI_START):
        return path
    return Path(os.path.abspath(path)).as_uri()


def from_text(text: str) -> str:
    """The path that `to_text` wrote: a local `file://` URI becomes its path (percent-escapes
    decoded to the name's bytes); any other text is a path as it is."""
    if not text.startswith(_URI_START):
        return text
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost") or not parts.path:
        return text
    return os.fsdecode(unquote_to_bytes(parts.path))


def path_of_file_url(encoded: str, decoded: str) -> str:
    """The local path of a file URL dropped on the window. A GUI toolkit decodes the URL to
    text and turns a byte that is not UTF-8 into U+FFFD, another file's name; on POSIX the
    path is taken from the URL's percent-escaped bytes (`encoded`) instead, exactly. Elsewhere
    file names are Unicode already and the toolkit's reading (`decoded`) is used."""
    if os.name != "posix":
        return decoded
    path = from_text(encoded)
    return decoded if path.startswith("file:") else path


def _readable_error(error: UnicodeError) -> tuple[bytes, int]:
    """Codec error handler: what cannot be encoded is shown as U+FFFD (or "?" where the stream's
    own encoding has no U+FFFD). The replacement is given encoded, since the UTF-8 encoder
    takes only ASCII text back from a handler."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    try:
        mark = REPLACEMENT.encode(error.encoding)
    except (UnicodeError, LookupError):
        mark = b"?"
    return mark * (error.end - error.start), error.end


codecs.register_error(READABLE_ERRORS, _readable_error)


def make_streams_readable() -> None:
    """Let stdout and stderr print any path: what their encoding cannot hold is shown as U+FFFD
    instead of raising UnicodeEncodeError in the middle of a command (stdout) or as a "\\udcff"
    escape (stderr). Streams that pass such bytes through as they are (surrogateescape, Python's
    choice under the C locale) are left so."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) in ("strict", "backslashreplace"):
            reconfigure(errors=READABLE_ERRORS)
